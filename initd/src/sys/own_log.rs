//! initd's own log (the services' output is [`super::logs`]): which lines
//! reach the console, and PID 1's log file.
//!
//! - **`initd --user`**: one log at `AIOS_LOG` (default `info`) on standard
//!   error, or appended to `--log-file`.
//! - **PID 1**: standard error is `/dev/console`, the very terminal the
//!   user's `aios` shell runs on (getty on ttyS0 and tty1), so by default
//!   only warnings and errors go there. `AIOS_LOG` replaces that filter:
//!   the kernel hands unknown `NAME=value` boot parameters to init as
//!   environment, so `AIOS_LOG=info` on the kernel command line brings the
//!   verbose console back. The whole log, at `info` (or `AIOS_LOG` when
//!   that is more verbose), goes to [`PID1_LOG_FILE`] (`/run/initd.log`;
//!   `--log-file` picks another path), size-bounded like a service log:
//!   [`PID1_LOG_MAX_BYTES`], then rotated to `/run/initd.log.1`. `/run` is
//!   the tmpfs initd mounts itself, so the file exists from before the
//!   first service starts until the power-off; what is logged before the
//!   mount is held in memory ([`EARLY_LINES`] at most) and written, with
//!   its original time, when the file is attached.
//!
//! The filter choice is pure ([`console_filter`], [`file_filter`]).

use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use super::logs::{BoundedFile, DEFAULT_MAX_BYTES};

/// PID 1's full log.
pub const PID1_LOG_FILE: &str = "/run/initd.log";
/// Size bound of [`PID1_LOG_FILE`] (the rotated `.1` doubles it at most).
pub const PID1_LOG_MAX_BYTES: u64 = DEFAULT_MAX_BYTES;
/// Lines kept in memory until the log file is attached; older ones are
/// dropped (and counted).
pub const EARLY_LINES: usize = 1000;
/// The environment variable holding the filter.
pub const ENV: &str = "AIOS_LOG";

/// `AIOS_LOG` parsed: `Ok(None)` when unset or blank.
fn parse_env(env: Option<&str>) -> Result<Option<EnvFilter>, String> {
    match env.map(str::trim).filter(|e| !e.is_empty()) {
        None => Ok(None),
        Some(e) => EnvFilter::try_new(e)
            .map(Some)
            .map_err(|err| err.to_string()),
    }
}

/// The console's filter directives: `AIOS_LOG` when it is set and valid,
/// otherwise `warn` as PID 1 (the console is the user's terminal) and
/// `info` with `--user`.
pub fn console_filter(is_pid1: bool, env: Option<&str>) -> String {
    match (parse_env(env), env) {
        (Ok(Some(_)), Some(e)) => e.trim().to_string(),
        _ if is_pid1 => "warn".into(),
        _ => "info".into(),
    }
}

/// The filter of PID 1's log file: `info`, or `AIOS_LOG` when it is valid
/// and enables `debug` or `trace` anywhere (the file never shows less than
/// `info` because the console was quietened).
pub fn file_filter(env: Option<&str>) -> String {
    match (parse_env(env), env) {
        (Ok(Some(f)), Some(e)) if f.max_level_hint().is_some_and(|l| l > LevelFilter::INFO) => {
            e.trim().to_string()
        }
        _ => "info".into(),
    }
}

/// Why `AIOS_LOG` is ignored, when it is.
fn env_problem(env: Option<&str>, used: &str) -> Option<String> {
    parse_env(env).err().map(|why| {
        format!(
            "{ENV}={:?} is not a valid filter ({why}); using {used:?} (e.g. {ENV}=info or {ENV}=aios_initd=debug)",
            env.unwrap_or_default()
        )
    })
}

/// A filter from directives [`console_filter`] or [`file_filter`] chose
/// (valid by construction; `fallback` guards the impossible).
fn filter(directives: &str, fallback: &str) -> EnvFilter {
    EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new(fallback))
}

/// Set up logging for `initd --user`: `AIOS_LOG` (default `info`) on
/// standard error, or appended to `log_file`.
pub fn init_user(env: Option<&str>, log_file: Option<&Path>) -> std::io::Result<()> {
    let directives = console_filter(false, env);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(&directives, "info"))
        .with_target(false);
    match log_file {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!("cannot open the log file {}: {e}", path.display()),
                    )
                })?;
            let _ = builder
                .with_ansi(false)
                .with_writer(Mutex::new(file))
                .try_init();
        }
        None => {
            let _ = builder.with_writer(std::io::stderr).try_init();
        }
    }
    if let Some(problem) = env_problem(env, &directives) {
        tracing::warn!("{problem}");
    }
    Ok(())
}

