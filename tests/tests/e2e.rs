//! End to end across real processes: the `aios` binary starts the real
//! daemons on real Unix sockets in an isolated environment, with the
//! scripted provider standing in for a model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use aios_tests::{Env, LineReader, first, json_lines, types, wait_output, wait_until};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(60);

fn two_tool_script(dir: &str) -> Value {
    json!({"turns": [
        {"text": "Let me look at the system and that directory.",
         "tool_calls": [
            {"name": "sys.overview", "args": {}},
            {"name": "fs.list", "args": {"path": dir}}
         ]},
        {"chunks": ["The machine is up. ", "The directory holds ", "marker.txt."]}
    ]})
}

/// Drop repeated assistant deltas, usage and output deltas, whose count
/// depends on chunking, to compare the shape of a turn.
fn shape(events: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in types(events) {
        if t == "usage" || t == "tool_output_delta" {
            continue;
        }
        if t == "assistant_delta" && out.last().map(String::as_str) == Some("assistant_delta") {
            continue;
        }
        out.push(t);
    }
    out
}

#[test]
fn scripted_two_tool_calls_then_answer_as_json() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("marker.txt"), "x").unwrap();
    let dir = data.path().display().to_string();
    let env = Env::scripted(&two_tool_script(&dir));
    let out = env.aios(&["-p", "what is on this machine?", "--json"], b"", LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let events = json_lines(&out.stdout);
    assert_eq!(
        shape(&events),
        [
            "session_started",
            "turn_started",
            "assistant_delta",
            "plan_proposed",
            "step_update",
            "tool_call_begin",
            "tool_call_end",
            "step_update",
            "step_update",
            "tool_call_begin",
            "tool_call_end",
            "step_update",
            "assistant_delta",
            "turn_completed"
        ],
        "events: {events:#?}"
    );
    // Sequence numbers are contiguous from 1.
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["seq"], json!(i as u64 + 1));
    }
    let begins: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool_call_begin")
        .collect();
    assert_eq!(begins[0]["tool"], "sys.overview");
    assert_eq!(begins[1]["tool"], "fs.list");
    assert_eq!(begins[1]["args"]["path"], json!(dir));
    assert_eq!(begins[0]["risk"], "read");
    assert!(
        begins[0]["rationale"]
            .as_str()
            .unwrap()
            .contains("Let me look")
    );
    let ends: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool_call_end")
        .collect();
    assert!(ends.iter().all(|e| e["status"] == "ok"), "{ends:#?}");
    // The listing is real: it found the file we made.
    assert!(
        ends[1]["result"].to_string().contains("marker.txt"),
        "{}",
        ends[1]["result"]
    );
    let answer: String = events
        .iter()
        .filter(|e| e["type"] == "assistant_delta")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert!(
        answer.ends_with("The machine is up. The directory holds marker.txt."),
        "{answer}"
    );
    assert_eq!(events.last().unwrap()["status"], "completed");
    assert_eq!(events.iter().filter(|e| e["type"] == "usage").count(), 2);

    // Everything was recorded in the episodic store before being reported.
    let db = rusqlite::Connection::open(env.state_dir().join("memory.sqlite3")).unwrap();
    let calls: i64 = db
        .query_row("SELECT count(*) FROM tool_calls", [], |r| r.get(0))
        .unwrap();
    assert_eq!(calls, 2);
    let messages: i64 = db
        .query_row("SELECT count(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    // user, assistant (with calls), 2 tool results, final assistant.
    assert_eq!(messages, 5);
}

#[test]
fn readable_output_separates_answer_from_tool_cards_and_reuses_daemons() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("marker.txt"), "x").unwrap();
    let env = Env::scripted(&two_tool_script(&data.path().display().to_string()));
    let out = env.aios(&["-p", "what is on this machine?"], b"", LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(
        stdout.contains("The machine is up. The directory holds marker.txt."),
        "{stdout}"
    );
    assert!(
        !stdout.contains("sys.overview"),
        "cards must not go to stdout: {stdout}"
    );
    assert!(stderr.contains("● sys.overview"), "{stderr}");
    assert!(stderr.contains("● fs.list"), "{stderr}");
    assert!(stderr.contains("✓ ok"), "{stderr}");

    // A second run reuses the daemons the first one started.
    let pid = env.daemon_pid("aiosd").expect("aiosd is running");
    let out = env.aios(&["-p", "again", "--json"], b"", LIMIT);
    // The script is replayed from its first turn for a new session.
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.daemon_pid("aiosd"), Some(pid));
}

