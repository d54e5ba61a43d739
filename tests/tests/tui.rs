//! The full-screen TUI in a real terminal: tmux runs the real `aios`
//! against the real daemons and the scripted provider; the tests type keys
//! with `send-keys` and wait on `capture-pane` with a timeout, never a
//! sleep.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aios_tests::tmux::{LIMIT, Spawn, Tmux};
use aios_tests::{Env, wait_until};
use serde_json::json;

/// `aios ARGS` in a `w`×`h` colour pane with `TERM=term` (and `extra`
/// variables), in `env`.
fn start(env: &Env, w: u16, h: u16, term: &str, extra: &[(&str, &str)], args: &[&str]) -> Tmux {
    let mut spawn = Spawn::new("tui").size(w, h).term(term).env(env).colour();
    for (k, v) in extra {
        spawn = spawn.var(k, v);
    }
    spawn.aios(args)
}

fn listing_script(dir: &std::path::Path) -> serde_json::Value {
    json!({"turns": [
        {"text": "Looking at the folder.",
         "tool_calls": [{"name": "fs.list", "args": {"path": dir}}]},
        {"text": "## Found\n\nThere is **one** file:\n- `notes.txt`\n"}
    ]})
}

#[test]
fn a_request_shows_its_tool_card_and_answer_and_exit_leaves_the_transcript() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("notes.txt"), "hi\n").unwrap();
    let env = Env::scripted(&listing_script(data.path()));
    let tmux = start(&env, 80, 24, "xterm-256color", &[], &[]);
    // The status bar says the scripted provider answers on this machine,
    // and that the daemon set answered the health probe.
    tmux.wait_for(&["request", "scripted", "(local)", "daemons ok"]);
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "1",
        "the TUI uses the alternate screen"
    );
    // The wheel is reported (button presses in SGR form), pointer motion
    // is not asked for.
    assert_eq!(
        tmux.format("#{mouse_standard_flag}#{mouse_sgr_flag}#{mouse_all_flag}"),
        "110",
        "mouse modes while the TUI runs"
    );
    tmux.literal("what is in the folder?");
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for(&["fs.list", "ok", "There is one file:", "• notes.txt"]);
    assert!(s.contains("› what is in the folder?"), "{s}");
    assert!(s.contains("Found"), "{s}");
    // Ctrl-D on the empty prompt leaves.
    tmux.keys(&["C-d"]);
    assert_eq!(tmux.wait_exit(), 0);
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "0",
        "the terminal was not restored"
    );
    assert_eq!(
        tmux.format("#{mouse_standard_flag}#{mouse_sgr_flag}"),
        "00",
        "mouse reporting was left on"
    );
    let history = tmux.history();
    for seen in ["› what is in the folder?", "fs.list", "There is one file:"] {
        assert!(
            history.contains(seen),
            "{seen:?} is not in the scrollback:\n{history}"
        );
    }
}

/// A TUI whose scripted model asks to write `hello\n` into a new file
/// under /var/tmp and then says `Written.`. Fields drop in order: the tmux
/// server (and aios) first, then the file's directory, then the daemons.
struct WriteAsked {
    tmux: Tmux,
    target: std::path::PathBuf,
    _data: tempfile::TempDir,
    _env: Env,
}

/// [`WriteAsked`] in a `w`×`h` pane, the request sent; `None` when not root
/// (changing files through toolsd needs the daemons to run as root).
fn waiting_on_a_write(w: u16, h: u16) -> Option<WriteAsked> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: changing files through toolsd needs the daemons to run as root");
        return None;
    }
    let data = aios_tests::scratch("aios-tui");
    let target = data.path().join("greeting.txt");
    let env = Env::scripted(&json!({"turns": [
        {"text": "Writing the greeting.",
         "tool_calls": [{"name": "fs.write", "args": {"path": target, "content": "hello\n"}}]},
        {"text": "Written."}
    ]}));
    let tmux = start(&env, w, h, "xterm-256color", &[], &[]);
    tmux.wait_for(&["request"]);
    tmux.literal("write a greeting");
    tmux.keys(&["Enter"]);
    Some(WriteAsked {
        tmux,
        target,
        _data: data,
        _env: env,
    })
}

