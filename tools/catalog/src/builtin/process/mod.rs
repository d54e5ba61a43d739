//! The `process.*` tools beyond `process.list`, one file each, and what
//! they share: a fuller reading of `/proc/<pid>/stat` than
//! [`crate::procfs::ProcStat`] (flags, nice, threads), start times, and
//! [`pin`]: acting on exactly the process that was assessed.

mod find;
mod info;
mod nice;
pub(crate) mod pin;
mod signal;
mod tree;

use std::collections::HashMap;

pub use find::ProcessFind;
pub use info::ProcessInfo;
pub use nice::ProcessNice;
pub use signal::ProcessSignal;
pub use tree::ProcessTree;

use crate::ToolError;
use crate::procfs;
use crate::util::rfc3339;

/// `PF_KTHREAD` in the stat flags: a kernel thread, which has no user
/// space to signal.
const PF_KTHREAD: u64 = 0x0020_0000;

/// One process as these tools read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    /// Process id.
    pub pid: u32,
    /// Short name (`comm`).
    pub comm: String,
    /// State letter.
    pub state: char,
    /// Parent pid (0 for pid 1 and kthreadd).
    pub ppid: u32,
    /// Kernel `PF_*` flags.
    pub flags: u64,
    /// User plus system CPU time, clock ticks.
    pub cpu_ticks: u64,
    /// Nice value, -20 to 19.
    pub nice: i32,
    /// Threads.
    pub threads: u32,
    /// Start time after boot, clock ticks: with the pid, names one process
    /// for the life of the system.
    pub start_ticks: u64,
    /// Resident set, pages.
    pub rss_pages: u64,
}

impl Proc {
    /// Whether this is a kernel thread.
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & PF_KTHREAD != 0 || self.pid == 2 || self.ppid == 2
    }
}

/// Parse a whole `/proc/<pid>/stat` line. Fields after `comm` are found
/// from the last `)`, since `comm` may hold spaces and parentheses.
pub fn parse_stat(text: &str) -> Option<Proc> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    let f = |n: usize| rest.get(n - 3).and_then(|s| s.parse::<u64>().ok());
    Some(Proc {
        pid: text[..open].trim().parse().ok()?,
        comm: text.get(open + 1..close)?.to_string(),
        state: rest.first()?.chars().next()?,
        ppid: u32::try_from(f(4)?).ok()?,
        flags: f(9)?,
        cpu_ticks: f(14)? + f(15)?,
        nice: rest.get(19 - 3)?.parse().ok()?,
        threads: u32::try_from(f(20)?).ok()?,
        start_ticks: f(22)?,
        rss_pages: f(24)?,
    })
}

/// Read one process's stat; `None` when it does not exist (any more).
pub fn read_stat(pid: u32) -> Option<Proc> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process's stat, by pid.
pub fn all_stats() -> HashMap<u32, Proc> {
    procfs::pids()
        .into_iter()
        .filter_map(read_stat)
        .map(|p| (p.pid, p))
        .collect()
}

/// The direct children of `pid`, from `/proc/<pid>/task/*/children` (one
/// small file per thread, instead of every process's stat); a scan of
/// the whole table where the kernel lacks those files.
pub fn children_of(pid: u32) -> Vec<u32> {
    let from_tasks = || -> Option<Vec<u32>> {
        let mut kids = Vec::new();
        for t in std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .flatten()
        {
            let text = std::fs::read_to_string(t.path().join("children")).ok()?;
            kids.extend(
                text.split_whitespace()
                    .filter_map(|k| k.parse::<u32>().ok()),
            );
        }
        Some(kids)
    };
    let mut kids = from_tasks().unwrap_or_else(|| {
        all_stats()
            .into_values()
            .filter(|p| p.ppid == pid)
            .map(|p| p.pid)
            .collect()
    });
    kids.sort_unstable();
    kids.dedup();
    kids
}

