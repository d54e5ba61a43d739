//! `aios` as a login shell over ssh (issue 10 §8): a real OpenSSH server
//! on loopback (`aios_tests::sshd`), a throwaway user whose shell is the
//! built `aios`, the user's own daemons under `initd --user`, and the
//! scripted provider. One-shot JSON over ssh, `/bin/sh -c` meaning for
//! remote commands and scp, the TUI over `ssh -t` in tmux, and a dropped
//! connection whose pending approval `aios attach` picks up.
//!
//! These need root and `/usr/sbin/sshd`; without them they say so and
//! skip. Every wait is on a condition with a timeout, never a sleep.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aios_tests::sshd::Host;
use aios_tests::tmux::{LIMIT, Spawn, Tmux};
use aios_tests::{Env, first, json_lines, types, wait_until};
use serde_json::{Value, json};

/// A host whose user's model lists the home folder (which holds
/// `notes.txt`) and then answers.
fn listing_host() -> Option<Host> {
    let env = Env::empty();
    let home = env.dir.path().join("home");
    std::fs::write(home.join("notes.txt"), "hi\n").unwrap();
    let script = json!({"turns": [
        {"text": "Looking at the folder.",
         "tool_calls": [{"name": "fs.list", "args": {"path": home}}]},
        {"text": "## Found\n\nThere is **one** file:\n- `notes.txt`\n"}
    ]});
    Host::start(env.with_script(&script))
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Require a zero exit, showing stderr and sshd's log otherwise.
fn ok(host: &Host, what: &str, out: &std::process::Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: stdout {}\nstderr {}\nsshd log:\n{}",
        stdout(out),
        String::from_utf8_lossy(&out.stderr),
        host.log()
    );
}

#[test]
fn a_one_shot_request_over_ssh_streams_json_events() {
    let Some(host) = listing_host() else { return };
    let out = host.ssh("aios -p 'what is in my home?' --json", b"");
    ok(&host, "aios -p over ssh", &out);
    let events = json_lines(&out.stdout);
    let t = types(&events);
    assert_eq!(
        t.first().map(String::as_str),
        Some("session_started"),
        "{t:?}"
    );
    assert!(t.iter().any(|k| k == "turn_started"), "{t:?}");
    assert_eq!(
        t.last().map(String::as_str),
        Some("turn_completed"),
        "{t:?}"
    );
    let end = first(&events, "tool_call_end");
    assert_eq!(end["status"], "ok", "{end}");
    assert!(end["result"].to_string().contains("notes.txt"), "{end}");
    let text: String = events
        .iter()
        .filter(|e| e["type"] == "assistant_delta")
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert!(text.contains("There is **one** file"), "{text:?}");
}

#[test]
fn remote_commands_and_scp_keep_posix_shell_meaning() {
    let Some(host) = listing_host() else { return };
    // sshd runs `aios -c CMD`, which is `/bin/sh -c CMD`: quoting, `$`
    // expansion, pipes and the exit status are the shell's.
    let out = host.ssh("echo \"hi $USER\" | tr a-z A-Z; echo \"$SHELL\"", b"");
    ok(&host, "a remote command", &out);
    let text = stdout(&out);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(format!("HI {}", host.user.to_uppercase()).as_str())
    );
    assert!(
        lines.next().is_some_and(|l| l.ends_with("/aios")),
        "the login shell is aios: {text}"
    );
    let out = host.ssh("exit 3", b"");
    assert_eq!(out.status.code(), Some(3), "the exit status comes through");
    let out = host.ssh("cat > copied-by-stdin; wc -c < copied-by-stdin", b"12345");
    ok(&host, "stdin through the shell", &out);
    assert_eq!(stdout(&out).trim(), "5");

    // scp both ways, over SFTP (scp's default; sshd runs sftp-server
    // through the login shell) and over the old protocol (`scp -t`/`-f`
    // run by the login shell).
    let local = tempfile::tempdir().unwrap();
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(local.path().join("up.bin"), &payload).unwrap();
    let up = local.path().join("up.bin").display().to_string();
    for (mode, flags) in [("sftp", &[][..]), ("legacy", &["-O"][..])] {
        let name = format!("remote-{mode}.bin");
        let mut args: Vec<&str> = flags.to_vec();
        let remote = format!("HOST:{name}");
        args.extend([up.as_str(), remote.as_str()]);
        let out = host.scp(&args);
        ok(&host, &format!("scp up ({mode})"), &out);
        assert_eq!(
            std::fs::read(host.home().join(&name)).unwrap(),
            payload,
            "{mode}"
        );
        let back = local.path().join(format!("down-{mode}.bin"));
        let back_s = back.display().to_string();
        let mut args: Vec<&str> = flags.to_vec();
        args.extend([remote.as_str(), back_s.as_str()]);
        let out = host.scp(&args);
        ok(&host, &format!("scp down ({mode})"), &out);
        assert_eq!(std::fs::read(&back).unwrap(), payload, "{mode}");
    }
}