#[test]
fn an_approval_card_answered_with_y_runs_the_change() {
    let Some(w) = waiting_on_a_write(100, 30) else {
        return;
    };
    let (tmux, target) = (&w.tmux, &w.target);
    let card = tmux.wait_for(&["? approve fs.write", "[y] once"]);
    assert!(card.contains("approval(s) pending"), "{card}");
    assert!(!target.exists(), "the change ran before it was approved");
    tmux.keys(&["y"]);
    tmux.wait_for(&["→ approved once", "Written."]);
    assert_eq!(std::fs::read_to_string(target).unwrap(), "hello\n");
    tmux.keys(&["C-d"]);
    assert_eq!(tmux.wait_exit(), 0);
}

#[test]
fn an_approval_card_answered_with_n_changes_nothing_and_the_ledger_records_it() {
    let Some(w) = waiting_on_a_write(100, 30) else {
        return;
    };
    let (tmux, target) = (&w.tmux, &w.target);
    tmux.wait_for(&["? approve fs.write", "[y] once"]);
    tmux.keys(&["n"]);
    tmux.literal("not today");
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["→ rejected: not today"]);
    // The turn goes on without the write (the model is told).
    tmux.wait_for(&["Written."]);
    assert!(!target.exists(), "a rejected write ran");
    let out = w._env.aios(
        &["audit", "log", "--json", "--tool", "fs.write"],
        b"",
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let entries: Vec<serde_json::Value> = aios_tests::json_lines(&out.stdout);
    let rejected: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|r| r["entry"].to_string().contains("not today"))
        .collect();
    assert_eq!(
        rejected.len(),
        1,
        "the rejection, with its note: {entries:#?}"
    );
    assert!(
        !entries
            .iter()
            .any(|r| r["entry"]["kind"] == "outcome" && r["entry"].to_string().contains("\"ok\"")),
        "{entries:#?}"
    );
    tmux.keys(&["C-d"]);
    assert_eq!(tmux.wait_exit(), 0);
}

#[test]
fn always_shows_the_rule_toolsd_would_save_before_anything_is_saved() {
    let Some(w) = waiting_on_a_write(110, 40) else {
        return;
    };
    let (tmux, target) = (&w.tmux, &w.target);
    tmux.wait_for(&["? approve fs.write", "[y] once"]);
    tmux.keys(&["a"]);
    // The rule comes from toolsd, which would write it. (Saving it is
    // toolsd's test: here the daemons run as root, whose real policy file
    // in /root is not the test's to change.)
    let s = tmux.wait_for(&["[[rule]]", "save the rule?"]);
    assert!(s.contains(&format!("{}", target.display())), "{s}");
    assert!(!target.exists(), "nothing runs before the confirmation");
    // Any other key goes back to the choice; then once.
    tmux.keys(&["x"]);
    tmux.wait_for(&["no rule written"]);
    tmux.keys(&["y"]);
    tmux.wait_for(&["→ approved once", "Written."]);
    assert_eq!(std::fs::read_to_string(target).unwrap(), "hello\n");
}

#[test]
fn ctrl_c_interrupts_streaming_and_twice_on_an_idle_prompt_exits() {
    let chunks: Vec<String> = (0..300).map(|i| format!("part {i}\n")).collect();
    let env = Env::scripted(&json!({"turns": [{"chunks": chunks, "delay_ms": 50}]}));
    let tmux = start(&env, 80, 24, "xterm-256color", &[], &[]);
    tmux.wait_for(&["request"]);
    tmux.literal("tell me a long story");
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["part 3"]);
    tmux.keys(&["C-c"]);
    let s = tmux.wait_for(&["warning: interrupted"]);
    assert!(
        !s.contains("part 299"),
        "the answer was not interrupted: {s}"
    );
    tmux.keys(&["C-c"]);
    tmux.wait_for(&["press Ctrl-C again to exit"]);
    tmux.keys(&["C-c"]);
    // The interrupted turn is the last one: exit 1, as in line mode.
    assert_eq!(tmux.wait_exit(), 1);
    assert_eq!(tmux.format("#{alternate_on}"), "0");
    assert!(tmux.history().contains("part 3"));
}

#[test]
fn the_linux_console_gets_eight_colours_and_cp437_glyphs() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("notes.txt"), "hi\n").unwrap();
    let env = Env::scripted(&listing_script(data.path()));
    let tmux = start(&env, 80, 24, "linux", &[("COLORTERM", "truecolor")], &[]);
    tmux.wait_for(&["request"]);
    tmux.literal("list it");
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for(&["√ ok", "- notes.txt"]);
    assert!(
        !s.contains('•') && !s.contains('✓') && !s.contains('╭'),
        "{s}"
    );
    let escaped = tmux.screen_escaped();
    // tmux re-encodes what it drew: only the eight base colours appear
    // (30–37/40–47), no bright (90–97, 100–107), 256-colour or RGB ones.
    let params = sgr_params(&escaped);
    assert!(
        params.iter().any(|p| (31..=37).contains(p)),
        "no colour at all: {escaped:?}"
    );
    for p in &params {
        assert!(
            !matches!(p, 38 | 48 | 90..=97 | 100..=107),
            "SGR {p} on an 8-colour console: {escaped:?}"
        );
    }
    tmux.keys(&["C-d"]);
    assert_eq!(tmux.wait_exit(), 0);
}