/// PID 1's subscriber: `console` at [`console_filter`], `file` at
/// [`file_filter`]. Separate so tests can run it with their own console.
pub fn pid1_subscriber<W>(
    env: Option<&str>,
    console: W,
    file: FileLog,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let console_layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(console)
        .with_filter(filter(&console_filter(true, env), "warn"));
    // The file adds its own timestamp (kept for lines held in memory).
    let file_layer = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(false)
        .without_time()
        .with_writer(file)
        .with_filter(filter(&file_filter(env), "info"));
    tracing_subscriber::registry()
        .with(console_layer)
        .with(file_layer)
}

/// Set up PID 1's logging: warnings and errors (or `AIOS_LOG`) on the
/// console, everything at `info` into the returned [`FileLog`], which
/// holds lines in memory until [`FileLog::attach`] (after `/run` is
/// mounted).
pub fn init_pid1(env: Option<&str>) -> FileLog {
    let file = FileLog::new();
    let _ = pid1_subscriber(env, std::io::stderr, file.clone()).try_init();
    if let Some(problem) = env_problem(env, &console_filter(true, env)) {
        tracing::warn!("{problem}");
    }
    file
}

enum Sink {
    /// Not attached yet: `(unix ms, line)`, and how many were dropped.
    Early {
        lines: VecDeque<(i64, String)>,
        dropped: u64,
    },
    File(BoundedFile),
    /// The file could not be opened; lines are discarded.
    Off,
}

/// PID 1's log file as a `tracing` writer: lines wait in memory until
/// [`FileLog::attach`], then go to a [`BoundedFile`]. Cheap to clone
/// (clones share the file).
#[derive(Clone)]
pub struct FileLog {
    sink: Arc<Mutex<Sink>>,
}

impl Default for FileLog {
    fn default() -> Self {
        FileLog::new()
    }
}

impl FileLog {
    /// A log holding its lines in memory until attached.
    pub fn new() -> FileLog {
        FileLog {
            sink: Arc::new(Mutex::new(Sink::Early {
                lines: VecDeque::new(),
                dropped: 0,
            })),
        }
    }

    /// From now on write to `path` (at most `max_bytes`, then rotated to
    /// `<path>.1`), beginning with the lines held so far. If the file
    /// cannot be opened, lines are discarded from now on and the error is
    /// returned (for a warning on the console).
    pub fn attach(&self, path: &Path, max_bytes: u64) -> std::io::Result<()> {
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        let mut file = BoundedFile::new(path.to_path_buf(), max_bytes);
        if let Err(e) = file.open() {
            *sink = Sink::Off;
            return Err(std::io::Error::new(
                e.kind(),
                format!("cannot open {}: {e}", path.display()),
            ));
        }
        if let Sink::Early { lines, dropped } = std::mem::replace(&mut *sink, Sink::Off) {
            if dropped > 0 {
                let at = lines.front().map_or_else(aios_proto::now_unix_ms, |l| l.0);
                file.append_at(at, &format!("[{dropped} earlier lines were dropped]"));
            }
            for (at, line) in lines {
                file.append_at(at, &line);
            }
        }
        *sink = Sink::File(file);
        Ok(())
    }

    /// Add one line (no trailing newline).
    pub fn line(&self, line: &str) {
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *sink {
            Sink::Early { lines, dropped } => {
                if lines.len() >= EARLY_LINES {
                    lines.pop_front();
                    *dropped += 1;
                }
                lines.push_back((aios_proto::now_unix_ms(), line.to_string()));
            }
            Sink::File(f) => f.append(line),
            Sink::Off => {}
        }
    }
}

/// One event's text, handed to the [`FileLog`] line by line when dropped
/// (the formatter may write an event in several pieces).
pub struct LineWriter<'a> {
    log: &'a FileLog,
    buf: Vec<u8>,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buf);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            // Without a timestamp the formatter starts with the level,
            // right-aligned (" INFO"); the file's timestamp comes first.
            self.log.line(line.strip_prefix(' ').unwrap_or(line));
        }
    }
}

impl<'a> MakeWriter<'a> for FileLog {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter {
            log: self,
            buf: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
