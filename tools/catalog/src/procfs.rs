//! Parsers for the `/proc` files the tools read. Each parser takes the file
//! text, so it is tested on fixed samples as well as on the live system.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Device `major:minor`.
    pub device: String,
    /// Where it is mounted (escapes decoded).
    pub mount_point: PathBuf,
    /// Filesystem type.
    pub fs_type: String,
    /// Mount source (device path or pseudo name).
    pub source: String,
    /// Per-mount options (`rw`, `noatime`…).
    pub options: String,
}

/// Parse mountinfo text, skipping malformed lines.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            if pre.len() < 6 || post.len() < 2 {
                return None;
            }
            Some(Mount {
                device: pre[2].to_string(),
                mount_point: PathBuf::from(unescape_octal(pre[4])),
                options: pre[5].to_string(),
                fs_type: post[0].to_string(),
                source: unescape_octal(post[1]),
            })
        })
        .collect()
}

/// The mounts of this process's mount namespace.
pub fn mounts() -> std::io::Result<Vec<Mount>> {
    Ok(parse_mountinfo(&std::fs::read_to_string(
        "/proc/self/mountinfo",
    )?))
}

/// The mount containing `path` (which should be canonical): the longest
/// mount point that is a prefix, the later one winning when stacked.
pub fn mount_of<'a>(mounts: &'a [Mount], path: &Path) -> Option<&'a Mount> {
    let mut best: Option<&Mount> = None;
    for m in mounts {
        if path.starts_with(&m.mount_point) {
            let better = best
                .is_none_or(|b| m.mount_point.as_os_str().len() >= b.mount_point.as_os_str().len());
            if better {
                best = Some(m);
            }
        }
    }
    best
}

/// Decode the `\040`-style escapes the kernel uses for spaces and the like.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/proc/meminfo` as key → bytes.
pub fn parse_meminfo(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let mut parts = v.split_whitespace();
            let n: u64 = parts.next()?.parse().ok()?;
            let mult = if parts.next() == Some("kB") { 1024 } else { 1 };
            Some((k.trim().to_string(), n * mult))
        })
        .collect()
}

/// The fields of `/proc/<pid>/stat` the tools use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// Process id.
    pub pid: u32,
    /// Short name (`comm`, at most 15 bytes).
    pub comm: String,
    /// State letter (`R`, `S`, `D`, `Z`…).
    pub state: char,
    /// Parent pid.
    pub ppid: u32,
    /// User plus system time, clock ticks.
    pub cpu_ticks: u64,
    /// Start time after boot, clock ticks.
    pub start_ticks: u64,
    /// Resident set size, pages.
    pub rss_pages: u64,
}

/// Parse one stat line. `comm` may contain spaces and parentheses, so the
/// fields after it are found from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    let f = |n: usize| rest.get(n - 3).and_then(|s| s.parse::<u64>().ok());
    Some(ProcStat {
        pid,
        comm,
        state: rest.first()?.chars().next()?,
        ppid: u32::try_from(f(4)?).ok()?,
        cpu_ticks: f(14)? + f(15)?,
        start_ticks: f(22)?,
        rss_pages: f(24)?,
    })
}

/// The real uid from `/proc/<pid>/status` text.
pub fn parse_status_uid(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Every numeric entry of `/proc`.
pub fn pids() -> Vec<u32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// A process as the tools report it.
#[derive(Debug, Clone)]
pub struct ProcInfo {
    /// Parsed stat line.
    pub stat: ProcStat,
    /// Real uid.
    pub uid: u32,
    /// Command line joined with spaces (empty for kernel threads).
    pub cmdline: String,
}

/// Read one process; `None` when it vanished meanwhile.
pub fn read_process(pid: u32) -> Option<ProcInfo> {
    let base = PathBuf::from(format!("/proc/{pid}"));
    let stat = parse_stat(&std::fs::read_to_string(base.join("stat")).ok()?)?;
    let uid = parse_status_uid(&std::fs::read_to_string(base.join("status")).ok()?)?;
    let cmdline = std::fs::read(base.join("cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    Some(ProcInfo { stat, uid, cmdline })
}

/// uid → login name, memoised (a process table has few distinct users).
#[derive(Debug, Default)]
pub struct UserNames(HashMap<u32, String>);

impl UserNames {
    /// The login name of `uid`, or the number when unknown.
    pub fn name(&mut self, uid: u32) -> String {
        self.0
            .entry(uid)
            .or_insert_with(|| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map(|u| u.name)
                    .unwrap_or_else(|| uid.to_string())
            })
            .clone()
    }
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), 100 when unknown.
pub fn clock_ticks() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(100)
}

/// Page size in bytes, 4096 when unknown.
pub fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)
        .unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:5 / /proc rw,nosuid - proc proc rw
24 22 8:2 / /home rw,relatime shared:2 - ext4 /dev/sda2 rw
25 24 8:3 / /home/my\\040disk rw - xfs /dev/sdb1 rw
garbage line
";

    #[test]
    fn mountinfo_parses_and_finds_longest_prefix() {
        let ms = parse_mountinfo(MOUNTINFO);
        assert_eq!(ms.len(), 4);
        assert_eq!(ms[3].mount_point, PathBuf::from("/home/my disk"));
        assert_eq!(ms[3].fs_type, "xfs");
        assert_eq!(mount_of(&ms, Path::new("/home/u/x")).unwrap().device, "8:2");
        assert_eq!(
            mount_of(&ms, Path::new("/home/my disk/a")).unwrap().device,
            "8:3"
        );
        assert_eq!(mount_of(&ms, Path::new("/var")).unwrap().device, "8:1");
        // Prefix by component, not by string: /homework is on /.
        assert_eq!(mount_of(&ms, Path::new("/homework")).unwrap().device, "8:1");
    }

    #[test]
    fn stat_handles_odd_comm() {
        let line = "1234 (my (weird) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 9999 1000000 321 18446744073709551615";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.pid, 1234);
        assert_eq!(s.comm, "my (weird) proc");
        assert_eq!(s.state, 'S');
        assert_eq!(s.ppid, 1);
        assert_eq!(s.cpu_ticks, 300);
        assert_eq!(s.start_ticks, 9999);
        assert_eq!(s.rss_pages, 321);
        assert!(parse_stat("nonsense").is_none());
    }

    #[test]
    fn meminfo_and_status_parse() {
        let m = parse_meminfo("MemTotal:       16000 kB\nHugePages_Total:       0\n");
        assert_eq!(m["MemTotal"], 16000 * 1024);
        assert_eq!(m["HugePages_Total"], 0);
        assert_eq!(
            parse_status_uid("Name:\tx\nUid:\t1000\t1000\t1000\t1000\n"),
            Some(1000)
        );
    }

    #[test]
    fn reads_own_process_live() {
        let me = read_process(std::process::id()).unwrap();
        assert_eq!(me.stat.pid, std::process::id());
        assert_eq!(me.uid, nix::unistd::getuid().as_raw());
        assert!(me.stat.rss_pages > 0);
        assert!(pids().contains(&std::process::id()));
        assert!(!mounts().unwrap().is_empty());
    }
}
