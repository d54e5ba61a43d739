//! `service.status`: the state of a service from the host's service manager
//! (systemd today; the aiOS initd backend comes later), plus the processes
//! whose name matches, found through `/proc` so the answer is useful even
//! without a manager.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::command::run_command;
use crate::procfs::{self, UserNames};
use crate::util::{human_bytes, truncate};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `service.status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceStatus;

/// A service name that is safe to pass to a manager: letters, digits and
/// `@._:-`, not starting with `-` (it would read as an option).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceName(String);

impl From<ServiceName> for String {
    fn from(n: ServiceName) -> String {
        n.0
    }
}

impl TryFrom<String> for ServiceName {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() || s.len() > 256 {
            return Err("a service name must be 1 to 256 characters".into());
        }
        if s.starts_with('-') {
            return Err(format!("service name {s:?} must not start with '-'"));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "@._:-".contains(*c)))
        {
            return Err(format!(
                "service name {s:?} contains {c:?}; only letters, digits and @ . _ : - are allowed"
            ));
        }
        Ok(ServiceName(s))
    }
}

impl ServiceName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name without a `.service` suffix, for matching processes.
    fn base(&self) -> &str {
        self.0.strip_suffix(".service").unwrap_or(&self.0)
    }
}

/// Arguments of `service.status`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceStatusArgs {
    /// Service name, e.g. nginx or ssh.service.
    #[schemars(with = "String")]
    pub name: ServiceName,
}

const SYSTEMD_PROPS: &str = "Id,Description,LoadState,ActiveState,SubState,MainPID,ExecMainStartTimestamp,\
UnitFileState,FragmentPath,Result,NRestarts,MemoryCurrent";

/// A process whose name matches the service.
#[derive(Debug, Clone, Serialize)]
pub struct MatchingProcess {
    /// Process id.
    pub pid: u32,
    /// Owner.
    pub user: String,
    /// State letter.
    pub state: char,
    /// Command line (truncated).
    pub cmdline: String,
    /// Resident memory, human.
    pub rss: String,
}

/// Parse `systemctl show` output (`Key=Value` lines).
pub fn parse_show(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .filter(|(_, v)| !v.is_empty() && *v != "[not set]")
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Whether a process with short name `comm` and command line `cmdline`
/// looks like service `base`: same name, the kernel's 15-byte cut of it,
/// or the basename of argv[0] (with a `name:` title stripped).
pub fn process_matches(base: &str, comm: &str, cmdline: &str) -> bool {
    let argv0 = cmdline.split_whitespace().next().unwrap_or("");
    let argv0 = Path::new(argv0)
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .trim_end_matches(':');
    comm == base || argv0 == base || (base.len() > 15 && comm.len() == 15 && base.starts_with(comm))
}

fn matching_processes(ctx: &ToolCtx, base: &str) -> Result<Vec<MatchingProcess>, ToolError> {
    let mut names = UserNames::default();
    let page = procfs::page_size();
    let mut out = Vec::new();
    for pid in procfs::pids() {
        ctx.check_cancelled()?;
        let Some(p) = procfs::read_process(pid) else {
            continue;
        };
        if process_matches(base, &p.stat.comm, &p.cmdline) {
            out.push(MatchingProcess {
                pid,
                user: names.name(p.uid),
                state: p.stat.state,
                cmdline: truncate(&p.cmdline, 200),
                rss: human_bytes(p.stat.rss_pages * page),
            });
        }
    }
    out.sort_by_key(|p| p.pid);
    out.truncate(50);
    Ok(out)
}

impl Tool for ServiceStatus {
    type Args = ServiceStatusArgs;

    fn name(&self) -> &'static str {
        "service.status"
    }

    fn description(&self) -> &'static str {
        "Status of a service: from the service manager when one is running (load and active state, main pid, \
         start time, restarts, memory), plus the running processes whose name matches the service."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Service]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "is nginx running?",
                args: r#"{"name": "nginx"}"#,
            },
            Example {
                request: "status of sshd",
                args: r#"{"name": "ssh"}"#,
            },
            Example {
                request: "did the cron service fail",
                args: r#"{"name": "cron"}"#,
            },
        ]
    }

    fn resources(&self, args: &ServiceStatusArgs) -> Vec<Resource> {
        vec![Resource::Service(args.name.as_str().to_string())]
    }

    fn preview(&self, args: &ServiceStatusArgs) -> String {
        format!("show the status of service {}", args.name.as_str())
    }

    async fn run(&self, ctx: ToolCtx, args: ServiceStatusArgs) -> Result<Value, ToolError> {
        let name = args.name.clone();
        let base = name.base().to_string();
        let procs = ctx
            .blocking(move |ctx| matching_processes(&ctx, &base))
            .await?;
        let mut v = serde_json::json!({
            "name": name.as_str(),
            "processes": procs,
        });
        // aiOS's own supervisor first: PID 1 on the image, `initd --user`
        // for the daemon set in development mode.
        let managed = match ctx.supervisor() {
            Some(sup) => sup.status(name.as_str()).await.map_err(ToolError::failed)?,
            None => None,
        };
        let nprocs = v["processes"].as_array().map_or(0, Vec::len);
        if let Some(state) = managed {
            v["summary"] = Value::from(format!(
                "{}: {} (initd), {}",
                name.as_str(),
                state.state,
                if state.enabled {
                    "enabled at boot"
                } else {
                    "disabled at boot"
                }
            ));
            v["manager"] = Value::from("initd");
            v["found"] = Value::from(true);
            v["unit"] = super::to_value(&state)?;
            return Ok(v);
        }
        if Path::new("/run/systemd/system").exists() {
            let props = format!("--property={SYSTEMD_PROPS}");
            let out = run_command(
                &ctx,
                "systemctl",
                &["show", name.as_str(), &props, "--no-pager"],
                Duration::from_secs(5),
                64 * 1024,
            )
            .await?;
            if out.code != Some(0) {
                return Err(ToolError::failed(format!(
                    "systemctl show {} failed: {}",
                    name.as_str(),
                    truncate(out.stderr.trim(), 500)
                )));
            }
            let show = parse_show(&out.stdout);
            let get = |k: &str| show.get(k).map_or("unknown", String::as_str);
            v["summary"] = Value::from(if get("LoadState") == "not-found" {
                format!(
                    "systemd has no unit {}; {nprocs} matching processes",
                    name.as_str()
                )
            } else {
                format!(
                    "{}: {} ({}) (systemd), {} at boot",
                    name.as_str(),
                    get("ActiveState"),
                    get("SubState"),
                    get("UnitFileState")
                )
            });
            v["manager"] = Value::from("systemd");
            v["found"] = Value::from(show.get("LoadState").is_some_and(|s| s != "not-found"));
            v["unit"] = super::to_value(&show)?;
        } else {
            v["summary"] = Value::from(format!(
                "no service manager knows {}; {nprocs} processes match the name",
                name.as_str()
            ));
            v["manager"] = Value::Null;
            v["note"] = Value::from(
                "no service manager knows this service: aiOS initd does not manage it (or is not running) and \
                 systemd is not running on this host; the processes below match the name",
            );
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    #[test]
    fn names_are_validated() {
        for ok in ["nginx", "ssh.service", "getty@tty1.service", "a_b-c:d"] {
            assert!(ServiceName::try_from(ok.to_string()).is_ok(), "{ok}");
        }
        for bad in ["", "-H", "a;b", "a b", "$(x)", "a/b", "x|y", "`x`"] {
            assert!(ServiceName::try_from(bad.to_string()).is_err(), "{bad}");
        }
        let e = Registry::builtin()
            .prepare("service.status", serde_json::json!({"name": "--help"}))
            .unwrap_err();
        assert!(
            e.message().contains("`name`") && e.message().contains("'-'"),
            "{e}"
        );
        let e = Registry::builtin()
            .prepare("service.status", serde_json::json!({"name": "x; rm -rf /"}))
            .unwrap_err();
        assert!(e.message().contains("`name`"), "{e}");
    }

    #[test]
    fn show_output_parses() {
        let m = parse_show(
            "Id=nginx.service\nActiveState=active\nMainPID=42\nExecMainStartTimestamp=\nMemoryCurrent=[not set]\n",
        );
        assert_eq!(m["ActiveState"], "active");
        assert_eq!(m["MainPID"], "42");
        assert!(!m.contains_key("ExecMainStartTimestamp"));
        assert!(!m.contains_key("MemoryCurrent"));
    }

    #[test]
    fn process_matching_rules() {
        assert!(process_matches(
            "nginx",
            "nginx",
            "nginx: master process /usr/sbin/nginx"
        ));
        assert!(process_matches("sshd", "sshd", "/usr/sbin/sshd -D"));
        assert!(process_matches("nginx", "nginx", ""));
        assert!(!process_matches("ssh", "sshd", "/usr/sbin/sshd"));
        assert!(process_matches("systemd-journald", "systemd-journal", ""));
    }

    #[tokio::test]
    async fn finds_a_running_process_by_name() {
        // A real process named `sleep`, reported whether or not a manager runs.
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let v = Registry::builtin()
            .prepare("service.status", serde_json::json!({"name": "sleep"}))
            .unwrap()
            .run(ToolCtx::local())
            .await;
        child.kill().unwrap();
        child.wait().unwrap();
        let v = v.unwrap();
        assert!(
            v["processes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["pid"] == child.id()),
            "{v}"
        );
        assert!(v["summary"].as_str().unwrap().contains("sleep"), "{v}");
        if !Path::new("/run/systemd/system").exists() {
            assert!(v["manager"].is_null());
            assert!(
                v["note"]
                    .as_str()
                    .unwrap()
                    .contains("no service manager knows this service"),
                "{v}"
            );
        } else {
            assert_eq!(v["manager"], "systemd");
        }
    }
}
