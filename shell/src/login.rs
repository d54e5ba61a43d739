//! `aios` as a login shell: `aios -l`/`--login`, or started as `-aios`
//! (the leading dash is how `login`, `sshd` and getty mark a login shell).
//! A login shell takes the login environment first: what `/etc/profile`
//! and `~/.profile` export (`PATH`, locale, proxies), as `sh -l` would.
//!
//! aios does not interpret shell profiles itself: `/bin/sh -l` reads them
//! and prints its environment, which is applied to this process before any
//! thread starts. With `-c CMD` the command simply runs under `sh -l -c`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};

/// Marks where the environment starts in the profile shell's output, so
/// anything a profile prints (a motd, a greeting) is not taken for it.
const MARK: &[u8] = b"\0aios-login-environment\0";

/// Variables that describe the profile shell itself, not the login.
const SHELL_OWN: &[&str] = &["_", "PWD", "OLDPWD", "SHLVL"];

/// Whether this process should act as a login shell: `-l`/`--login`, or
/// an `argv[0]` starting with `-`.
pub fn wanted(flag: bool, argv0: Option<&OsStr>) -> bool {
    flag || argv0.is_some_and(|a| a.as_bytes().first() == Some(&b'-'))
}

/// The command that prints the login environment: `/bin/sh -l`, reading
/// the profiles, then the marker and `env -0`.
pub fn profile_shell() -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-l")
        .arg("-c")
        .arg(r"printf '\000aios-login-environment\000'; exec env -0")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    cmd
}

/// Run `cmd` (a [`profile_shell`]) and return the environment it printed;
/// an error says why (the profile failed, or printed no environment).
pub fn environment(mut cmd: Command) -> Result<Vec<(OsString, OsString)>, String> {
    let out = cmd
        .stdout(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run /bin/sh -l to read the login profile: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "reading the login profile with /bin/sh -l failed ({})",
            out.status
        ));
    }
    parse(&out.stdout).ok_or_else(|| "the login profile printed no environment".to_string())
}

/// The variables after [`MARK`] in `env -0` output.
fn parse(out: &[u8]) -> Option<Vec<(OsString, OsString)>> {
    let at = out.windows(MARK.len()).rposition(|w| w == MARK)? + MARK.len();
    Some(
        out[at..]
            .split(|b| *b == 0)
            .filter_map(|kv| {
                let eq = kv.iter().position(|b| *b == b'=')?;
                let (k, v) = (&kv[..eq], &kv[eq + 1..]);
                let keep = !k.is_empty() && !SHELL_OWN.iter().any(|s| s.as_bytes() == k);
                keep.then(|| {
                    (
                        OsStr::from_bytes(k).to_os_string(),
                        OsStr::from_bytes(v).to_os_string(),
                    )
                })
            })
            .collect(),
    )
}

/// Take the login environment into this process.
///
/// # Safety
/// Changes the process environment: call it before any other thread
/// exists (at the top of `main`, before the async runtime starts).
pub unsafe fn apply(vars: &[(OsString, OsString)]) {
    for (k, v) in vars {
        // SAFETY: the caller guarantees no other thread runs.
        unsafe { std::env::set_var(k, v) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dash_in_argv0_or_the_flag_makes_a_login_shell() {
        assert!(wanted(true, Some(OsStr::new("aios"))));
        assert!(wanted(false, Some(OsStr::new("-aios"))));
        assert!(!wanted(false, Some(OsStr::new("/usr/bin/aios"))));
        assert!(!wanted(false, None));
    }

    #[test]
    fn what_a_profile_prints_before_the_environment_is_not_taken() {
        let mut out = b"Welcome!\nPATH=/evil\n".to_vec();
        out.extend_from_slice(MARK);
        out.extend_from_slice(b"PATH=/opt/bin:/usr/bin\0LANG=C.UTF-8\0_=/usr/bin/env\0A=x=y\0");
        let vars = parse(&out).unwrap();
        let shown: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string_lossy().into(), v.to_string_lossy().into()))
            .collect();
        assert_eq!(
            shown,
            [
                ("PATH".into(), "/opt/bin:/usr/bin".into()),
                ("LANG".into(), "C.UTF-8".into()),
                ("A".into(), "x=y".into()),
            ]
        );
        assert_eq!(parse(b"no marker"), None);
    }

    /// The real `/bin/sh -l` reads `~/.profile`.
    #[test]
    fn the_profile_of_home_is_read_by_the_real_shell() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join(".profile"),
            "echo greeting from the profile\nexport AIOS_LOGIN_PROBE='from the profile'\n",
        )
        .unwrap();
        let mut cmd = profile_shell();
        cmd.env("HOME", home.path()).env_remove("ENV");
        let vars = environment(cmd).unwrap();
        let probe = vars
            .iter()
            .find(|(k, _)| k == "AIOS_LOGIN_PROBE")
            .map(|(_, v)| v.clone());
        assert_eq!(probe, Some(OsString::from("from the profile")));
        assert!(vars.iter().all(|(k, _)| k != "PWD" && k != "SHLVL"));

        let mut broken = profile_shell();
        std::fs::write(home.path().join(".profile"), "exit 3\n").unwrap();
        broken.env("HOME", home.path());
        let err = environment(broken).unwrap_err();
        assert!(err.contains("failed"), "{err}");
    }
}
