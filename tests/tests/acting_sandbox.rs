//! The sandbox's guarantees through `exec.run`, end to end over the real
//! daemons (issue #8 §5 and its sandbox tests): a write outside the
//! allowed paths, a network connect, ptrace, io_uring and runaway output
//! each fail or are contained when the model asks for them through aiosd
//! and toolsd; a fork bomb is contained when toolsd runs it for an
//! ordinary user. `aios-sandbox`'s own tests check the same against the
//! library; these check that toolsd's `exec.run` really applies it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use aios_tests::{Env, json_lines};
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(120);

fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: the daemons must run as root to run commands for another user");
    false
}

fn scratch() -> tempfile::TempDir {
    aios_tests::scratch("aios-sbx-e2e")
}

fn open_dir(parent: &Path, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = parent.join(name);
    std::fs::create_dir(&p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
    p
}

/// The system policy of `env`: `exec.run` is allowed, so nothing but the
/// sandbox stands between the command and the host.
fn allow_exec(env: &Env) {
    let policy = env.dir.path().join("config/aios/system-policy.toml");
    std::fs::create_dir_all(policy.parent().unwrap()).unwrap();
    std::fs::write(
        &policy,
        r#"
[[rule]]
id = "sandbox-under-test"
action = "allow"
tools = ["exec.run"]
reason = "these tests exercise the sandbox itself"
"#,
    )
    .unwrap();
}

/// Pids whose command line contains `marker` (other than this process).
fn procs_with(marker: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(marker))
                .unwrap_or(false)
        })
        .collect()
}

const PYTHON: &str = "/usr/bin/python3";

const PTRACE_AND_IO_URING: &str = "import ctypes\n\
    l = ctypes.CDLL(None, use_errno=True)\n\
    r = l.ptrace(0, 0, 0, 0)\n\
    print('ptrace', r, ctypes.get_errno())\n\
    buf = ctypes.create_string_buffer(120)\n\
    r = l.syscall(425, 4, buf)\n\
    print('io_uring', r, ctypes.get_errno())\n";