/// The real uid of `pid`.
pub fn uid_of(pid: u32) -> Option<u32> {
    procfs::parse_status_uid(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// The command line of `pid`, arguments joined by spaces (empty for
/// kernel threads and zombies).
pub fn cmdline_of(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Boot time, Unix seconds (`btime` of `/proc/stat`).
pub fn boot_time() -> Option<i64> {
    std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// A start time in ticks after boot as RFC 3339 UTC.
pub fn start_time_text(start_ticks: u64) -> Option<String> {
    let secs = i64::try_from(start_ticks / procfs::clock_ticks()).ok()?;
    Some(rfc3339(boot_time()? + secs))
}

/// The state letter in words.
pub fn state_word(c: char) -> &'static str {
    match c {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk sleep",
        'Z' => "zombie",
        'T' => "stopped",
        't' => "tracing stop",
        'I' => "idle",
        'X' => "dead",
        _ => "unknown",
    }
}

/// A user given by login name or numeric uid, as a uid.
pub fn resolve_user(user: &str) -> Result<u32, ToolError> {
    if let Ok(uid) = user.parse::<u32>() {
        return Ok(uid);
    }
    nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw())
        .ok_or_else(|| {
            ToolError::not_found(format!(
                "field `user`: no user named {user:?} on this system"
            ))
        })
}

/// A process that must exist, or a clear error naming it.
pub fn must_exist(pid: u32) -> Result<Proc, ToolError> {
    read_stat(pid).ok_or_else(|| {
        ToolError::not_found(format!(
            "no process with pid {pid} (it may have exited); process.find or process.list show what runs"
        ))
    })
}

/// Test support: a child process that sleeps until killed, reaped when
/// dropped.
#[cfg(test)]
pub(crate) mod testchild {
    use std::process::{Child, Command};

    /// A sleeping child and the pids of its own children.
    pub struct Sleeper(pub Child, Vec<u32>);

    impl Sleeper {
        /// `sleep 300`, or with `children`, a shell that starts that many
        /// sleeping children of its own and waits.
        pub fn start(children: usize) -> Sleeper {
            let child = if children == 0 {
                Command::new("sleep").arg("300").spawn()
            } else {
                let script = "for i in $(seq 1 \"$1\"); do sleep 300 & done; wait".to_string();
                Command::new("sh")
                    .args(["-c", &script, "sh", &children.to_string()])
                    .spawn()
            }
            .unwrap();
            let mut s = Sleeper(child, Vec::new());
            // Wait (by condition, bounded) until the children exist.
            let pid = s.pid();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                s.1 = super::all_stats()
                    .values()
                    .filter(|p| p.ppid == pid && p.comm == "sleep")
                    .map(|p| p.pid)
                    .collect();
                if s.1.len() >= children {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "children did not start"
                );
                std::thread::yield_now();
            }
            s
        }

        /// Its pid.
        pub fn pid(&self) -> u32 {
            self.0.id()
        }
    }

    impl Drop for Sleeper {
        fn drop(&mut self) {
            // Its own children first (orphaned ones too: still `sleep`).
            for &kid in &self.1 {
                if super::read_stat(kid).is_some_and(|p| p.comm == "sleep") {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(kid as i32),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parses_flags_nice_and_threads() {
        let line = "1234 (my (weird) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 -5 3 0 9999 1000000 321 18446744073709551615";
        let p = parse_stat(line).unwrap();
        assert_eq!(p.pid, 1234);
        assert_eq!(p.comm, "my (weird) proc");
        assert_eq!(p.flags, 4_194_560);
        assert_eq!(p.cpu_ticks, 300);
        assert_eq!(p.nice, -5);
        assert_eq!(p.threads, 3);
        assert_eq!(p.start_ticks, 9999);
        assert_eq!(p.rss_pages, 321);
        assert!(!p.is_kernel_thread());
        assert!(parse_stat("nonsense").is_none());
    }

    #[test]
    fn live_self_and_kernel_threads() {
        let me = read_stat(std::process::id()).unwrap();
        assert!(!me.is_kernel_thread());
        assert!(me.threads >= 1);
        assert!(start_time_text(me.start_ticks).unwrap().ends_with('Z'));
        // kthreadd is pid 2 wherever the pid namespace is the host's.
        if let Some(k) = read_stat(2).filter(|p| p.comm == "kthreadd") {
            assert!(k.is_kernel_thread());
        }
        assert!(must_exist(u32::MAX / 2).is_err());
        let s = testchild::Sleeper::start(2);
        let scan: Vec<u32> = {
            let mut v: Vec<u32> = all_stats()
                .into_values()
                .filter(|p| p.ppid == s.pid())
                .map(|p| p.pid)
                .collect();
            v.sort_unstable();
            v
        };
        assert_eq!(children_of(s.pid()), scan);
        assert_eq!(scan.len(), 2);
    }
}