#[test]
fn prompt_can_come_from_stdin() {
    let env = Env::scripted(&json!({"turns": [{"text": "hello from the script"}]}));
    let out = env.aios(&[], b"say hello\n", LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello from the script"));
}

#[test]
fn malformed_tool_arguments_are_reported_and_the_turn_continues() {
    let env = Env::scripted(&json!({"turns": [
        {"text": "Checking.", "tool_calls": [{"name": "fs.list", "raw_args": "{\"path\": "}]},
        {"text": "I could not list it."}
    ]}));
    let events = env.run_json_ok("list it");
    let err = first(&events, "error");
    assert_eq!(err["code"], "malformed_tool_call");
    assert_eq!(err["fatal"], false);
    let end = first(&events, "tool_call_end");
    assert_eq!(end["status"], "error");
    assert!(end["result"].as_str().unwrap().contains("not valid JSON"));
}

#[test]
fn unknown_tool_fails_the_call_not_the_turn() {
    let env = Env::scripted(&json!({"turns": [
        {"tool_calls": [{"name": "fs.usag", "args": {"path": "/"}}]},
        {"text": "That tool does not exist."}
    ]}));
    let events = env.run_json_ok("disk?");
    let end = first(&events, "tool_call_end");
    assert_eq!(end["status"], "error");
    assert!(
        end["result"].to_string().contains("fs.usage"),
        "suggests the closest name: {end}"
    );
}

#[test]
fn model_error_fails_the_turn_with_exit_1() {
    let env = Env::scripted(&json!({"turns": [{"error": "the model is overloaded"}]}));
    let out = env.aios(&["-p", "hi", "--json"], b"", LIMIT);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = json_lines(&out.stdout);
    let err = first(&events, "error");
    assert_eq!(err["fatal"], true);
    assert!(err["message"].as_str().unwrap().contains("overloaded"));
    assert_eq!(events.last().unwrap()["status"], "failed");
}

#[test]
fn iteration_limit_stops_a_looping_model() {
    let turn = json!({"tool_calls": [{"name": "sys.overview", "args": {}}]});
    let env = Env::scripted(&json!({"turns": [turn.clone(), turn.clone(), turn.clone(), turn]}));
    let mut env = env;
    env.vars.push(("AIOS_MAX_ITERATIONS".into(), "2".into()));
    let out = env.aios(&["-p", "loop", "--json"], b"", LIMIT);
    assert_eq!(out.status.code(), Some(1));
    let events = json_lines(&out.stdout);
    let err = first(&events, "error");
    assert_eq!(err["code"], "max_iterations");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "tool_call_begin")
            .count(),
        2
    );
}

/// Start a long, slowly streamed turn and return the running `aios` with
/// its stdout reader, once the first text has arrived.
fn slow_turn(env: &Env) -> (std::process::Child, LineReader) {
    let mut c = env.cmd("aios");
    c.args(["-p", "tell me a long story", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut lines = LineReader::new(child.stdout.take().unwrap());
    lines.wait_for("the first streamed text", LIMIT, |l| {
        l.contains("\"assistant_delta\"")
    });
    (child, lines)
}

fn slow_script() -> Value {
    let chunks: Vec<String> = (0..200).map(|i| format!("part {i}. ")).collect();
    json!({"turns": [{"chunks": chunks, "delay_ms": 100}]})
}

fn kill_daemon_mid_turn(name: &str) {
    let env = Env::scripted(&slow_script());
    let (child, lines) = slow_turn(&env);
    let pid = env.daemon_pid(name).expect("daemon running");
    let killed_at = Instant::now();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let out = wait_output(child, Duration::from_secs(30));
    let took = killed_at.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "stderr: {stderr}");
    assert!(took < Duration::from_secs(30));
    let all = lines.finish(Duration::from_secs(10)).join("\n");
    assert!(
        all.contains("daemon_unavailable"),
        "stdout: {all}\nstderr: {stderr}"
    );
    assert!(
        stderr.contains(if name == "aiosd" { "aiosd" } else { "gatewayd" }),
        "{stderr}"
    );
}

#[test]
fn orchestrator_killed_mid_turn_exits_4_promptly() {
    kill_daemon_mid_turn("aiosd");
}

#[test]
fn gateway_killed_mid_turn_exits_4_promptly() {
    kill_daemon_mid_turn("gatewayd");
}

#[test]
fn no_autostart_with_no_daemons_exits_4() {
    let env = Env::scripted(&json!({"turns": []}));
    let out = env.aios(&["-p", "hi", "--no-autostart"], b"", LIMIT);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("aios daemons start"));
}

