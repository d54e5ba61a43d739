//! A pending approval survives an aiosd restart (issues 8 and 10 §7),
//! over the real daemons that `aios` starts under `initd --user`, with the
//! scripted provider: aiosd is killed with `-9` while a change waits for
//! the user; initd restarts it; the shell reconnects to the same session,
//! which shows the approval again (toolsd kept the call); the user
//! approves from the shell, the change happens, the turn goes on to its
//! answer, and the ledger holds the request, the approval and the result
//! in a chain that verifies. An approval naming another hash is refused
//! on the way.
//!
//! Every wait is on a condition with a timeout, never a sleep.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aios_proto::{
    ApiErrorKind, ApprovalAnswer, ApprovalNeeded, Decision, Event, EventKind, Op, SessionClient,
    ToolsClient,
};
use aios_tests::tmux::{LIMIT, Spawn, Tmux, Watch};
use aios_tests::{Env, json_lines, wait_until};
use futures::StreamExt;
use serde_json::{Value, json};

fn start(env: &Env, name: &str, args: &[&str]) -> Tmux {
    Spawn::new(&format!("approval-restart-{name}"))
        .size(160, 50)
        .env(env)
        .watch(Watch::History)
        .aios(args)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The scratch directory, the file the script writes, and the scripted
/// environment.
fn setup() -> (tempfile::TempDir, std::path::PathBuf, Env) {
    let data = aios_tests::scratch("aios-keep");
    let target = data.path().join("greeting.txt");
    let env = Env::scripted(&script(&target));
    (data, target, env)
}

fn kill_aiosd(env: &Env) -> u32 {
    let pid = env.daemon_pid("aiosd").expect("aiosd answers");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    pid
}

fn session_id(env: &Env) -> String {
    let out = env.aios(&["--json", "sessions"], b"", LIMIT);
    assert_eq!(out.status.code(), Some(0));
    let listed = json_lines(&out.stdout);
    assert_eq!(listed.len(), 1, "{listed:?}");
    listed[0]["id"].as_str().unwrap().to_string()
}

/// The approval request of `session`, read from its replay.
fn asked(env: &Env, session: &str) -> ApprovalNeeded {
    runtime().block_on(async {
        let ch = aios_proto::connect(&env.runtime_dir().join("aiosd.sock"))
            .await
            .unwrap();
        let mut c = SessionClient::new(ch);
        let (tx, rx) = futures::channel::mpsc::unbounded();
        tx.unbounded_send(Op::Attach {
            session_id: session.to_string(),
            after_seq: 0,
        })
        .unwrap();
        let mut events = c.stream(rx).await.unwrap();
        let read = async {
            while let Some(e) = events.next().await {
                let e: Event = e.unwrap();
                if let EventKind::ApprovalRequested(a) = e.kind {
                    return *a;
                }
            }
            panic!("the replay ended without an approval request");
        };
        let a = tokio::time::timeout(LIMIT, read)
            .await
            .expect("no approval request");
        drop(tx);
        a
    })
}

/// An approval of `a` naming `hash`, sent to toolsd by this process (not
/// a planner's).
fn approve_with_hash(
    env: &Env,
    session: &str,
    a: &ApprovalNeeded,
    hash: &str,
) -> aios_proto::ApiError {
    runtime().block_on(async {
        let ch = aios_proto::connect(&env.runtime_dir().join("toolsd.sock"))
            .await
            .unwrap();
        ToolsClient::new(ch)
            .approve(ApprovalAnswer {
                session_id: session.to_string(),
                call_id: a.call_id.clone(),
                call_hash: hash.to_string(),
                decision: Decision::Approve,
                confirm: None,
                automatic: false,
            })
            .await
            .unwrap_err()
    })
}

/// The ledger holds the request, the approval and the result of the
/// write, and its chain verifies.
fn ledger_shows_the_approved_write(env: &Env, request: &str, hash: &str) {
    let mine = env.audit_verified("fs.write");
    let kinds: Vec<&str> = mine
        .iter()
        .map(|r| r["entry"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["intent", "outcome"], "{mine:#?}");
    for r in &mine {
        assert_eq!(r["entry"]["request"], request, "{r:#}");
        assert_eq!(r["entry"]["call_hash"], hash, "{r:#}");
        assert_eq!(r["entry"]["decision"]["approved_by"]["uid"], 0, "{r:#}");
    }
    assert_eq!(mine[1]["entry"]["status"], "ok", "{:#}", mine[1]);
}

fn script(target: &std::path::Path) -> Value {
    json!({"turns": [
        {"text": "Writing the greeting.",
         "tool_calls": [{"name": "fs.write", "args": {"path": target, "content": "hello\n"}}]},
        {"text": "Written, after the restart."}
    ]})
}

#[test]
fn the_line_mode_answers_an_approval_that_waited_through_an_aiosd_restart() {
    if !aios_tests::root_or_skip() {
        return;
    }
    let (_data, target, env) = setup();
    let line = start(&env, "line", &["--line"]);
    line.wait_for(&["aios> "]);
    line.line("write a greeting");
    line.wait_for(&["? approve fs.write", "allow? [y]es once"]);
    let id = session_id(&env);
    let pid = kill_aiosd(&env);

    // The same session comes back with the approval asked again.
    line.wait_for(&[
        &format!("reconnected to session {id}"),
        "it still waits (toolsd kept it)",
    ]);
    wait_until(
        "the approval asked again",
        LIMIT,
        || line.history_joined(),
        || {
            // The card is shown again, and its question asked below it
            // (the first question's prompt stepped aside when the
            // connection broke).
            let h = line.history_joined();
            let again = h.rsplit_once("it still waits (toolsd kept it)")?.1;
            (again.contains("? approve fs.write") && again.contains("allow? [y]es once"))
                .then_some(())
        },
    );
    assert_ne!(env.daemon_pid("aiosd"), Some(pid), "a new aiosd answers");
    assert!(!target.exists(), "nothing is written before the approval");

    // An approval naming another call is refused; the call still waits.
    let a = asked(&env, &id);
    let e = approve_with_hash(&env, &id, &a, &"0".repeat(64));
    assert_eq!(e.kind, ApiErrorKind::PermissionDenied, "{e:?}");
    assert!(e.message.contains("different call"), "{e:?}");
    assert!(!target.exists());

    line.line("y");
    line.wait_for(&["Written, after the restart."]);
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "hello\n");
    ledger_shows_the_approved_write(&env, "write a greeting", &a.call_hash);
}

#[test]
fn the_tui_answers_an_approval_that_waited_through_an_aiosd_restart() {
    if !aios_tests::root_or_skip() {
        return;
    }
    let (_data, target, env) = setup();
    let tui = start(&env, "tui", &[]);
    tui.wait_for(&["request"]);
    tui.line("write a greeting");
    tui.wait_for(&["? approve fs.write", "[y] once", "approval(s) pending"]);
    kill_aiosd(&env);
    // The card is asked again in place of the old one.
    tui.wait_for(&["reconnected to session", "asked again below"]);
    wait_until(
        "the approval pending again",
        LIMIT,
        || tui.screen(),
        || tui.screen().contains("approval(s) pending").then_some(()),
    );
    assert!(!target.exists());
    tui.literal("y");
    wait_until(
        "the approved write",
        LIMIT,
        || tui.screen(),
        || (std::fs::read_to_string(&target).ok()? == "hello\n").then_some(()),
    );
    tui.wait_for(&["Written, after the restart."]);
    let a = asked(&env, &session_id(&env));
    ledger_shows_the_approved_write(&env, "write a greeting", &a.call_hash);
}

#[test]
fn an_approval_nobody_answers_expires_after_the_restart_and_the_turn_ends() {
    if !aios_tests::root_or_skip() {
        return;
    }
    let (_data, target, env) = setup();
    // Long enough to see the card, short enough to wait for.
    std::fs::create_dir_all(env.user_config().parent().unwrap()).unwrap();
    std::fs::write(env.user_config(), "[turn]\napproval_timeout_secs = 6\n").unwrap();
    let line = start(&env, "expire", &["--line"]);
    line.wait_for(&["aios> "]);
    line.line("write a greeting");
    line.wait_for(&["? approve fs.write", "allow? [y]es once"]);
    let id = session_id(&env);
    kill_aiosd(&env);
    line.wait_for(&[&format!("reconnected to session {id}")]);

    // Nobody answers: toolsd refuses the call as expired, the resumed turn
    // records that and goes on to its end.
    let logs = || {
        let read = |d: &str| {
            std::fs::read_to_string(env.state_dir().join(format!("log/{d}.log")))
                .unwrap_or_default()
        };
        format!(
            "{}\n--- toolsd ---\n{}\n--- aiosd ---\n{}",
            line.history_joined(),
            read("toolsd"),
            read("aiosd")
        )
    };
    wait_until(
        "the expired call's end and the turn's answer",
        LIMIT,
        logs,
        || {
            line.history_joined()
                .contains("Written, after the restart.")
                .then_some(())
        },
    );
    // The question is dropped once the call ended, and the user sees why.
    line.wait_for(&[
        "the approval of fs.write is no longer asked",
        "so the call expired",
    ]);
    assert!(!target.exists(), "an expired call never runs");
    let refusals = env.audit_verified("fs.write");
    assert_eq!(refusals.len(), 1, "{refusals:#?}");
    let entry = &refusals[0]["entry"];
    assert_eq!(
        (entry["kind"].as_str(), entry["status"].as_str()),
        (Some("refusal"), Some("denied")),
        "{entry:#}"
    );
    assert!(
        entry.to_string().contains("so the call expired"),
        "the ledger says why: {entry:#}"
    );
}
