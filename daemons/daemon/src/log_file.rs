//! A daemon's log file, bounded by size: `<name>.log` is rotated to
//! `<name>.log.1` (and `.1` to `.2`, …) before a write would take it past
//! [`LOG_MAX_BYTES`], and only [`LOG_KEEP`] rotated files are kept. A
//! daemon that logs for months uses at most
//! `LOG_MAX_BYTES * (LOG_KEEP + 1)` bytes of disk.
//!
//! `tracing-appender` only rotates by time, hence this small writer; it is
//! driven by `tracing_appender::non_blocking`, which hands it one whole
//! formatted event per write, so lines are never split between files.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Size at which a daemon's log file is rotated.
pub const LOG_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// Rotated files kept (`.1` newest … `.LOG_KEEP` oldest).
pub const LOG_KEEP: u32 = 3;

/// An append-only file that rotates itself by size.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: File,
    size: u64,
}

impl RotatingFile {
    /// Open (or create, mode 0600) `path` for appending, rotating at
    /// `max_bytes` and keeping `keep` rotated files (at least one).
    pub fn open(path: &Path, max_bytes: u64, keep: u32) -> io::Result<RotatingFile> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            max_bytes: max_bytes.max(1),
            keep: keep.max(1),
            file,
            size,
        })
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    /// Shift `.1..keep` up by one (dropping the oldest), move the current
    /// file to `.1`, and start a new one.
    fn rotate(&mut self) -> io::Result<()> {
        // Renames replace their target, so the oldest falls off the end.
        for n in (1..self.keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.rotated(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.rotated(1))?;
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    // Logs name sessions and users: readable by the daemon's user only.
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let len = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        // An empty file takes any write, so one huge event still lands
        // (alone) instead of rotating for ever.
        if self.size > 0 && self.size.saturating_add(len) > self.max_bytes {
            // A failed rotation (a full disk, a removed directory) must not
            // stop logging: keep appending to the open file.
            if let Err(e) = self.rotate() {
                // Nowhere better to report it than the log itself.
                let _ = writeln!(
                    self.file,
                    "log rotation of {} failed: {e}",
                    self.path.display()
                );
            }
        }
        let n = self.file.write(buf)?;
        self.size = self
            .size
            .saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn one_byte_past_the_size_rotates_and_only_keep_files_remain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aiosd.log");
        let mut f = RotatingFile::open(&path, 100, 2).unwrap();
        // Exactly the bound: no rotation.
        f.write_all(&[b'a'; 60]).unwrap();
        f.write_all(&[b'b'; 40]).unwrap();
        assert_eq!(files(dir.path()), vec![("aiosd.log".into(), 100)]);
        // One byte more rotates before writing.
        f.write_all(b"c").unwrap();
        assert_eq!(
            files(dir.path()),
            vec![("aiosd.log".into(), 1), ("aiosd.log.1".into(), 100)]
        );
        // Many more lines: never more than `keep` rotated files, each bounded.
        for i in 0..1000u32 {
            f.write_all(format!("line {i}\n").as_bytes()).unwrap();
        }
        let after = files(dir.path());
        let names: Vec<&str> = after.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["aiosd.log", "aiosd.log.1", "aiosd.log.2"]);
        assert!(after.iter().all(|(_, len)| *len <= 100), "{after:?}");
        // The newest line is in the current file, whole.
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.ends_with("line 999\n"), "{current}");
        assert!(current.lines().all(|l| l.starts_with("line ")), "{current}");
    }

    #[test]
    fn an_existing_file_counts_toward_the_bound_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatewayd.log");
        std::fs::write(&path, [b'x'; 90]).unwrap();
        let mut f = RotatingFile::open(&path, 100, 1).unwrap();
        f.write_all(&[b'y'; 20]).unwrap();
        assert_eq!(
            files(dir.path()),
            vec![("gatewayd.log".into(), 20), ("gatewayd.log.1".into(), 90)]
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn an_event_larger_than_the_bound_lands_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memoryd.log");
        let mut f = RotatingFile::open(&path, 10, 1).unwrap();
        f.write_all(&[b'z'; 25]).unwrap();
        f.write_all(b"next\n").unwrap();
        assert_eq!(
            files(dir.path()),
            vec![("memoryd.log".into(), 5), ("memoryd.log.1".into(), 25)]
        );
    }
}