fn assert_usage_error(out: &std::process::Output, needle: &str, env: &Env) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    // Bad input is rejected before any daemon starts.
    let sockets = std::fs::read_dir(env.runtime_dir())
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(sockets, 0, "no daemon should have been started");
}

#[test]
fn bad_input_gets_clear_messages_and_exit_2() {
    let env = Env::scripted(&json!({"turns": []}));
    assert_usage_error(&env.aios(&["-p", ""], b"", LIMIT), "empty", &env);
    assert_usage_error(&env.aios(&["-p", "   "], b"", LIMIT), "empty", &env);
    assert_usage_error(
        &env.aios(&[], &vec![b'a'; 1024 * 1024], LIMIT),
        "256 KiB",
        &env,
    );
    assert_usage_error(
        &env.aios(&["-p", "-"], b"ok\xff\xfe", LIMIT),
        "not valid UTF-8",
        &env,
    );
    assert_usage_error(&env.aios(&["--bogus"], b"", LIMIT), "--bogus", &env);
    assert_usage_error(
        &env.aios(&["-p", "hi", "--provider", "nope"], b"", LIMIT),
        "unknown provider",
        &env,
    );
    // (A 1 MiB `-p` argument cannot even be passed: Linux caps one argument
    // at 128 KiB, below our limit, so large prompts arrive on stdin.)
    assert_usage_error(
        &env.aios(&["-p", "-"], &vec![b'c'; 1024 * 1024], LIMIT),
        "256 KiB",
        &env,
    );
}

#[test]
fn broken_config_names_file_line_and_key() {
    let env = Env::scripted(&json!({"turns": []}));
    let cfg = env.user_config();
    std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    std::fs::write(&cfg, "[turn]\nmax_iterations = \"lots\"\n").unwrap();
    let out = env.aios(&["-p", "hi"], b"", LIMIT);
    assert_usage_error(&out, "aios.toml:2:", &env);
    assert_usage_error(&out, "turn.max_iterations", &env);
}

/// A home whose `.profile` greets and exports `lines`.
fn home_with_profile(lines: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join(".profile"),
        format!("echo welcome from the profile\n{lines}\n"),
    )
    .unwrap();
    home
}