#[test]
fn a_40_by_12_terminal_still_shows_the_answer_prompt_and_status() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("notes.txt"), "hi\n").unwrap();
    let env = Env::scripted(&listing_script(data.path()));
    let tmux = start(&env, 40, 12, "xterm-256color", &[], &[]);
    tmux.wait_for(&["request", "scripted"]);
    tmux.literal("what is in the folder?");
    tmux.keys(&["Enter"]);
    let s = tmux.wait_for(&["• notes.txt", "scripted"]);
    assert!(s.lines().all(|l| l.chars().count() <= 40), "{s}");
    // Resize: the transcript reflows.
    tmux.ok(&["resize-window", "-t", "t", "-x", "60", "-y", "12"]);
    tmux.wait_for(&["There is one file:"]);
    tmux.keys(&["C-d"]);
    assert_eq!(tmux.wait_exit(), 0);
}

/// Every numeric parameter of every SGR sequence (`ESC [ … m`) in `text`.
fn sgr_params(text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in text.split("\x1b[").skip(1) {
        let Some(end) = part.find(|c: char| !(c.is_ascii_digit() || c == ';')) else {
            continue;
        };
        if part[end..].starts_with('m') {
            out.extend(part[..end].split(';').filter_map(|n| n.parse::<u32>().ok()));
        }
    }
    out
}

#[test]
fn slash_help_lists_the_commands_tab_completes_and_tools_answers_in_the_transcript() {
    let env = Env::scripted(&json!({"turns": [{"text": "unused"}]}));
    let tmux = start(&env, 100, 40, "xterm-256color", &[], &[]);
    tmux.wait_for(&["request", "scripted"]);
    tmux.literal("/help");
    tmux.keys(&["Enter"]);
    tmux.wait_for(&[
        "Commands (Tab completes them)",
        "/tools [describe NAME]",
        "/why ID",
        "/quit",
    ]);
    // Any key closes help.
    tmux.keys(&["Escape"]);
    wait_until(
        "help to close",
        LIMIT,
        || tmux.screen(),
        || (!tmux.screen().contains("Commands (Tab")).then_some(()),
    );
    tmux.literal("/to");
    tmux.keys(&["Tab"]);
    // (capture-pane drops the trailing space Tab added)
    tmux.wait_for(&["› /tools"]);
    tmux.keys(&["Enter"]);
    // The same text as `aios tools`, as a note in the transcript (the
    // list is long; its end is on screen).
    tmux.wait_for(&["user.list", "read-only", "changes the system"]);
    // Tool names complete after `/tools describe`.
    tmux.literal("/tools describe fs.rea");
    tmux.keys(&["Tab"]);
    tmux.wait_for(&["› /tools describe fs.read"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["note: /tools describe fs.read"]);
    // A mistyped command keeps the line and names the nearest one.
    tmux.literal("/tols");
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["unknown command /tols: did you mean /tools?", "› /tols"]);
    tmux.keys(&["C-c"]);
    tmux.keys(&["C-d"]);
    assert_eq!(tmux.wait_exit(), 0);
}

