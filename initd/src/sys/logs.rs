//! Per-service log capture: each service's stdout and stderr go into one
//! pipe, a thread per run reads it line by line, and lines are appended
//! with a UTC timestamp to `<dir>/<service>.log`, rotated to `.log.1` when
//! it would grow past the size bound (so a service uses at most twice the
//! bound on disk). The control API reads the tail back from the same files.
//! [`BoundedFile`], one such file, also holds PID 1's own log
//! ([`super::own_log`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Default size bound of one log file.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 20;
/// Longest line kept whole; longer output is split.
const MAX_LINE: usize = 16 * 1024;

/// The smallest size bound (a smaller one would rotate on every line).
const MIN_MAX_BYTES: u64 = 1024;

/// One size-bounded log file: lines are appended with a UTC timestamp;
/// when the next line would grow it past the bound it is renamed to
/// `<path>.1` (replacing the previous one) and a new file is begun, so it
/// takes at most twice the bound. Write failures are dropped: a full disk
/// must not stop a service or the supervisor.
pub struct BoundedFile {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max_bytes: u64,
}

impl BoundedFile {
    /// The file at `path`, opened on the first append; an existing file
    /// is appended to and counts towards the bound.
    pub fn new(path: PathBuf, max_bytes: u64) -> BoundedFile {
        let size = std::fs::symlink_metadata(&path)
            .map(|m| m.len())
            .unwrap_or(0);
        BoundedFile {
            path,
            file: None,
            size,
            max_bytes: max_bytes.max(MIN_MAX_BYTES),
        }
    }

    /// The current file (the rotated one is `<path>.1`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Close the file; the next append opens it again.
    pub fn close(&mut self) {
        self.file = None;
    }

    /// Open (or create) the file now, to learn whether it can be written.
    /// A link or anything but a regular file at the name is refused: the
    /// directory may be writable by others (the services), and what they
    /// put there must not redirect initd's writes.
    pub fn open(&mut self) -> std::io::Result<()> {
        if self.file.is_none() {
            self.file = Some(super::files::open_append(&self.path, 0o644)?);
        }
        Ok(())
    }

    /// Append one line, stamped with the current time.
    pub fn append(&mut self, line: &str) {
        self.append_at(aios_proto::now_unix_ms(), line);
    }

    /// Append one line stamped with `unix_ms` (a line kept in memory until
    /// the file could be opened keeps the time it was logged).
    pub fn append_at(&mut self, unix_ms: i64, line: &str) {
        let text = format!("{} {}\n", utc_timestamp(unix_ms), line);
        let len = text.len() as u64;
        if self.size > 0 && self.size + len > self.max_bytes {
            self.file = None;
            let mut rotated = self.path.clone().into_os_string();
            rotated.push(".1");
            let _ = std::fs::rename(&self.path, &rotated);
            self.size = 0;
        }
        if self.open().is_err() {
            return;
        }
        if let Some(file) = self.file.as_mut()
            && file.write_all(text.as_bytes()).is_ok()
        {
            self.size += len;
        }
    }
}

/// The log files of every service.
pub struct LogStore {
    dir: PathBuf,
    max_bytes: u64,
    files: Mutex<HashMap<String, Arc<Mutex<BoundedFile>>>>,
    /// Set by [`LogStore::close`]: appends are dropped from then on.
    closed: AtomicBool,
}

impl LogStore {
    /// Logs under `dir` (created if missing), each file at most `max_bytes`.
    pub fn new(dir: &Path, max_bytes: u64) -> std::io::Result<LogStore> {
        std::fs::create_dir_all(dir)?;
        Ok(LogStore {
            dir: dir.to_path_buf(),
            max_bytes: max_bytes.max(MIN_MAX_BYTES),
            files: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        })
    }

    /// The directory holding the logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current log file of a service.
    pub fn path(&self, service: &str) -> PathBuf {
        self.dir.join(format!("{service}.log"))
    }

    fn file(&self, service: &str) -> Arc<Mutex<BoundedFile>> {
        let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        files
            .entry(service.to_string())
            .or_insert_with(|| {
                Arc::new(Mutex::new(BoundedFile::new(
                    self.path(service),
                    self.max_bytes,
                )))
            })
            .clone()
    }

    /// Append one line (a timestamp is added). Write failures are dropped:
    /// a full disk must not stop a service or the supervisor.
    pub fn append(&self, service: &str, line: &str) {
        let f = self.file(service);
        let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
        // Checked under the file's lock: `close` takes every lock after
        // setting the flag, so no append can reopen a file after it.
        if !self.closed.load(Ordering::SeqCst) {
            f.append(line);
        }
    }