#[test]
fn a_login_shell_takes_the_profile_environment() {
    let env = Env::scripted(&json!({"turns": [{"text": "hello from the script"}]}));
    let home = home_with_profile("export AIOS_LOGIN_PROBE=from-the-profile");
    let run = |args: &[&str], argv0: Option<&str>| {
        let mut cmd = env.cmd("aios");
        cmd.args(args).env("HOME", home.path()).env_remove("ENV");
        if let Some(a) = argv0 {
            std::os::unix::process::CommandExt::arg0(&mut cmd, a);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // -c: a plain `sh -c` unless it is a login shell.
    let probe = "echo probe=$AIOS_LOGIN_PROBE";
    assert_eq!(run(&["-c", probe], None), (Some(0), "probe=\n".into()));
    let (code, out) = run(&["-l", "-c", probe], None);
    assert_eq!(code, Some(0));
    assert!(out.ends_with("probe=from-the-profile\n"), "{out:?}");

    // Interactive use: the profile's environment reaches the shell itself
    // (here: it picks the provider), whatever the profile prints.
    let home2 = home_with_profile("export AIOS_PROVIDER=no-such-provider");
    let run2 = |args: &[&str], argv0: Option<&str>| {
        let mut cmd = env.cmd("aios");
        cmd.args(args).env("HOME", home2.path()).env_remove("ENV");
        if let Some(a) = argv0 {
            std::os::unix::process::CommandExt::arg0(&mut cmd, a);
        }
        cmd.output().unwrap()
    };
    let plain = run2(&["-p", "hi"], None);
    assert_eq!(plain.status.code(), Some(0), "{plain:?}");
    assert!(String::from_utf8_lossy(&plain.stdout).contains("hello from the script"));
    for (args, argv0) in [
        (&["-l", "-p", "hi"][..], None),
        (&["-p", "hi"][..], Some("-aios")),
    ] {
        let login = run2(args, argv0);
        let err = String::from_utf8_lossy(&login.stderr);
        assert_ne!(login.status.code(), Some(0), "{login:?}");
        assert!(err.contains("no-such-provider"), "{err}");
        assert!(!String::from_utf8_lossy(&login.stdout).contains("welcome"));
    }
}

#[test]
fn posix_dash_c_runs_through_sh() {
    // No daemons (and `-c` never starts them): the command runs all the
    // same, within the connect timeout, and only stderr says it is not in
    // the ledger.
    let env = Env::empty();
    let started = Instant::now();
    let out = env.aios(&["-c", "echo hello-from-sh; exit 7"], b"", LIMIT);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello-from-sh\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not in the audit ledger"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A signal's death is 128 + its number.
    let out = env.aios(&["-c", "kill -TERM $$"], b"", LIMIT);
    assert_eq!(out.status.code(), Some(128 + 15));
}

#[test]
fn posix_dash_c_is_recorded_in_the_audit_ledger() {
    let env = Env::scripted(&json!({"turns": [{"text": "Up."}]}));
    // Start the daemons (`-c` never does).
    env.run_json_ok("are you there?");
    let out = env.aios(&["-c", "echo hi; exit 3"], b"", LIMIT);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "nothing to say when it is recorded"
    );

    let log = env.aios(
        &["audit", "log", "--json", "--tool", "shell.command"],
        b"",
        LIMIT,
    );
    assert_eq!(
        log.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&log.stderr)
    );
    let records = json_lines(&log.stdout);
    assert_eq!(records.len(), 2, "{records:#?}");
    let uid = nix::unistd::getuid().as_raw();
    let intent = records
        .iter()
        .find(|r| r["entry"]["kind"] == "intent")
        .expect("an intent entry");
    let outcome = records
        .iter()
        .find(|r| r["entry"]["kind"] == "outcome")
        .expect("an outcome entry");
    for r in [intent, outcome] {
        assert_eq!(r["entry"]["tool"], "shell.command", "{r}");
        assert_eq!(r["entry"]["uid"], uid, "{r}");
        assert_eq!(r["entry"]["args"]["command"], "echo hi; exit 3", "{r}");
    }
    assert!(intent["id"].as_u64() < outcome["id"].as_u64());
    assert_eq!(outcome["entry"]["intent_id"], intent["id"], "{outcome}");
    assert_eq!(outcome["entry"]["status"], "error", "{outcome}");
    assert!(
        outcome["entry"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("exit status 3"),
        "{outcome}"
    );

    // `aios why` of the outcome shows the pair; the text log names both.
    let id = outcome["id"].as_u64().unwrap().to_string();
    let why = env.aios(&["why", &id, "--json"], b"", LIMIT);
    let chain = json_lines(&why.stdout);
    let ids: Vec<&Value> = chain.iter().map(|r| &r["id"]).collect();
    assert_eq!(ids, [&intent["id"], &outcome["id"]], "{chain:#?}");
    let text = env.aios(&["audit", "log", "--tool", "shell.command"], b"", LIMIT);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("$ echo hi; exit 3"), "{text}");
    assert!(text.contains("exit status 3"), "{text}");
}

#[test]
fn sockets_are_0660_and_doctor_reports_daemons() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::scripted(&json!({"turns": []}));
    let out = env.aios(&["daemons", "start"], b"", LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for d in ["aiosd", "toolsd", "memoryd", "gatewayd"] {
        let meta = std::fs::metadata(env.runtime_dir().join(format!("{d}.sock"))).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o660, "{d}");
    }
    let out = env.aios(&["doctor"], b"", LIMIT);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for d in ["aiosd", "toolsd", "memoryd", "gatewayd"] {
        assert!(
            text.lines().any(|l| l.contains(d) && l.contains(" up ")),
            "{d}: {text}"
        );
    }
    assert!(text.contains("scripted"), "{text}");
    // What toolsd enforces when it acts, as toolsd reports it.
    let ledger = env.state_dir().join("ledger.sqlite3");
    assert!(
        text.contains(&format!("  ledger        {} (open)", ledger.display())),
        "{text}"
    );
    assert!(text.contains("  policy (system)"), "{text}");
    assert!(text.contains("  sandbox       "), "{text}");
    // Logs went to files, not to the terminal.
    assert!(env.state_dir().join("log/aiosd.log").exists());
}