#[test]
fn history_survives_a_restart_up_recalls_and_ctrl_r_finds_an_older_request() {
    let env = Env::scripted(&json!({"turns": [
        {"text": "First answer."},
        {"text": "Second answer."}
    ]}));
    {
        let tmux = start(&env, 100, 30, "xterm-256color", &[], &[]);
        tmux.wait_for(&["request", "scripted"]);
        tmux.literal("remember alpha please");
        tmux.keys(&["Enter"]);
        tmux.wait_for(&["First answer."]);
        tmux.literal("and then beta");
        tmux.keys(&["Enter"]);
        tmux.wait_for(&["Second answer."]);
        tmux.keys(&["C-d"]);
        assert_eq!(tmux.wait_exit(), 0);
    }
    assert!(env.state_dir().join("history.sqlite").is_file());
    // A new aios (a new session): Up recalls the last request.
    let tmux = start(&env, 100, 30, "xterm-256color", &[], &[]);
    tmux.wait_for(&["request", "scripted"]);
    tmux.keys(&["Up"]);
    tmux.wait_for(&["› and then beta"]);
    tmux.keys(&["Up"]);
    tmux.wait_for(&["› remember alpha please"]);
    tmux.keys(&["Down", "Down"]);
    wait_until(
        "Down to give back the empty draft",
        LIMIT,
        || tmux.screen(),
        || (!tmux.screen().contains("› and then beta")).then_some(()),
    );
    // Ctrl-R: type to filter; Enter puts the match in the input.
    tmux.keys(&["C-r"]);
    tmux.wait_for(&["history search: _"]);
    tmux.literal("alp");
    tmux.wait_for(&["history search: alp_", "› remember alpha please"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["request · Enter sends", "› remember alpha please"]);
    tmux.keys(&["C-c"]);
    tmux.keys(&["C-d"]);
    assert_eq!(tmux.wait_exit(), 0);
}

#[test]
fn slash_undo_asks_on_an_approval_card_and_restores_the_file() {
    if !aios_tests::root_or_skip() {
        return;
    }
    let data = aios_tests::scratch("aios-tui");
    let motd = data.path().join("motd");
    std::fs::write(&motd, "old text\n").unwrap();
    let env = Env::scripted(&json!({"turns": [
        {"text": "Updating.",
         "tool_calls": [{"name": "fs.write", "args": {"path": motd, "content": "new text\n"}}]},
        {"text": "Done."}
    ]}));
    let out = env.aios(&["-p", "change the motd", "--approve=all"], b"", LIMIT);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(std::fs::read_to_string(&motd).unwrap(), "new text\n");
    let out = env.aios(
        &["audit", "log", "--json", "--tool", "fs.write"],
        b"",
        LIMIT,
    );
    let id = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["entry"]["kind"] == "outcome")
        .and_then(|r| r["id"].as_u64())
        .expect("the write's outcome in the ledger");

    let tmux = start(&env, 120, 40, "xterm-256color", &[], &[]);
    tmux.wait_for(&["request"]);
    // `/why` shows the chain behind the entry, as `aios why` does.
    tmux.literal(&format!("/why {id}"));
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["request:   change the motd", "call:      fs.write"]);
    tmux.literal(&format!("/undo {id}"));
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["? approve fs.restore"]);
    assert_eq!(std::fs::read_to_string(&motd).unwrap(), "new text\n");
    tmux.keys(&["y"]);
    tmux.wait_for(&["→ approved once"]);
    tmux.wait_for(&[&format!("undo #{id}:")]);
    assert_eq!(std::fs::read_to_string(&motd).unwrap(), "old text\n");
    tmux.keys(&["C-d"]);
    assert_eq!(tmux.wait_exit(), 0);
}

/// The rows of `text` that hold one of `needles`, trailing blanks cut.
fn rows_with(text: &str, needles: &[&str]) -> Vec<String> {
    text.lines()
        .filter(|l| needles.iter().any(|n| l.contains(n)))
        .map(|l| l.trim_end().to_string())
        .collect()
}

#[test]
fn the_line_mode_draws_the_same_cells_as_the_tui() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("notes.txt"), "hi\n").unwrap();
    let needles = [
        "fs.list [read]",
        "Found",
        "There is one file:",
        "• notes.txt",
    ];

    // The TUI's transcript, left in the scrollback on exit.
    let env = Env::scripted(&listing_script(data.path()));
    let tui = start(&env, 80, 24, "xterm-256color", &[], &[]);
    tui.wait_for(&["request", "scripted"]);
    tui.literal("what is in the folder?");
    tui.keys(&["Enter"]);
    tui.wait_for(&["• notes.txt"]);
    tui.keys(&["C-d"]);
    assert_eq!(tui.wait_exit(), 0);
    let drawn = rows_with(&tui.history(), &needles);

    // The line mode, on the same terminal size: the same rows, markdown
    // rendered (no `##`, no `**`), the tool card as the TUI draws it.
    let env = Env::scripted(&listing_script(data.path()));
    let line = start(&env, 80, 24, "xterm-256color", &[], &["--line"]);
    line.wait_for(&["aios>"]);
    line.literal("what is in the folder?");
    line.keys(&["Enter"]);
    line.wait_for(&["• notes.txt", "✓ ok"]);
    wait_until(
        "the prompt after the answer",
        LIMIT,
        || line.history(),
        || (line.history().matches("aios>").count() == 2).then_some(()),
    );
    let printed = rows_with(&line.history(), &needles);
    assert_eq!(printed.len(), needles.len(), "{}", line.history());
    assert_eq!(printed, drawn, "{}", line.history());
    assert!(!line.history().contains("##") && !line.history().contains("**"));
    // The typed request is not echoed back as a cell.
    assert!(!line.history().contains("› what is"), "{}", line.history());
    line.literal("exit");
    line.keys(&["Enter"]);
    assert_eq!(line.wait_exit(), 0);
}