#[test]
fn escapes_the_model_asks_for_through_exec_run_fail_or_are_contained() {
    if !require_root() {
        return;
    }
    let data = scratch();
    let allowed = open_dir(data.path(), "allowed");
    let other = open_dir(data.path(), "other");
    let escape = format!("/etc/aios-sbx-escape-{}", std::process::id());
    let write = format!(
        r#"touch "$1/x"; echo "other=$?"; touch "$2/x"; echo "allowed=$?"; touch {escape}; echo "etc=$?""#
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connect = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");
    let python = Path::new(PYTHON).exists();
    let mut calls = vec![
        json!({"name": "exec.run", "args": {
            "argv": ["sh", "-c", write, "sh", other, allowed], "writable": [allowed]}}),
        json!({"name": "exec.run", "args": {"argv": ["bash", "-c", connect]}}),
        // Control: the same connect with the network granted reaches the
        // listener, so the refusal above is the sandbox's doing.
        json!({"name": "exec.run", "args": {"argv": ["bash", "-c", connect], "network": true}}),
        json!({"name": "exec.run", "args": {"argv": ["sh", "-c", "yes | head -c 20000000"]}}),
    ];
    if python {
        calls.push(json!({"name": "exec.run", "args": {
            "argv": [PYTHON, "-c", PTRACE_AND_IO_URING]}}));
    } else {
        eprintln!("ptrace and io_uring not tried: {PYTHON} is not installed");
    }
    let n = calls.len();
    let env = Env::scripted(&json!({"turns": [
        {"text": "Running the commands.", "tool_calls": calls},
        {"text": "Done."}
    ]}));
    allow_exec(&env);
    let out = env.aios(
        &["-p", "run my maintenance", "--json", "--approve=policy"],
        b"",
        LIMIT,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let events = json_lines(&out.stdout);
    let ends: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool_call_end")
        .collect();
    assert_eq!(ends.len(), n, "{events:#?}");
    for end in &ends {
        assert_eq!(end["status"], "ok", "allowed by the test's policy: {end}");
    }

    // A write outside the allowed paths fails; inside, it works.
    let r = &ends[0]["result"];
    let stdout = r["stdout"].as_str().unwrap();
    assert!(stdout.contains("allowed=0"), "{r:#}");
    assert!(!stdout.contains("other=0"), "{r:#}");
    assert!(!stdout.contains("etc=0"), "{r:#}");
    assert!(allowed.join("x").exists());
    assert!(
        !other.join("x").exists(),
        "the unlisted directory was written"
    );
    assert!(!Path::new(&escape).exists());
    assert!(
        r["enforcement"]["missing"].as_array().unwrap().is_empty()
            || r["summary"].as_str().unwrap().contains("confinement gaps"),
        "a gap is reported when there is one: {r:#}"
    );

    // No network unless granted.
    let r = &ends[1]["result"];
    assert!(
        !r["stdout"].as_str().unwrap().contains("connected"),
        "{r:#}"
    );
    assert_ne!(r["exit_code"], 0, "{r:#}");
    let r = &ends[2]["result"];
    assert!(r["stdout"].as_str().unwrap().contains("connected"), "{r:#}");
    listener.set_nonblocking(true).unwrap();
    let mut reached = 0;
    while listener.accept().is_ok() {
        reached += 1;
    }
    assert_eq!(reached, 1, "only the granted command reached the host");

    // Runaway output: cut at 1 MiB and marked. (The result is over
    // toolsd's result cap too, so it arrives as a prefix of its JSON,
    // whose keys are sorted: `output_truncated` comes before `stdout`.)
    let r = &ends[3]["result"];
    let text = match r["partial_json"].as_str() {
        Some(prefix) => prefix.to_string(),
        None => r.to_string(),
    };
    assert!(
        text.contains(r#""output_truncated":true"#),
        "{}",
        &text[..text.len().min(2000)]
    );
    assert!(
        r.to_string().len() < 2 * 1024 * 1024,
        "the result is bounded"
    );

    // ptrace and io_uring are refused with EPERM.
    if python {
        let r = &ends[4]["result"];
        let stdout = r["stdout"].as_str().unwrap();
        assert!(stdout.contains("ptrace -1 1\n"), "{r:#}");
        assert!(stdout.contains("io_uring -1 1\n"), "{r:#}");
    }
}

/// toolsd's answer to one `exec.run` call on behalf of `uid`, sent on
/// its socket by this process acting as the orchestrator (a daemon peer:
/// root here, the `aios` account on the image).
fn exec_for(env: &Env, uid: u32, args: Value) -> aios_proto::ExecuteEnd {
    use futures::StreamExt;
    let socket = env.runtime_dir().join("toolsd.sock");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ch = aios_proto::connect(&socket).await.unwrap();
        let mut stream = aios_proto::ToolsClient::new(ch)
            .execute(aios_proto::ExecuteRequest {
                session_id: format!("sbx-{}", std::process::id()),
                call_id: format!("c{}", rand_suffix()),
                tool: "exec.run".into(),
                args,
                on_behalf_of_uid: uid,
                session_kind: aios_proto::SessionKind::OneShot,
                approval: aios_proto::ApprovalMode::Policy,
                ..Default::default()
            })
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let ev = tokio::time::timeout_at(deadline, stream.next())
                .await
                .expect("toolsd answered in time")
                .expect("stream ended without End")
                .unwrap();
            if let aios_proto::ExecuteEvent::End(end) = ev {
                return end;
            }
        }
    })
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A fork bomb, run by toolsd's `exec.run` for `nobody` (as root the
/// process cap would not apply: the kernel exempts uid 0 from
/// `RLIMIT_NPROC`, so a test must not run one as root on a shared host).
#[test]
fn a_fork_bomb_through_exec_run_is_contained_and_leaves_nothing() {
    if !require_root() {
        return;
    }
    let env = Env::empty();
    allow_exec(&env);
    let out = env.aios(&["daemons", "start"], b"", LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let marker = format!("aios_sbx_bomb_{}", std::process::id());
    let end = exec_for(
        &env,
        65534,
        json!({"argv": ["bash", "-c", format!("{marker}=1; f() {{ f | f & }}; f; wait")],
               "cwd": "/", "timeout_secs": 5}),
    );
    assert_eq!(end.status, aios_proto::ToolStatus::Ok, "{end:?}");
    let r = &end.result;
    assert!(
        r["timed_out"] == true || r["exit_code"].is_number() || r["signal"].is_number(),
        "{r:#}"
    );
    let left = procs_with(&marker);
    assert!(left.is_empty(), "survivors: {left:?}");
    // toolsd is unharmed: the next command runs.
    let end = exec_for(&env, 65534, json!({"argv": ["/bin/true"], "cwd": "/"}));
    assert_eq!(end.status, aios_proto::ToolStatus::Ok, "{end:?}");
    assert_eq!(end.result["exit_code"], 0, "{:#}", end.result);
}
