//! `aios doctor`: what is configured, which daemons answer, which
//! providers are reachable, and what protects the daemons (directory and
//! socket modes, the users they run as, Landlock). It starts nothing.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use aios_config::{Daemon, Paths};
use aios_proto::ModelClient;

use crate::cli::Cli;
use crate::exit::{Exit, Failure};
use crate::printer;
use crate::probe::ping;

/// Run the checks and print a report; exit 4 when a daemon is down.
pub async fn run(cli: &Cli) -> Result<Exit, Failure> {
    let config = aios_config::load(&cli.overrides())?;
    let paths = Paths::resolve(&config);
    let mut report = String::new();
    let line = |r: &mut String, s: String| {
        r.push_str(&s);
        r.push('\n');
    };
    line(&mut report, "configuration".into());
    line(
        &mut report,
        format!(
            "  provider      {}{}",
            config.model.provider,
            config
                .model
                .model
                .as_deref()
                .map(|m| format!(" (model {m})"))
                .unwrap_or_default()
        ),
    );
    if !config.model.fallback.is_empty() {
        line(
            &mut report,
            format!("  fallback      {}", config.model.fallback.join(" → ")),
        );
    }
    let b = &config.budget;
    if b.session_usd.is_some() || b.day_usd.is_some() {
        let usd = |v: Option<f64>| v.map_or_else(|| "none".to_string(), |v| format!("${v:.2}"));
        line(
            &mut report,
            format!(
                "  budget        session {}, day {} (then → {})",
                usd(b.session_usd),
                usd(b.day_usd),
                b.fallback
            ),
        );
    }
    let sources = aios_config::Sources::default();
    for f in [
        Some(sources.system_file),
        sources.user_file,
        cli.config.clone(),
    ]
    .into_iter()
    .flatten()
    {
        let state = if f.exists() { "loaded" } else { "absent" };
        line(
            &mut report,
            format!("  config file   {} ({state})", f.display()),
        );
    }
    line(
        &mut report,
        format!("  runtime dir   {}", paths.runtime_dir.display()),
    );
    line(
        &mut report,
        format!("  state dir     {}", paths.state_dir.display()),
    );
    line(
        &mut report,
        format!("  logs          {}", paths.log_dir().display()),
    );
    line(&mut report, "daemons".into());
    let mut all_up = true;
    let mut pids = Vec::new();
    for d in Daemon::ALL {
        match ping(&paths.socket(d)).await {
            Ok(p) => {
                pids.push((d, p.pid));
                line(
                    &mut report,
                    format!(
                        "  {:<9} up    pid {} v{} uptime {}s (sees you as uid {}{})",
                        d.name(),
                        p.pid,
                        p.version,
                        p.uptime_ms / 1000,
                        p.caller_uid,
                        if p.caller_admin { ", admin" } else { "" }
                    ),
                );
            }
            Err(_) => {
                all_up = false;
                line(
                    &mut report,
                    format!(
                        "  {:<9} down  (no answer on {})",
                        d.name(),
                        paths.socket(d).display()
                    ),
                );
            }
        }
    }
    line(&mut report, "providers".into());
    match aios_proto::connect(&paths.socket(Daemon::Gatewayd)).await {
        Ok(ch) => match ModelClient::new(ch).providers(true).await {
            Ok(list) => {
                for p in list {
                    let state = match (p.configured, p.reachable) {
                        (false, _) => "not configured",
                        (true, true) => "reachable",
                        (true, false) => "unreachable",
                    };
                    line(
                        &mut report,
                        format!(
                            "  {:<10}{} {:<15} {} {}{}",
                            p.name,
                            if p.is_default { "*" } else { " " },
                            state,
                            p.model,
                            p.base_url,
                            if p.detail.is_empty() {
                                String::new()
                            } else {
                                format!(" — {}", p.detail)
                            }
                        ),
                    );
                }
            }
            Err(e) => line(
                &mut report,
                format!("  cannot ask the gateway: {}", e.message),
            ),
        },
        Err(_) => line(
            &mut report,
            "  unknown: gatewayd is down (start the daemons with `aios daemons start`)".into(),
        ),
    }
    report.push_str(&local_model(&config));
    report.push_str(&acting(&paths).await);
    report.push_str(&protection(&paths, &pids));
    let _ = write!(printer::stdout(), "{report}");
    Ok(if all_up {
        Exit::Success
    } else {
        Exit::DaemonUnavailable
    })
}