/// tmux's newest paste buffer, once an OSC 52 copy has made one.
fn copied(tmux: &Tmux) -> Option<String> {
    let out = tmux.run(&["show-buffer"]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn ctrl_y_and_slash_copy_put_the_answer_on_the_clipboard_with_osc_52() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("notes.txt"), "hi\n").unwrap();
    let answer = "## Found\n\nThere is **one** file:\n- `notes.txt`";

    // tmux takes an application's OSC 52 into a paste buffer (as a
    // terminal emulator would into its clipboard) when set-clipboard is on.
    let env = Env::scripted(&listing_script(data.path()));
    let tui = start(&env, 80, 24, "xterm-256color", &[], &[]);
    tui.ok(&["set-option", "-s", "set-clipboard", "on"]);
    tui.wait_for(&["request", "scripted"]);
    assert_eq!(copied(&tui), None, "no buffer before the copy");
    tui.literal("what is in the folder?");
    tui.keys(&["Enter"]);
    tui.wait_for(&["• notes.txt"]);
    tui.keys(&["C-y"]);
    tui.wait_for(&["copied the answer"]);
    let got = wait_until("the OSC 52 copy", LIMIT, || tui.screen(), || copied(&tui));
    assert_eq!(got, answer, "the answer's markdown, as the model wrote it");
    tui.keys(&["C-d"]);
    assert_eq!(tui.wait_exit(), 0);

    // The line mode's /copy sends the same.
    let env = Env::scripted(&listing_script(data.path()));
    let line = start(&env, 80, 24, "xterm-256color", &[], &["--line"]);
    line.ok(&["set-option", "-s", "set-clipboard", "on"]);
    line.wait_for(&["aios>"]);
    line.literal("/copy");
    line.keys(&["Enter"]);
    line.wait_for(&["no answer or card to copy yet"]);
    assert_eq!(copied(&line), None);
    line.literal("what is in the folder?");
    line.keys(&["Enter"]);
    line.wait_for(&["• notes.txt"]);
    line.literal("/copy");
    line.keys(&["Enter"]);
    line.wait_for(&["copied the answer"]);
    let got = wait_until("the OSC 52 copy", LIMIT, || line.screen(), || copied(&line));
    assert_eq!(got, answer);
    // The sequence itself never shows.
    assert!(!line.history().contains("52;c;"), "{}", line.history());
    line.literal("exit");
    line.keys(&["Enter"]);
    assert_eq!(line.wait_exit(), 0);
}

#[test]
fn a_users_keymap_is_merged_over_the_default_and_a_bad_one_is_named() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("notes.txt"), "hi\n").unwrap();
    let env = Env::scripted(&listing_script(data.path()));
    let config = env.dir.path().join("config/aios");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("keys.toml"), "[keys]\ncopy = [\"ctrl-t\"]\n").unwrap();
    let tui = start(&env, 100, 40, "xterm-256color", &[], &[]);
    tui.ok(&["set-option", "-s", "set-clipboard", "on"]);
    tui.wait_for(&["request", "scripted"]);
    // Help shows the user's key for the command.
    tui.keys(&["F1"]);
    let help = tui.wait_for(&["Ctrl-T"]);
    assert!(!help.contains("Ctrl-Y"), "{help}");
    tui.keys(&["Escape"]);
    tui.literal("what is in the folder?");
    tui.keys(&["Enter"]);
    tui.wait_for(&["• notes.txt"]);
    // The new key copies; the default one no longer does.
    tui.keys(&["C-y"]);
    tui.keys(&["C-t"]);
    tui.wait_for(&["copied the answer"]);
    let got = wait_until("the OSC 52 copy", LIMIT, || tui.screen(), || copied(&tui));
    assert!(got.contains("There is **one** file:"), "{got}");
    assert_eq!(tui.screen().matches("copied the answer").count(), 1);
    tui.keys(&["C-d"]);
    assert_eq!(tui.wait_exit(), 0);

    // A binding that clashes: named, and the default keys kept.
    std::fs::write(config.join("keys.toml"), "[keys]\ncopy = [\"ctrl-c\"]\n").unwrap();
    let tui = start(&env, 160, 30, "xterm-256color", &[], &[]);
    tui.wait_for(&[
        "keys.toml",
        "Ctrl-C is bound to both interrupt and copy",
        "using the default keys",
    ]);
    tui.keys(&["C-d"]);
    assert_eq!(tui.wait_exit(), 0);
}