/// The TUI of `ssh -t host [REMOTE]` in a 100×30 tmux pane.
fn ssh_tui(host: &Host, remote: &[&str]) -> Tmux {
    Spawn::new("ssh")
        .size(100, 30)
        .run(&host.ssh_argv(&["-t"], remote))
}

#[test]
fn the_tui_runs_over_ssh_t() {
    let Some(host) = listing_host() else { return };
    let tmux = ssh_tui(&host, &[]);
    tmux.wait_for(&["request", "scripted"]);
    assert_eq!(tmux.format("#{alternate_on}"), "1", "the TUI over ssh");
    tmux.line("what is in my home?");
    tmux.wait_for(&["fs.list", "There is one file:", "notes.txt"]);
    // Leaving the shell ends the ssh session.
    tmux.keys(&["C-d"]);
    assert_eq!(tmux.wait_exit(), 0);
}

/// The sessions the user's aiosd knows, asked over ssh.
fn sessions(host: &Host) -> Vec<Value> {
    let out = host.ssh("aios --json sessions", b"");
    ok(host, "aios sessions", &out);
    json_lines(&out.stdout)
}

#[test]
fn a_dropped_connection_leaves_the_approval_for_aios_attach() {
    let env = Env::empty();
    let target = env.dir.path().join("home/greeting.txt");
    let script = json!({"turns": [
        {"text": "Writing the greeting.",
         "tool_calls": [{"name": "fs.write", "args": {"path": target, "content": "hello\n"}}]},
        {"text": "Written."}
    ]});
    let Some(host) = Host::start(env.with_script(&script)) else {
        return;
    };
    let first_tui = ssh_tui(&host, &[]);
    first_tui.wait_for(&["request"]);
    first_tui.line("write a greeting");
    first_tui.wait_for(&["? approve fs.write", "[y] once"]);
    let listed = sessions(&host);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let id = listed[0]["id"].as_str().unwrap().to_string();

    // The connection drops: the ssh client dies without a word.
    let pid: i32 = first_tui.format("#{pane_pid}").parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until(
        "the ssh client to be gone",
        LIMIT,
        || first_tui.screen(),
        || (first_tui.format("#{pane_dead}") == "1").then_some(()),
    );
    drop(first_tui);
    assert!(!target.exists(), "nothing is written before an approval");

    // A new connection attaches to the session: the card is back, and
    // `y` runs the write.
    let again = ssh_tui(&host, &[&format!("aios attach {id}")]);
    again.wait_for(&["? approve fs.write", "[y] once"]);
    again.keys(&["y"]);
    again.wait_for(&["Written."]);
    wait_until(
        "the approved write",
        LIMIT,
        || again.screen(),
        || (std::fs::read_to_string(&target).ok()? == "hello\n").then_some(()),
    );
    assert_eq!(sessions(&host).len(), 1, "still one session");
}
