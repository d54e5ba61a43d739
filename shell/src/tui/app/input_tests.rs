//! `/` commands, Tab completion and the history (Up/Down, Ctrl-R) as
//! keys in, effects out, over an in-memory history database.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::history::History;
use crate::transcript::Glyphs;

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn app() -> App {
    App::new(Theme::plain(), "ada@box".into())
}

fn type_text(a: &mut App, s: &str) -> Vec<Effect> {
    s.chars().flat_map(|c| a.on_key(key(c))).collect()
}

fn submit(a: &mut App, s: &str) -> Vec<Effect> {
    type_text(a, s);
    a.on_key(code(KeyCode::Enter))
}

fn notes(a: &App) -> Vec<String> {
    a.transcript
        .cells()
        .filter_map(|c| match c {
            crate::transcript::Cell::Notice { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_daemon_command_becomes_an_effect_and_its_answer_a_note() {
    let mut a = app();
    let fx = submit(&mut a, "/why 12");
    assert_eq!(
        fx,
        [Effect::Command {
            label: "/why 12".into(),
            request: Request::Why(12)
        }]
    );
    assert!(a.editor.is_empty());
    a.command_done("/why 12", Ok("request:   list\n".into()));
    a.command_done("/audit", Err("toolsd is not reachable".into()));
    assert_eq!(
        notes(&a),
        [
            "/why 12\nrequest:   list",
            "/audit: toolsd is not reachable"
        ]
    );
}

#[test]
fn local_commands_act_at_once() {
    let mut a = app();
    assert!(submit(&mut a, "/help").is_empty());
    assert!(a.help);
    a.on_key(key('x'));
    assert!(!a.help);
    assert_eq!(submit(&mut a, "/quit"), [Effect::Quit]);
    assert_eq!(submit(&mut a, "/theme console-16"), [Effect::Redraw]);
    assert_eq!(a.transcript.theme().name(), "console-16");
    assert_eq!(a.transcript.theme().glyphs, Glyphs::CONSOLE);
    assert_eq!(submit(&mut a, "/theme light"), [Effect::Redraw]);
    assert_eq!(
        (a.transcript.theme().name(), a.transcript.theme().glyphs),
        ("light", Glyphs::UNICODE),
        "the terminal's glyphs come back with a theme that names none"
    );
    submit(&mut a, "/theme nope");
    assert!(
        a.hint
            .as_deref()
            .is_some_and(|h| h.contains("light (current)"))
    );
    assert_eq!(submit(&mut a, "/undo 4"), [Effect::Undo(4)]);
}

#[test]
fn a_mistyped_command_keeps_the_line_and_names_the_nearest() {
    let mut a = app();
    assert!(submit(&mut a, "/tols").is_empty());
    assert_eq!(
        a.hint.as_deref(),
        Some("unknown command /tols: did you mean /tools? /help lists the commands")
    );
    assert_eq!(a.editor.text(), "/tols", "nothing typed is lost");
    assert!(
        a.history.is_empty(),
        "a line that did not run is not history"
    );
    // A path is a request, not a command.
    a.editor.take();
    let fx = submit(&mut a, "/etc/motd: what is it?");
    assert!(matches!(fx.as_slice(), [Effect::Op(Op::UserInput { .. })]));
}

#[test]
fn tab_completes_a_command_and_lists_choices() {
    let mut a = app();
    type_text(&mut a, "/to");
    a.on_key(code(KeyCode::Tab));
    assert_eq!(a.editor.text(), "/tools ");
    a.editor.take();
    type_text(&mut a, "/t");
    a.on_key(code(KeyCode::Tab));
    assert_eq!(a.editor.text(), "/t");
    assert_eq!(a.hint.as_deref(), Some("/theme  /tools"));
    a.editor.take();
    a.tool_names = vec!["fs.read".into(), "fs.write".into()];
    type_text(&mut a, "/tools describe fs.r");
    a.on_key(code(KeyCode::Tab));
    assert_eq!(a.editor.text(), "/tools describe fs.read");
    a.editor.take();
    type_text(&mut a, "/theme hi");
    a.on_key(code(KeyCode::Tab));
    assert_eq!(a.editor.text(), "/theme high-contrast");
}

fn with_history(lines: &[&str]) -> App {
    let mut a = app();
    a.history = History::in_memory();
    for l in lines {
        a.history.add(l, &a.origin);
    }
    a
}

#[test]
fn up_and_down_walk_the_history_and_give_back_the_draft() {
    let mut a = with_history(&["first", "second\nrequest"]);
    type_text(&mut a, "draft");
    a.on_key(code(KeyCode::Up));
    assert_eq!(a.editor.text(), "second\nrequest");
    // The cursor is on the last line: Up moves within the request first.
    a.on_key(code(KeyCode::Up));
    assert_eq!(a.editor.text(), "second\nrequest");
    a.on_key(code(KeyCode::Up));
    assert_eq!(a.editor.text(), "first");
    a.on_key(code(KeyCode::Down));
    assert_eq!(a.editor.text(), "second\nrequest");
    a.on_key(code(KeyCode::Down));
    assert_eq!(a.editor.text(), "draft");
    // Submitting records the request.
    a.editor.take();
    submit(&mut a, "third");
    a.on_key(code(KeyCode::Up));
    assert_eq!(a.editor.text(), "third");
}

#[test]
fn ctrl_r_searches_older_matches_and_enter_or_esc_ends_it() {
    let mut a = with_history(&["list the files", "disk usage", "list the services"]);
    type_text(&mut a, "mine");
    a.on_key(ctrl('r'));
    type_text(&mut a, "list");
    let found = |a: &App| {
        a.search
            .as_ref()
            .and_then(|s| s.found.clone())
            .map(|e| e.text)
    };
    assert_eq!(found(&a).as_deref(), Some("list the services"));
    a.on_key(ctrl('r'));
    assert_eq!(found(&a).as_deref(), Some("list the files"));
    a.on_key(ctrl('r'));
    assert_eq!(a.hint.as_deref(), Some("no older match"));
    assert_eq!(found(&a).as_deref(), Some("list the files"));
    // Esc: back to what was typed.
    a.on_key(code(KeyCode::Esc));
    assert!(a.search.is_none());
    assert_eq!(a.editor.text(), "mine");
    // Enter puts the match in the input; nothing is sent yet.
    a.on_key(ctrl('r'));
    type_text(&mut a, "disk");
    a.on_key(code(KeyCode::Backspace));
    a.on_key(key('k'));
    assert!(a.on_key(code(KeyCode::Enter)).is_empty());
    assert!(a.search.is_none());
    assert_eq!(a.editor.text(), "disk usage");
}

#[test]
fn an_undo_waiting_for_its_answer_outlives_the_turn() {
    use aios_proto::{Event, Preview, PreviewDetail, Risk, TurnStatus};
    let needed = |call: &str| ApprovalNeeded {
        call_id: call.into(),
        tool: "fs.restore".into(),
        args: serde_json::json!({"path": "/tmp/x"}),
        call_hash: "h".into(),
        effect: Risk::Change,
        resources: vec![],
        preview: Preview {
            summary: "restore".into(),
            detail: PreviewDetail::None,
        },
        rationale: String::new(),
        rule: "default".into(),
        reason: String::new(),
        confirm: None,
        session_kind: Default::default(),
    };
    let ev = |kind| Event {
        seq: 1,
        session_id: "s".into(),
        unix_ms: 0,
        kind,
    };
    let mut a = app();
    a.on_event(&ev(EventKind::ApprovalRequested(Box::new(needed(
        "turn-call",
    )))));
    a.undo_update(UndoUpdate::Approval(Box::new(needed("undo-3"))));
    assert_eq!(a.approvals.len(), 2);
    a.on_event(&ev(EventKind::TurnCompleted {
        turn_id: "t".into(),
        status: TurnStatus::Completed,
        message: String::new(),
    }));
    let left: Vec<&str> = a.approvals.iter().map(|x| x.call_id.as_str()).collect();
    assert_eq!(left, ["undo-3"]);
    let fx = a.on_key(key('y'));
    assert!(matches!(fx.as_slice(), [Effect::Decide { .. }]), "{fx:?}");
}

#[test]
fn help_scrolls_with_its_keys_and_any_other_key_closes_it() {
    let mut a = app();
    submit(&mut a, "/help");
    a.on_key(code(KeyCode::Down));
    a.on_key(code(KeyCode::Down));
    a.on_key(code(KeyCode::Up));
    assert!(a.help);
    assert_eq!(a.help_scroll, 1);
    a.on_key(code(KeyCode::PageDown));
    assert_eq!(a.help_scroll, 1 + a.page as u16);
    assert!(a.on_key(key('q')).is_empty());
    assert!(!a.help);
    assert!(a.editor.is_empty(), "the closing key is not typed");
}