    /// Close every log file for good (later lines are dropped). PID 1 calls
    /// this at shutdown before remounting / read-only, which fails while a
    /// file on it is open for writing.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let files = self.files.lock().unwrap_or_else(|p| p.into_inner());
        for f in files.values() {
            f.lock().unwrap_or_else(|p| p.into_inner()).close();
        }
    }

    /// The last `n` lines of a service's log (rotated file included).
    pub fn tail(&self, service: &str, n: usize) -> std::io::Result<Vec<String>> {
        let current = self.path(service);
        let mut rotated = current.clone().into_os_string();
        rotated.push(".1");
        // Hold the writer's lock so a rotation cannot happen mid-read.
        let f = self.file(service);
        let _guard = f.lock().unwrap_or_else(|p| p.into_inner());
        let mut lines = Vec::new();
        for path in [PathBuf::from(rotated), current] {
            match std::fs::read(&path) {
                Ok(bytes) => {
                    lines.extend(String::from_utf8_lossy(&bytes).lines().map(str::to_string))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let skip = lines.len().saturating_sub(n);
        Ok(lines.split_off(skip))
    }

    /// Read `pipe` until every writer has closed it, appending each line
    /// to the service's log, on a thread of its own.
    pub fn capture(self: &Arc<Self>, service: &str, pipe: OwnedFd) {
        let store = Arc::clone(self);
        let name = service.to_string();
        let spawned = std::thread::Builder::new()
            .name(format!("log-{service}"))
            .spawn(move || store.pump(&name, File::from(pipe)));
        if let Err(e) = spawned {
            tracing::warn!(
                service,
                "cannot start the log reader: {e}; output is discarded"
            );
        }
    }

    fn pump(&self, service: &str, pipe: File) {
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::with_capacity(256);
        loop {
            buf.clear();
            match (&mut reader)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut buf)
            {
                Ok(0) => return,
                Ok(_) => {
                    if buf.last() == Some(&b'\n') {
                        buf.pop();
                    }
                    self.append(service, &String::from_utf8_lossy(&buf));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` from Unix milliseconds.
pub fn utc_timestamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_logs_hold_no_file_open_and_drop_later_lines() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(dir.path(), 4096).unwrap();
        store.append("svc", "before");
        let open_fds = || {
            std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
                .filter(|t| t == &store.path("svc"))
                .count()
        };
        assert_eq!(open_fds(), 1);
        store.close();
        assert_eq!(open_fds(), 0, "the log file is still open after close");
        store.append("svc", "after");
        assert_eq!(open_fds(), 0);
        let lines = store.tail("svc", 10).unwrap();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].ends_with(" before"), "{lines:?}");
    }

    #[test]
    fn a_link_at_a_log_name_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let store = LogStore::new(dir.path(), 4096).unwrap();
        std::os::unix::fs::symlink(&victim, store.path("svc")).unwrap();
        store.append("svc", "injected");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        // PID 1's own log is the same kind of file.
        let mut own = BoundedFile::new(dir.path().join("initd.log"), 4096);
        std::os::unix::fs::symlink(&victim, own.path()).unwrap();
        assert!(own.open().is_err());
        own.append("injected");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    }

    #[test]
    fn timestamps_are_utc_rfc3339() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_timestamp(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(utc_timestamp(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn logs_rotate_at_the_bound_and_tail_spans_both_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::new(dir.path(), 2048).unwrap();
        for i in 0..200 {
            store.append("svc", &format!("line {i:03} ........................"));
        }
        let cur = std::fs::metadata(store.path("svc")).unwrap().len();
        let old = std::fs::metadata(dir.path().join("svc.log.1"))
            .unwrap()
            .len();
        assert!(cur <= 2048 && old <= 2048, "{cur} {old}");
        let tail = store.tail("svc", 5).unwrap();
        assert_eq!(tail.len(), 5);
        assert!(
            tail[4].ends_with("line 199 ........................"),
            "{tail:?}"
        );
        assert!(tail[0].contains("line 195"), "{tail:?}");
        let many = store.tail("svc", 10_000).unwrap();
        assert!(many.len() > 40 && many.len() < 200, "{}", many.len());
        assert!(store.tail("nothing", 5).unwrap().is_empty());
    }

    #[test]
    fn capture_reads_a_pipe_until_eof() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(LogStore::new(dir.path(), DEFAULT_MAX_BYTES).unwrap());
        let (r, w) = nix::unistd::pipe().unwrap();
        let mut w = File::from(w);
        w.write_all(b"hello\nworld without newline").unwrap();
        drop(w);
        // Run the pump on this thread: it returns at EOF.
        store.pump("p", File::from(r));
        let tail = store.tail("p", 10).unwrap();
        assert_eq!(tail.len(), 2);
        assert!(
            tail[0].ends_with(" hello") && tail[1].ends_with(" world without newline"),
            "{tail:?}"
        );
    }
}