/// Which local model file the runtime loads, or exactly how to get one.
fn local_model(config: &aios_config::Config) -> String {
    let dirs = aios_models::model_dirs();
    let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let state = match aios_models::locate(config.local_model_path().as_deref(), None, &dirs) {
        Ok(l) => {
            let size = std::fs::metadata(&l.path).map(|m| m.len()).unwrap_or(0);
            let check = match l.spec {
                Some(s) if s.size == size => ", size matches the pinned sha256's file",
                Some(_) => ", WRONG SIZE: pull it again",
                None => ", not in the catalogue",
            };
            format!(
                "  {} ({} bytes{check})\n  file          {}",
                l.name,
                size,
                l.path.display()
            )
        }
        Err(e) => format!("  missing: {e}"),
    };
    format!(
        "local model\n{state}\n  searched      {}\n",
        shown.join(", ")
    )
}

/// What toolsd enforces when it acts: the audit ledger, the policy files
/// and the sandbox's features, as toolsd itself reports them (it runs with
/// other rights than this shell, so only it can say).
async fn acting(paths: &Paths) -> String {
    let mut r = String::from("acting (toolsd)\n");
    let status = match aios_proto::connect(&paths.socket(Daemon::Toolsd)).await {
        Ok(ch) => aios_proto::ToolsClient::new(ch)
            .policy(aios_proto::PolicyQuestion::Status)
            .await
            .map_err(|e| e.message),
        Err(e) => Err(e.to_string()),
    };
    let v = match status {
        Ok(v) => v,
        Err(e) => {
            r.push_str(&format!("  unknown: toolsd does not answer ({e})\n"));
            return r;
        }
    };
    let l = &v["ledger"];
    r.push_str(&match l["available"].as_bool() {
        Some(true) => format!(
            "  ledger        {} (open)\n",
            l["path"].as_str().unwrap_or("?")
        ),
        _ => format!(
            "  ledger        UNAVAILABLE: {} — every change is refused\n",
            l["error"].as_str().unwrap_or("unknown")
        ),
    });
    for which in ["system", "user"] {
        let f = &v["policy"][which];
        if let Some(p) = f["path"].as_str() {
            let state = if f["exists"].as_bool() == Some(true) {
                "loaded"
            } else {
                "absent: defaults apply"
            };
            r.push_str(&format!("  policy ({which:<6}) {p} ({state})\n"));
        }
    }
    if let Some(e) = v["policy"]["error"].as_str() {
        r.push_str(&format!(
            "  policy BROKEN: {e} — changes are refused until it is fixed\n"
        ));
    }
    let sb = &v["sandbox"];
    let missing: Vec<&str> = sb["missing"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    if missing.is_empty() {
        r.push_str(&format!(
            "  sandbox       enforced: namespaces, read-only root, Landlock ABI {}, seccomp, rlimits\n",
            sb["landlock_abi"]
        ));
    } else {
        r.push_str("  sandbox       NOT fully enforced:\n");
        for m in missing {
            r.push_str(&format!("    - {m}\n"));
        }
    }
    r
}

/// What is enforced, as far as this process can see: whether the runtime
/// and state directories are private (or, for the system's runtime
/// directory, shared with the sticky bit), each socket's mode and owner,
/// the user each daemon runs as, and whether the kernel offers Landlock,
/// with which the daemons confine themselves at start.
fn protection(paths: &Paths, pids: &[(Daemon, u32)]) -> String {
    let mut r = String::from("protection\n");
    r.push_str(&format!(
        "  runtime dir   {}\n",
        dir_state(&paths.runtime_dir, true)
    ));
    r.push_str(&format!(
        "  state dir     {}\n",
        dir_state(&paths.state_dir, false)
    ));
    for d in Daemon::ALL {
        let sock = paths.socket(d);
        let state = match std::fs::symlink_metadata(&sock) {
            Ok(m) => format!(
                "{:04o} {}:{}",
                m.mode() & 0o7777,
                user_name(m.uid()),
                group_name(m.gid())
            ),
            Err(_) => "absent".into(),
        };
        let runs_as = pids
            .iter()
            .find(|(p, _)| *p == d)
            .and_then(|(_, pid)| proc_uid(*pid))
            .map(|uid| format!(", runs as {} (uid {uid})", user_name(uid)))
            .unwrap_or_default();
        r.push_str(&format!("  {:<9}     socket {state}{runs_as}\n", d.name()));
    }
    r.push_str(
        "  callers       every daemon checks the caller's uid and groups from the kernel (SO_PEERCRED)\n",
    );
    r.push_str(&format!("  landlock      {}\n", landlock_state()));
    r.push_str("  apparmor      none (not in the kernel's LSM list)\n");
    r
}

/// A directory's protection in one line: private to you, private to the
/// daemons' user (the image's state directory), a shared socket directory
/// with the sticky bit, or what is wrong and how to fix it.
fn dir_state(dir: &Path, sockets: bool) -> String {
    let shown = dir.display();
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return format!("{shown}: absent (created private when the daemons start)");
        }
        Err(e) => return format!("{shown}: cannot inspect: {e}"),
    };
    let private = match aios_config::check_private_dir(dir) {
        Ok(()) => return format!("{shown}: private to you (mode 0700)"),
        Err(e) => e,
    };
    let (mode, owner, group) = (
        meta.mode() & 0o7777,
        user_name(meta.uid()),
        group_name(meta.gid()),
    );
    if private.kind() == aios_config::PathErrorKind::NotOwned && meta.is_dir() && mode & 0o077 == 0
    {
        return format!("{shown}: private to {owner} (mode {mode:04o})");
    }
    if sockets && aios_config::check_socket_dir(dir).is_ok() {
        return format!(
            "{shown}: shared ({mode:04o} {owner}:{group}); the sticky bit keeps each socket its owner's"
        );
    }
    format!("UNSAFE {private}")
}

