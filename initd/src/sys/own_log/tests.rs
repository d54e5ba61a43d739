//! The filter choice, the file held in memory until attached, and the
//! two-layer PID 1 subscriber against a captured console.

use std::io::Write;
use std::sync::{Arc, Mutex};

use super::*;

#[test]
fn console_is_quiet_as_pid1_unless_aios_log_says_otherwise() {
    assert_eq!(console_filter(true, None), "warn");
    assert_eq!(console_filter(true, Some("info")), "info");
    assert_eq!(console_filter(true, Some(" debug ")), "debug");
    assert_eq!(console_filter(true, Some("error")), "error");
    assert_eq!(console_filter(true, Some("")), "warn", "blank is unset");
    assert_eq!(console_filter(true, Some("aios_initd=loud")), "warn");
    // --user keeps today's default.
    assert_eq!(console_filter(false, None), "info");
    assert_eq!(console_filter(false, Some("warn")), "warn");
    assert_eq!(console_filter(false, Some("aios_initd=loud")), "info");
}

#[test]
fn the_file_gets_info_or_aios_log_when_more_verbose() {
    assert_eq!(file_filter(None), "info");
    for quieter in ["info", "warn", "error", "off", "aios_initd=loud"] {
        assert_eq!(file_filter(Some(quieter)), "info", "{quieter}");
    }
    assert_eq!(file_filter(Some("debug")), "debug");
    assert_eq!(
        file_filter(Some("info,aios_initd=trace")),
        "info,aios_initd=trace"
    );
}

#[test]
fn a_bad_aios_log_is_named_with_a_hint() {
    assert_eq!(env_problem(Some("info"), "info"), None);
    assert_eq!(env_problem(None, "warn"), None);
    let p = env_problem(Some("aios_initd=loud"), "warn").unwrap();
    assert!(
        p.contains("AIOS_LOG=\"aios_initd=loud\" is not a valid filter")
            && p.contains("using \"warn\"")
            && p.contains("AIOS_LOG=info"),
        "{p}"
    );
}

fn read(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn lines_wait_in_memory_until_attached_then_go_to_the_bounded_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("initd.log");
    let log = FileLog::new();
    log.line("early one");
    log.line("early two");
    assert!(!path.exists(), "nothing is written before attach");
    log.attach(&path, 4096).unwrap();
    log.line("late");
    let lines = read(&path);
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (line, text) in lines.iter().zip(["early one", "early two", "late"]) {
        let (stamp, rest) = line.split_once(' ').unwrap();
        assert!(stamp.ends_with('Z') && stamp.contains('T'), "{line}");
        assert_eq!(rest, text);
    }
    // The size bound of service logs applies.
    for i in 0..500 {
        log.line(&format!("line {i:03} ..............................."));
    }
    let cur = std::fs::metadata(&path).unwrap().len();
    let old = std::fs::metadata(dir.path().join("initd.log.1"))
        .unwrap()
        .len();
    assert!(cur <= 4096 && old <= 4096, "{cur} {old}");
    assert!(read(&path).last().unwrap().contains("line 499"));
}

#[test]
fn early_lines_are_bounded_and_the_drop_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("initd.log");
    let log = FileLog::new();
    for i in 0..EARLY_LINES + 5 {
        log.line(&format!("boot {i}"));
    }
    log.attach(&path, 1 << 20).unwrap();
    let lines = read(&path);
    assert_eq!(lines.len(), EARLY_LINES + 1);
    assert!(
        lines[0].ends_with(" [5 earlier lines were dropped]"),
        "{}",
        lines[0]
    );
    assert!(lines[1].ends_with(" boot 5"), "{}", lines[1]);
    assert!(lines[EARLY_LINES].ends_with(&format!(" boot {}", EARLY_LINES + 4)));
}

#[test]
fn an_unopenable_file_is_an_error_and_lines_are_then_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir/initd.log");
    let log = FileLog::new();
    log.line("early");
    let e = log.attach(&path, 4096).unwrap_err().to_string();
    assert!(
        e.contains("cannot open") && e.contains("missing-dir"),
        "{e}"
    );
    log.line("later");
    assert!(!path.exists());
    assert!(matches!(*log.sink.lock().unwrap(), Sink::Off));
}

/// A console that keeps what it is given.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Log one event per level through PID 1's subscriber with `env`; return
/// the console text and the file's lines.
fn pid1_run(env: Option<&str>) -> (String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("initd.log");
    let console = Capture::default();
    let file = FileLog::new();
    let c = console.clone();
    let sub = pid1_subscriber(env, move || c.clone(), file.clone());
    tracing::subscriber::with_default(sub, || {
        tracing::debug!(service = %"a", "debugging");
        tracing::info!(service = %"aios-setup", "ready");
        file.attach(&path, 1 << 20).unwrap();
        tracing::warn!(service = %"b", "exited before it was ready");
        tracing::error!("control API unavailable");
    });
    (console.text(), read(&path))
}

#[test]
fn pid1_console_shows_warnings_and_the_file_everything_from_info() {
    let (console, file) = pid1_run(None);
    assert!(!console.contains("aios-setup"), "{console}");
    assert!(console.contains("exited before it was ready"), "{console}");
    assert!(console.contains("control API unavailable"), "{console}");
    assert_eq!(file.len(), 3, "{file:?}");
    // The same text the console would show, after the file's timestamp.
    let (_, first) = file[0].split_once(' ').unwrap();
    assert_eq!(first, "INFO ready service=aios-setup");
    assert!(
        file[1].ends_with("WARN exited before it was ready service=b"),
        "{}",
        file[1]
    );
    assert!(
        file[2].ends_with("ERROR control API unavailable"),
        "{}",
        file[2]
    );
    assert!(!file.iter().any(|l| l.contains("debugging")));
}

#[test]
fn aios_log_info_restores_the_verbose_console_and_debug_reaches_the_file() {
    let (console, file) = pid1_run(Some("info"));
    assert!(console.contains("aios-setup"), "{console}");
    assert!(!console.contains("debugging"), "{console}");
    assert_eq!(file.len(), 3, "{file:?}");

    let (console, file) = pid1_run(Some("debug"));
    assert!(console.contains("debugging"), "{console}");
    assert_eq!(file.len(), 4, "{file:?}");
    assert!(
        file[0].ends_with("DEBUG debugging service=a"),
        "{}",
        file[0]
    );
}