#[test]
fn the_line_mode_runs_the_same_slash_commands() {
    let env = Env::scripted(&json!({"turns": [{"text": "unused"}]}));
    let tmux = start(&env, 100, 30, "xterm-256color", &[], &["--line"]);
    tmux.wait_for(&["aios>"]);
    tmux.literal("/help");
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["/tools [describe NAME]", "/why ID"]);
    tmux.literal("/tools describe fs.read");
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["fs.read", "read-only"]);
    tmux.literal("/hlep");
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["did you mean /help?"]);
    // /clear clears the screen with a real escape, not a shown one.
    tmux.literal("/clear");
    tmux.keys(&["Enter"]);
    wait_until(
        "the screen to clear",
        LIMIT,
        || tmux.screen(),
        || {
            let s = tmux.screen();
            (!s.contains("did you mean") && s.contains("aios>")).then_some(())
        },
    );
    assert!(!tmux.screen().contains('␛'));
    tmux.literal("/quit");
    tmux.keys(&["Enter"]);
    assert_eq!(tmux.wait_exit(), 0);
    // The line mode records into the same history as the TUI.
    assert!(env.state_dir().join("history.sqlite").is_file());
}

#[test]
fn a_broken_theme_file_is_named_and_the_shell_draws_with_the_default() {
    let env = Env::scripted(&json!({"turns": [
        {"text": "| disk | use |\n|---|--:|\n| / | 93% |\n\n```sh\ndf -h /\n```\n"}
    ]}));
    let themes = env.dir.path().join("config/aios/themes");
    std::fs::create_dir_all(&themes).unwrap();
    std::fs::write(
        themes.join("mine.toml"),
        "inherits = \"light\"\n[styles]\nuser = { fg = \"bleu\" }\n",
    )
    .unwrap();
    std::fs::write(themes.join("calm.toml"), "inherits = \"light\"\n").unwrap();
    let tmux = start(
        &env,
        120,
        30,
        "xterm-256color",
        &[("AIOS_THEME", "mine")],
        &[],
    );
    // Words, not phrases: the long path wraps the warning.
    tmux.wait_for(&[
        "mine.toml:3:",
        "styles.user.fg:",
        "\"bleu\"",
        "no theme \"mine\"",
        "default-dark",
        "request",
    ]);
    tmux.literal("/theme ca");
    tmux.keys(&["Tab", "Enter"]);
    tmux.wait_for(&["now drawing with calm"]);
    tmux.literal("how full is it?");
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["│ /    │ 93% │", "df -h /"]);
    tmux.keys(&["C-d"]);
    assert_eq!(tmux.wait_exit(), 0);
}

/// The SGR sequences (`ESC [ ... m`) on the first line of `screen` that
/// contains `needle`.
fn sgr_on_line<'a>(screen: &'a str, needle: &str) -> std::collections::HashSet<&'a str> {
    screen
        .lines()
        .find(|l| l.contains(needle))
        .map(|l| {
            l.split("\x1b[")
                .skip(1)
                .filter_map(|p| p.split_once('m').map(|(sgr, _)| sgr))
                .filter(|sgr| sgr.contains("38;"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_code_block_is_highlighted_once_its_language_is_warm() {
    // The TUI warms syntect off its UI thread: the block may first be drawn
    // plain, and is drawn again, highlighted, when Rust's syntax is ready.
    let env = Env::scripted(&json!({"turns": [
        {"text": "Here:\n\n```rust\nfn main() { let greeting = \"hi\"; }\n```\n"}
    ]}));
    let tmux = start(&env, 80, 24, "xterm-256color", &[], &[]);
    tmux.wait_for(&["request"]);
    tmux.literal("show me some rust");
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["let greeting"]);
    wait_until(
        "the code block in several colours",
        LIMIT,
        || tmux.screen_escaped(),
        || (sgr_on_line(&tmux.screen_escaped(), "greeting =").len() >= 3).then_some(()),
    );
    tmux.keys(&["C-d"]);
    assert_eq!(tmux.wait_exit(), 0);
}
