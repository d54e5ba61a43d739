//! The line mode's editor (issue 10 §6) in a real terminal (tmux), over
//! the real daemons with the scripted provider: Up recalls a request typed
//! in an earlier shell (the history file the TUI shares), Tab completes a
//! `/` command from the one table, and output that arrives at the prompt
//! (aiosd killed with `-9` while the user is typing) is printed above a
//! prompt that comes back with the half-typed line, wiping nothing.
//!
//! Every wait is on a condition with a timeout, never a sleep.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aios_tests::Env;
use aios_tests::tmux::{Spawn, Tmux, Watch};
use serde_json::json;

/// `aios --line` in a 100×30 pane in `env`, watching the scrollback.
fn line_mode(env: &Env, name: &str) -> Tmux {
    Spawn::new(&format!("editor-{name}"))
        .size(100, 30)
        .env(env)
        .watch(Watch::History)
        .aios(&["--line"])
}

fn history_rows(env: &Env) -> Vec<String> {
    let file = ["aios/history.sqlite", "history.sqlite"]
        .iter()
        .map(|f| env.state_dir().join(f))
        .find(|f| f.exists())
        .expect("the history file");
    let db = rusqlite::Connection::open(file).unwrap();
    let mut stmt = db.prepare("SELECT text FROM history ORDER BY id").unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn up_recalls_a_request_typed_in_an_earlier_shell() {
    // Each new session replays the script from its first turn.
    let env = Env::scripted(&json!({"turns": [{"text": "Marmots hibernate."}]}));
    let first = line_mode(&env, "first");
    first.wait_for(&["aios> "]);
    first.line("tell me about marmots");
    first.wait_for(&["Marmots hibernate."]);
    first.line("exit");
    assert_eq!(first.wait_exit(), 0);
    // Recorded once, by the line mode, with nothing else.
    assert_eq!(history_rows(&env), ["tell me about marmots"]);

    let second = line_mode(&env, "second");
    second.wait_for(&["aios> "]);
    second.keys(&["Up"]);
    second.wait_for(&["aios> tell me about marmots"]);
    second.keys(&["Enter"]);
    second.wait_for(&["Marmots hibernate."]);
    assert_eq!(
        history_rows(&env),
        ["tell me about marmots", "tell me about marmots"]
    );
}

#[test]
fn tab_completes_a_slash_command_from_the_one_table() {
    let env = Env::scripted(&json!({"turns": []}));
    let tmux = line_mode(&env, "tab");
    tmux.wait_for(&["aios> "]);
    tmux.literal("/he");
    tmux.keys(&["Tab"]);
    tmux.wait_for(&["aios> /help"]);
    tmux.keys(&["Enter"]);
    tmux.wait_for(&["Commands (Tab completes them):", "/grants [revoke ID]"]);
}

#[test]
fn output_at_the_prompt_steps_around_a_half_typed_line() {
    let env = Env::scripted(&json!({"turns": [{"text": "First answer here."}]}));
    let tmux = line_mode(&env, "aside");
    tmux.wait_for(&["aios> "]);
    tmux.line("say something");
    tmux.wait_for(&["First answer here."]);
    tmux.literal("half typed");
    tmux.wait_for(&["aios> half typed"]);
    let pid = env.daemon_pid("aiosd").expect("aiosd answers");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // The notice is printed where the prompt was; the prompt comes back
    // below it with the typed text, and nothing above was wiped.
    let screen = tmux.wait_for(&["reconnected to session"]);
    let screen = if screen.trim_end().ends_with("aios> half typed") {
        screen
    } else {
        aios_tests::wait_until(
            "the prompt back below the notice",
            aios_tests::tmux::LIMIT,
            || tmux.history_joined(),
            || {
                let s = tmux.history_joined();
                s.trim_end().ends_with("aios> half typed").then_some(s)
            },
        )
    };
    let notice = screen.find("reconnected to session").unwrap();
    let prompt = screen.rfind("aios> half typed").unwrap();
    assert!(notice < prompt, "{screen}");
    // The prompt's old rows were erased before the output, not left
    // behind above it.
    assert_eq!(screen.matches("aios> half typed").count(), 1, "{screen}");
    assert!(screen.contains("First answer here."), "{screen}");
    assert!(screen.contains("aios> say something"), "{screen}");
    // The line was kept, not sent: finishing it sends all of it.
    tmux.literal(" and done");
    tmux.wait_for(&["aios> half typed and done"]);
}
