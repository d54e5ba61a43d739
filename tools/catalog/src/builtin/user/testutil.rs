//! Test helpers: throwaway accounts that are always removed (a guard with
//! `Drop`, so a failing assertion still cleans up) and contexts acting
//! for them. Account changes are serialised: shadow-utils refuse to run
//! while another holds the database lock.

use crate::{Access, Identity, OutputSink, ToolCtx};

static ACCOUNTS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Hold while a test changes the account database (an async lock: tests
/// hold it across their awaits).
pub(crate) async fn accounts_lock() -> tokio::sync::MutexGuard<'static, ()> {
    ACCOUNTS.lock().await
}

/// A throwaway user `aiostest_<pid>_<tag>`, deleted (with its home and
/// crontab) on drop.
pub(crate) struct TempUser {
    pub name: String,
    pub uid: u32,
}

impl TempUser {
    /// Create one, or `None` (after printing why) when this host cannot:
    /// not root, or no `useradd`.
    pub fn create(tag: &str) -> Option<TempUser> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: creating a throwaway user needs root");
            return None;
        }
        let name = format!("aiostest_{}_{tag}", std::process::id());
        let st = std::process::Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", "--", &name])
            .status();
        match st {
            Ok(s) if s.success() => {}
            other => {
                eprintln!("skipped: useradd {name} failed: {other:?}");
                return None;
            }
        }
        let mut guard = TempUser { name, uid: 0 };
        let uid = nix::unistd::User::from_name(&guard.name)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw());
        guard.uid = uid.unwrap_or_else(|| panic!("{} was created but has no uid", guard.name));
        Some(guard)
    }

    /// A context acting for this user, with its kernel credentials.
    pub fn ctx(&self) -> ToolCtx {
        ToolCtx::new(
            tokio_util::sync::CancellationToken::new(),
            OutputSink::discard(),
            Access::as_user(Identity::lookup(self.uid)),
        )
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        let _ = std::process::Command::new("crontab")
            .args(["-r", "-u", &self.name])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::process::Command::new("userdel")
            .args(["-r", "-f", "--", &self.name])
            .stderr(std::process::Stdio::null())
            .status();
        // The primary group goes with the user (USERGROUPS_ENAB); make sure.
        let _ = std::process::Command::new("groupdel")
            .args(["--", &self.name])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// A throwaway group, deleted on drop.
pub(crate) struct TempGroup {
    pub name: String,
}

impl TempGroup {
    pub fn create(tag: &str) -> Option<TempGroup> {
        let name = format!("aiostestg_{}_{tag}", std::process::id());
        let ok = std::process::Command::new("groupadd")
            .args(["--", &name])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: groupadd {name} failed");
            return None;
        }
        Some(TempGroup { name })
    }
}

impl Drop for TempGroup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("groupdel")
            .args(["--", &self.name])
            .stderr(std::process::Stdio::null())
            .status();
    }
}