#[test]
fn supervisor_restarts_a_killed_daemon_and_the_next_request_works() {
    let env = Env::scripted(&json!({"turns": [{"text": "still here"}]}));
    let out = env.aios(&["-p", "hi"], b"", LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = env.aios(&["daemons", "status"], b"", LIMIT);
    assert!(String::from_utf8_lossy(&status.stdout).contains("(supervisor)"));
    let old = env.daemon_pid("aiosd").unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(old as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let new = wait_until(
        "initd to restart aiosd",
        Duration::from_secs(20),
        String::new,
        || env.daemon_pid("aiosd").filter(|p| *p != old),
    );
    assert_ne!(new, old);
    let out = env.aios(&["-p", "hi again", "--no-autostart"], b"", LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("still here"));
}

#[test]
fn only_the_gateway_sees_api_keys() {
    let env = Env::scripted(&json!({"turns": [{"text": "ok"}]}));
    let mut c = env.cmd("aios");
    c.args(["daemons", "start"])
        .env("OPENAI_API_KEY", "sk-test-secret-e2e")
        .stdin(Stdio::null());
    let out = wait_output(
        c.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        LIMIT,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for d in ["aiosd", "toolsd", "memoryd", "gatewayd"] {
        let pid = env.daemon_pid(d).unwrap();
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let has_key = String::from_utf8_lossy(&environ).contains("sk-test-secret-e2e");
        assert_eq!(has_key, d == "gatewayd", "{d} sees the key: {has_key}");
    }
    // Nor do the logs.
    for entry in std::fs::read_dir(env.state_dir().join("log")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        assert!(!text.contains("sk-test-secret-e2e"));
    }
}

#[test]
fn aios_service_controls_the_supervisor() {
    let env = Env::scripted(&json!({"turns": []}));
    assert_eq!(
        env.aios(&["daemons", "start"], b"", LIMIT).status.code(),
        Some(0)
    );
    let out = env.aios(&["service", "list"], b"", LIMIT);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for d in ["aiosd", "toolsd", "memoryd", "gatewayd"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(d) && l.contains("running")),
            "{d}: {text}"
        );
    }
    let old = env.daemon_pid("toolsd").unwrap();
    let out = env.aios(&["service", "restart", "toolsd"], b"", LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("running"));
    let new = wait_until(
        "toolsd to answer again",
        Duration::from_secs(20),
        String::new,
        || env.daemon_pid("toolsd"),
    );
    assert_ne!(new, old);
    let out = env.aios(&["service", "status", "no-such-service"], b"", LIMIT);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-service"));
    assert_eq!(
        env.aios(&["service", "logs", "aiosd", "-n", "5"], b"", LIMIT)
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn service_status_tool_asks_the_supervisor() {
    let env = Env::scripted(&json!({"turns": [
        {"tool_calls": [{"name": "service.status", "args": {"name": "memoryd"}}]},
        {"text": "memoryd is running."}
    ]}));
    let events = env.run_json_ok("is memoryd running?");
    let end = first(&events, "tool_call_end");
    assert_eq!(end["status"], "ok", "{end}");
    assert_eq!(end["result"]["manager"], "initd", "{end}");
    assert_eq!(end["result"]["unit"]["state"], "running", "{end}");
    assert_eq!(
        end["result"]["unit"]["pid"],
        json!(env.daemon_pid("memoryd").unwrap())
    );
}

#[test]
fn aios_tools_lists_describes_and_prints_the_specs_as_json() {
    let env = Env::scripted(&json!({"turns": []}));
    let out = env.aios(&["tools", "--json"], b"", LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let specs: Value = serde_json::from_slice(&out.stdout).unwrap();
    let specs = specs.as_array().unwrap();
    let read = specs.iter().find(|s| s["name"] == "fs.read").unwrap();
    assert_eq!(read["effect"], "read");
    assert_eq!(read["args_schema"]["properties"]["path"]["type"], "string");

    let out = env.aios(&["tools"], b"", LIMIT);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), specs.len(), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("fs.read ") && l.contains("read-only")),
        "{text}"
    );

    let out = env.aios(&["tools", "describe", "fs.read"], b"", LIMIT);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("fs.read (read-only)\n"), "{text}");
    assert!(text.contains("    path (string, required): "), "{text}");

    let out = env.aios(&["tools", "describe", "fs.reed"], b"", LIMIT);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no tool named \"fs.reed\"") && err.contains("did you mean fs.read?"),
        "{err}"
    );
}
