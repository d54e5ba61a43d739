//! cgroup v2: one directory per supervisor instance under the cgroup
//! initd itself runs in, and one per service below it, so that a stop
//! reaches every process a service started (`cgroup.kill`, or SIGKILL to
//! each member on kernels without it), the notify sender check is "is the
//! sender in the service's cgroup", and `memory.max` can bound a service.
//!
//! When cgroup2 is missing or not writable (an unprivileged user outside a
//! delegated subtree), [`Cgroups::setup`] fails and the caller falls back
//! to process groups.

use std::path::{Path, PathBuf};

/// The supervisor's cgroup subtree.
#[derive(Debug, Clone)]
pub struct Cgroups {
    base: PathBuf,
    /// Path of `base` relative to the cgroup2 root, as `/proc/PID/cgroup` shows it.
    rel: String,
    memory: bool,
    kill: bool,
}

/// Where cgroup2 is mounted, from `/proc/self/mountinfo`. `/sys/fs/cgroup`
/// wins when several are listed (the others may be hidden under it).
pub fn cgroup2_mount() -> Option<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mounts: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let fstype = right.split_whitespace().next()?;
            let point = left.split_whitespace().nth(4)?;
            (fstype == "cgroup2").then(|| PathBuf::from(unescape_mount(point)))
        })
        .collect();
    let preferred = Path::new("/sys/fs/cgroup");
    if mounts.iter().any(|m| m == preferred) {
        return Some(preferred.to_path_buf());
    }
    mounts.into_iter().next()
}

/// Undo mountinfo's octal escapes (`\040` for a space).
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// This process's cgroup v2 path (`0::/path` in `/proc/self/cgroup`).
fn own_cgroup() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.trim().to_string())
}

impl Cgroups {
    /// Create (or reuse) the subtree `<own cgroup>/<name>`.
    pub fn setup(name: &str) -> Result<Cgroups, String> {
        let mount = cgroup2_mount().ok_or("no cgroup2 filesystem is mounted")?;
        let own = own_cgroup().ok_or("this process is in no cgroup v2 hierarchy")?;
        let own_dir = mount.join(own.trim_start_matches('/'));
        let base = own_dir.join(name);
        match std::fs::create_dir(&base) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", base.display())),
        }
        // Writing a file proves delegation (mkdir alone can succeed on a
        // read-only-for-us tree in odd setups).
        if let Err(e) = std::fs::OpenOptions::new()
            .write(true)
            .open(base.join("cgroup.procs"))
        {
            let _ = std::fs::remove_dir(&base);
            return Err(format!(
                "cannot write {}: {e}",
                base.join("cgroup.procs").display()
            ));
        }
        // Make the memory controller available to service cgroups when we
        // may: at the root (exempt from the no-internal-process rule) or
        // when it is already enabled above us.
        let has = |dir: &Path, c: &str| {
            std::fs::read_to_string(dir.join("cgroup.controllers"))
                .map(|t| t.split_whitespace().any(|x| x == c))
                .unwrap_or(false)
        };
        if !has(&base, "memory") && has(&own_dir, "memory") {
            let _ = std::fs::write(own_dir.join("cgroup.subtree_control"), "+memory");
        }
        let memory = has(&base, "memory")
            && std::fs::write(base.join("cgroup.subtree_control"), "+memory").is_ok();
        let rel = format!("{}/{name}", own.trim_end_matches('/'));
        Ok(Cgroups {
            kill: base.join("cgroup.kill").exists(),
            base,
            rel,
            memory,
        })
    }

    /// The subtree's directory.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// Whether `memory.max` can be set on services.
    pub fn memory_available(&self) -> bool {
        self.memory
    }

    /// The directory of a service's cgroup.
    pub fn dir(&self, service: &str) -> PathBuf {
        self.base.join(service)
    }

    /// Create the service's cgroup and apply its memory limit.
    pub fn prepare(&self, service: &str, memory_max: Option<u64>) -> Result<PathBuf, String> {
        let dir = self.dir(service);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create cgroup {}: {e}", dir.display())),
        }
        if let Some(bytes) = memory_max {
            if self.memory {
                std::fs::write(dir.join("memory.max"), bytes.to_string())
                    .map_err(|e| format!("cannot set memory.max of {}: {e}", dir.display()))?;
            } else {
                tracing::warn!(
                    service,
                    "limits.memory is not enforced: the cgroup memory controller is not available here"
                );
            }
        }
        Ok(dir)
    }

    /// Pids currently in the service's cgroup.
    pub fn pids(&self, service: &str) -> Vec<u32> {
        std::fs::read_to_string(self.dir(service).join("cgroup.procs"))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Send `sig` to every process of the service.
    pub fn signal(&self, service: &str, sig: nix::sys::signal::Signal) {
        if sig == nix::sys::signal::Signal::SIGKILL
            && self.kill
            && std::fs::write(self.dir(service).join("cgroup.kill"), "1").is_ok()
        {
            return;
        }
        for pid in self.pids(service) {
            if let Ok(p) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), sig);
            }
        }
    }

    /// Whether `pid` is in the service's cgroup (or below it).
    pub fn contains(&self, service: &str, pid: u32) -> bool {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            return false;
        };
        let want = format!("{}/{service}", self.rel);
        text.lines()
            .find_map(|l| l.strip_prefix("0::"))
            .is_some_and(|p| p.trim() == want || p.trim().starts_with(&format!("{want}/")))
    }

    /// Kill what is left in the service cgroups, wait (briefly) for them
    /// to empty, and remove them and the subtree.
    pub fn remove_all(&self) {
        if let Ok(entries) = std::fs::read_dir(&self.base) {
            for e in entries.flatten() {
                if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    continue;
                }
                let dir = e.path();
                let populated = || {
                    std::fs::read_to_string(dir.join("cgroup.events"))
                        .is_ok_and(|t| t.contains("populated 1"))
                };
                if populated() {
                    if let Some(name) = dir.file_name().and_then(|n| n.to_str()) {
                        self.signal(name, nix::sys::signal::Signal::SIGKILL);
                    }
                    // SIGKILL is asynchronous: a dying process still counts.
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
                    while populated() && std::time::Instant::now() < deadline {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                }
                let _ = std::fs::remove_dir(&dir);
            }
        }
        let _ = std::fs::remove_dir(&self.base);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mount("/a\\040b"), "/a b");
        assert_eq!(unescape_mount("/plain"), "/plain");
        assert_eq!(unescape_mount("/trail\\"), "/trail\\");
    }
}