/// The kernel's Landlock ABI version, when it has Landlock.
fn landlock_abi() -> Option<i64> {
    // LANDLOCK_CREATE_RULESET_VERSION (flag 1) returns the ABI version.
    // SAFETY: the version query reads no memory and changes nothing.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    (abi >= 1).then_some(abi)
}

fn landlock_state() -> String {
    match landlock_abi() {
        Some(abi) => format!(
            "the kernel enforces Landlock (ABI {abi}): each daemon but toolsd confines itself to its own files at start (its log says \"landlock: enforced\"; toolsd's says \"not applied\": its exec sandbox must mount, which Landlock forbids beneath a confined process)"
        ),
        None => "NOT ENFORCED: the kernel has no Landlock, so the daemons run unconfined (only file permissions and separate users protect them)".into(),
    }
}

/// The real uid of process `pid`, from `/proc/<pid>/status`.
fn proc_uid(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string())
}

fn group_name(gid: u32) -> String {
    nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
        .unwrap_or_else(|| gid.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn directories_are_reported_private_shared_or_unsafe_with_the_fix() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("aios");
        assert!(dir_state(&dir, true).contains("absent"));
        // The image's state directory: the service user's, 0700.
        aios_config::private_dir(&dir).unwrap();
        nix::unistd::chown(&dir, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        assert!(
            dir_state(&dir, false).contains("private to nobody (mode 0700)"),
            "{}",
            dir_state(&dir, false)
        );
        nix::unistd::chown(&dir, Some(nix::unistd::Uid::from_raw(0)), None).unwrap();
        aios_config::private_dir(&dir).unwrap();
        assert!(dir_state(&dir, true).contains("private to you"));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1771)).unwrap();
        assert!(
            dir_state(&dir, true).contains("shared (1771"),
            "{}",
            dir_state(&dir, true)
        );
        let state = dir_state(&dir, false);
        assert!(
            state.starts_with("UNSAFE") && state.contains("chmod 700"),
            "{state}"
        );
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(dir_state(&dir, true).starts_with("UNSAFE"));
    }

    #[test]
    fn the_report_names_landlock_and_the_daemon_users() {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths {
            runtime_dir: t.path().to_path_buf(),
            state_dir: t.path().join("state"),
            system_policy: std::path::PathBuf::from("/nonexistent/policy.toml"),
        };
        let r = protection(&paths, &[(Daemon::Aiosd, std::process::id())]);
        assert!(r.contains("landlock"), "{r}");
        assert!(r.contains("runs as root (uid 0)"), "{r}");
        assert!(r.contains("SO_PEERCRED"), "{r}");
    }
}
