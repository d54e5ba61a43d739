//! Keys in, effects out: the approval flow, Ctrl-C and the editor, plus
//! whole screens drawn on ratatui's `TestBackend` (snapshots at 80×24,
//! 40×12 and the console theme).

use aios_proto::{Event, EventKind, Preview, PreviewDetail, Risk, TurnStatus};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;

use super::*;
use crate::approve::GrantShown;
use crate::transcript::{ColorDepth, ThemeSet};

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn ev(kind: EventKind) -> Event {
    Event {
        seq: 1,
        session_id: "s".into(),
        unix_ms: 0,
        kind,
    }
}

fn approval(call: &str, confirm: Option<&str>) -> EventKind {
    EventKind::ApprovalRequested(Box::new(ApprovalNeeded {
        call_id: call.into(),
        tool: "fs.write".into(),
        args: json!({"path": "/tmp/x", "content": "hi"}),
        call_hash: "h".into(),
        effect: if confirm.is_some() {
            Risk::Destructive
        } else {
            Risk::Change
        },
        resources: vec!["file:/tmp/x".into()],
        preview: Preview {
            summary: "write 2 bytes to /tmp/x".into(),
            detail: PreviewDetail::Diff {
                path: "/tmp/x".into(),
                unified: "--- a/tmp/x\n+++ b/tmp/x\n@@ -0,0 +1 @@\n+hi\n".into(),
            },
        },
        rationale: "asked to".into(),
        rule: "default".into(),
        reason: "changes need approval".into(),
        confirm: confirm.map(str::to_string),
        session_kind: Default::default(),
    }))
}

fn app() -> App {
    App::new(Theme::plain(), "ada@box".into())
}

fn type_text(a: &mut App, s: &str) -> Vec<Effect> {
    s.chars().flat_map(|c| a.on_key(key(c))).collect()
}

fn started(a: &mut App) {
    a.on_event(&ev(EventKind::TurnStarted {
        turn_id: "t".into(),
        input: "do it".into(),
    }));
}

#[test]
fn enter_sends_the_request_and_alt_enter_breaks_the_line() {
    let mut a = app();
    type_text(&mut a, "two");
    a.on_key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT));
    type_text(&mut a, "lines");
    assert_eq!(
        a.on_key(code(KeyCode::Enter)),
        [Effect::Op(Op::UserInput {
            text: "two\nlines".into()
        })]
    );
    assert!(a.editor.is_empty());
    a.on_paste("pasted\nblock");
    assert_eq!(a.editor.text(), "pasted\nblock");
}

#[test]
fn ctrl_c_interrupts_a_turn_clears_the_input_then_exits_on_the_second_press() {
    let mut a = app();
    started(&mut a);
    assert_eq!(a.on_key(ctrl('c')), [Effect::Op(Op::Interrupt)]);
    a.on_event(&ev(EventKind::TurnCompleted {
        turn_id: "t".into(),
        status: TurnStatus::Interrupted,
        message: String::new(),
    }));
    type_text(&mut a, "draft");
    assert!(a.on_key(ctrl('c')).is_empty());
    assert!(a.editor.is_empty(), "Ctrl-C clears the input");
    assert!(
        a.on_key(ctrl('c')).is_empty(),
        "the first press on an empty prompt only warns"
    );
    assert_eq!(a.hint.as_deref(), Some("press Ctrl-C again to exit"));
    assert_eq!(a.on_key(ctrl('c')), [Effect::Quit]);
    // Another key between the two presses disarms.
    let mut b = app();
    b.on_key(ctrl('c'));
    b.on_key(code(KeyCode::Left));
    assert!(b.on_key(ctrl('c')).is_empty());
}

#[test]
fn y_approves_once_and_the_card_says_so() {
    let mut a = app();
    started(&mut a);
    a.on_event(&ev(approval("c1", None)));
    let fx = a.on_key(key('y'));
    assert!(
        matches!(&fx[..], [Effect::Decide { decision: Decision::Approve, confirm: None, needed }] if needed.call_id == "c1")
    );
    assert!(a.approvals.is_empty());
    let text = crate::transcript::ansi::to_text(&a.transcript.all_rows(80), false);
    assert!(text.contains("→ approved once"), "{text}");
}

#[test]
fn n_takes_a_note_and_always_asks_first() {
    let mut a = app();
    started(&mut a);
    a.on_event(&ev(approval("c1", None)));
    a.on_event(&ev(approval("c2", None)));
    a.on_key(key('n'));
    type_text(&mut a, "not today");
    let fx = a.on_key(code(KeyCode::Enter));
    assert!(
        matches!(&fx[..], [Effect::Decide { decision: Decision::Reject { note: Some(n) }, .. }] if n == "not today")
    );
    // The queue moves on to the second request. `a` first asks toolsd
    // which rule it would save; nothing is decided yet.
    let fx = a.on_key(key('a'));
    assert!(matches!(&fx[..], [Effect::GrantPreview(n)] if n.call_id == "c2"));
    assert!(a.on_key(key('x')).is_empty(), "any other key goes back");
    assert_eq!(a.prompt, Prompt::Choose);
    // A late answer for the abandoned preview changes nothing.
    a.grant_shown("c2", Ok(rule(true)));
    assert_eq!(a.prompt, Prompt::Choose);

    a.on_key(key('a'));
    a.grant_shown("c2", Ok(rule(true)));
    let text = crate::transcript::ansi::to_text(&a.transcript.all_rows(100), false);
    assert!(
        text.contains("tool = \"fs.write\""),
        "the rule is shown: {text}"
    );
    assert!(text.contains("/home/u/.config/aios/policy.toml"), "{text}");
    let fx = a.on_key(key('y'));
    assert!(matches!(
        &fx[..],
        [Effect::Decide {
            decision: Decision::Always,
            ..
        }]
    ));
}

fn rule(takes_effect: bool) -> GrantShown {
    GrantShown {
        rule: "[[rule]]\ntool = \"fs.write\"\nverdict = \"allow\"\n".into(),
        file: "/home/u/.config/aios/policy.toml".into(),
        takes_effect,
        blocked_by: (!takes_effect).then(|| "rule etc-asks asks for /etc".into()),
    }
}

#[test]
fn always_that_would_not_stop_the_question_offers_once_and_errors_save_nothing() {
    let mut a = app();
    started(&mut a);
    a.on_event(&ev(approval("c1", None)));
    a.on_key(key('a'));
    a.grant_shown("c1", Ok(rule(false)));
    assert_eq!(a.prompt, Prompt::ConfirmAlways { saves: false });
    let text = crate::transcript::ansi::to_text(&a.transcript.all_rows(100), false);
    assert!(text.contains("would not stop the question"), "{text}");
    let fx = a.on_key(key('y'));
    assert!(
        matches!(
            &fx[..],
            [Effect::Decide {
                decision: Decision::Approve,
                ..
            }]
        ),
        "{fx:?}"
    );

    a.on_event(&ev(approval("c2", None)));
    a.on_key(key('a'));
    a.grant_shown("c2", Err("toolsd is gone".into()));
    assert_eq!(a.prompt, Prompt::Choose);
    assert!(
        a.hint
            .as_deref()
            .is_some_and(|h| h.contains("nothing is saved unseen")),
        "{:?}",
        a.hint
    );
}

#[test]
fn e_edits_the_arguments_and_bad_json_is_explained() {
    let mut a = app();
    started(&mut a);
    a.on_event(&ev(approval("c1", None)));
    a.on_key(key('e'));
    assert_eq!(a.answer.text(), r#"{"content":"hi","path":"/tmp/x"}"#);
    a.on_key(ctrl('u'));
    type_text(&mut a, "[1]");
    assert!(a.on_key(code(KeyCode::Enter)).is_empty());
    assert!(a.hint.as_deref().is_some_and(|h| h.contains("JSON object")));
    a.on_key(ctrl('u'));
    type_text(&mut a, r#"{"path":"/tmp/y"}"#);
    let fx = a.on_key(code(KeyCode::Enter));
    assert!(
        matches!(&fx[..], [Effect::Decide { decision: Decision::Edit { args }, .. }] if args["path"] == "/tmp/y")
    );
}

#[test]
fn a_destructive_call_needs_its_name_typed() {
    let mut a = app();
    started(&mut a);
    a.on_event(&ev(approval("c1", Some("/tmp/x"))));
    assert!(a.on_key(key('y')).is_empty());
    type_text(&mut a, "/tmp/y");
    assert!(a.on_key(code(KeyCode::Enter)).is_empty());
    assert_eq!(
        a.hint.as_deref(),
        Some("the name did not match; nothing was approved")
    );
    a.on_key(key('y'));
    type_text(&mut a, "/tmp/x");
    let fx = a.on_key(code(KeyCode::Enter));
    assert!(
        matches!(&fx[..], [Effect::Decide { decision: Decision::Approve, confirm: Some(c), .. }] if c == "/tmp/x")
    );
}

#[test]
fn unanswered_approvals_close_with_the_turn() {
    let mut a = app();
    started(&mut a);
    a.on_event(&ev(approval("c1", None)));
    a.on_event(&ev(EventKind::TurnCompleted {
        turn_id: "t".into(),
        status: TurnStatus::Interrupted,
        message: String::new(),
    }));
    assert!(a.approvals.is_empty());
    assert!(a.on_key(key('y')).is_empty());
    assert_eq!(a.editor.text(), "y", "keys go to the input again");
}

fn screen(a: &mut App, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| crate::tui::view::draw(f, a)).unwrap();
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn busy_app(theme: Theme) -> App {
    let mut a = App::new(theme, "ada@box".into());
    a.on_event(&ev(EventKind::SessionStarted {
        provider: "scripted".into(),
        model: "script".into(),
        resumed: false,
    }));
    started(&mut a);
    a.on_event(&ev(EventKind::AssistantDelta {
        turn_id: "t".into(),
        text: "Writing the file.\n".into(),
    }));
    a.on_event(&ev(EventKind::ToolCallBegin {
        turn_id: "t".into(),
        call_id: "c0".into(),
        tool: "fs.stat".into(),
        args: json!({"path": "/tmp/x"}),
        risk: Risk::Read,
        rationale: String::new(),
    }));
    a.on_event(&ev(approval("c1", None)));
    a
}

#[test]
fn screens_at_80x24_40x12_and_on_the_console() {
    insta::assert_snapshot!(
        "screen_80x24",
        screen(&mut busy_app(Theme::plain()), 80, 24)
    );
    insta::assert_snapshot!(
        "screen_40x12",
        screen(&mut busy_app(Theme::plain()), 40, 12)
    );
    let console = Theme::choose(
        &ThemeSet::embedded(),
        None,
        ColorDepth::Ansi8,
        Some("linux"),
    )
    .0;
    insta::assert_snapshot!(
        "screen_console_80x10",
        screen(&mut busy_app(console), 80, 10)
    );
    let mut help = busy_app(Theme::plain());
    help.help = true;
    insta::assert_snapshot!("screen_help_80x30", screen(&mut help, 80, 30));
}

#[test]
fn page_up_scrolls_and_is_clamped_at_the_top() {
    let mut a = busy_app(Theme::plain());
    screen(&mut a, 40, 12);
    for _ in 0..50 {
        a.on_key(code(KeyCode::PageUp));
    }
    let s = screen(&mut a, 40, 12);
    assert!(s.contains("› do it"), "{s}");
    a.on_key(ctrl('g'));
    assert_eq!(a.scroll, 0);
}

#[test]
fn screens_of_a_command_answer_a_suggestion_and_a_history_search() {
    let mut a = App::new(Theme::plain(), "ada@box".into());
    a.history = crate::history::History::in_memory();
    for t in ["list the files", "/audit 5", "show disk usage"] {
        a.history.add(t, &a.origin);
    }
    a.on_event(&ev(EventKind::SessionStarted {
        provider: "scripted".into(),
        model: "script".into(),
        resumed: false,
    }));
    a.command_done(
        "/grants",
        Ok("{\"id\":\"g1\",\"rule\":\"allow fs.write on path:/tmp/**\"}\n".into()),
    );
    a.command_done("/why 9", Err("no ledger entry 9 that you may read".into()));
    for c in "/wh".chars() {
        a.on_key(key(c));
    }
    insta::assert_snapshot!("screen_command_60x14", screen(&mut a, 60, 14));
    a.editor.take();
    a.on_key(ctrl('r'));
    for c in "list".chars() {
        a.on_key(key(c));
    }
    insta::assert_snapshot!("screen_history_search_60x14", screen(&mut a, 60, 14));
}

#[test]
fn a_card_answered_from_another_client_leaves_the_queue() {
    // An attach replays an approval that was answered meanwhile (its call
    // ended), then one that still waits: only the second is asked.
    let mut a = app();
    a.on_event(&ev(approval("c1", None)));
    a.on_event(&ev(approval("c2", None)));
    a.on_event(&ev(EventKind::ToolCallEnd {
        call_id: "c1".into(),
        status: aios_proto::ToolStatus::Ok,
        result: json!(null),
        duration_us: 0,
    }));
    let left: Vec<&str> = a.approvals.iter().map(|p| p.call_id.as_str()).collect();
    assert_eq!(left, ["c2"]);
    assert_eq!(a.prompt, Prompt::Choose);
}

#[test]
fn a_streamed_table_and_code_block_on_a_40_column_screen() {
    let mut a = App::new(Theme::plain(), "ada@box".into());
    started(&mut a);
    let answer = "| disk | use |\n|---|--:|\n| / | 93% |\n| /var/log | 20% |\n\n```sh\ndf -h /\n```\nDone.\n";
    // Streamed in pieces that end mid-row: every intermediate screen fits.
    for piece in answer.as_bytes().chunks(7) {
        a.on_event(&ev(EventKind::AssistantDelta {
            turn_id: "t".into(),
            text: String::from_utf8_lossy(piece).into_owned(),
        }));
        let s = screen(&mut a, 40, 16);
        assert!(s.lines().all(|l| l.chars().count() <= 40), "{s}");
    }
    a.on_event(&ev(EventKind::TurnCompleted {
        turn_id: "t".into(),
        status: TurnStatus::Completed,
        message: String::new(),
    }));
    insta::assert_snapshot!("screen_answer_40x16", screen(&mut a, 40, 16));
}

#[test]
fn the_status_bar_names_the_rule_that_chose_the_route_and_drops_it_first() {
    let mut a = app();
    a.on_event(&ev(EventKind::Usage(aios_proto::Usage {
        provider: "lab".into(),
        model: "qwen".into(),
        route_reason: "fallback after 429 from claude".into(),
        latency_ms: 12,
        ..Default::default()
    })));
    let text = |w: u16| -> String {
        crate::tui::view::status_line(&a, &Theme::plain(), w)
            .spans
            .iter()
            .map(|s| s.content.to_string())
            .collect()
    };
    let wide = text(120);
    assert!(
        wide.contains("lab/qwen │ via fallback after 429 from claude"),
        "{wide}"
    );
    let narrow = text(40);
    assert!(
        narrow.contains("lab/qwen") && !narrow.contains("via"),
        "{narrow}"
    );
}

#[test]
fn the_status_bar_says_local_or_cloud_and_how_the_daemons_are() {
    use crate::tui::status::{Health, Locality};
    let mut a = busy_app(Theme::plain());
    a.localities.insert("scripted".into(), Locality::Local);
    a.localities.insert("openai".into(), Locality::Cloud);
    a.health = Health::Ok;
    insta::assert_snapshot!("screen_status_local_ok_100x8", screen(&mut a, 100, 8));
    a.on_event(&ev(EventKind::Usage(aios_proto::Usage {
        provider: "openai".into(),
        model: "gpt-4o".into(),
        ..Default::default()
    })));
    a.health = Health::Down(vec!["toolsd".into(), "memoryd".into()]);
    insta::assert_snapshot!("screen_status_cloud_down_100x8", screen(&mut a, 100, 8));
    // On a narrow screen a healthy set goes before the provider; a daemon
    // that is down stays.
    let text = |a: &App, w: u16| -> String {
        crate::tui::view::status_line(a, &Theme::plain(), w)
            .spans
            .iter()
            .map(|s| s.content.to_string())
            .collect()
    };
    let narrow = text(&a, 40);
    assert!(narrow.contains("toolsd,memoryd down"), "{narrow}");
    a.health = Health::Ok;
    let narrow = text(&a, 40);
    assert!(!narrow.contains("daemons ok"), "{narrow}");
}

#[test]
fn the_mouse_wheel_scrolls_the_transcript_and_help() {
    use crossterm::event::{MouseEvent, MouseEventKind};
    let wheel = |kind| MouseEvent {
        kind,
        column: 0,
        row: 0,
        modifiers: KeyModifiers::NONE,
    };
    let mut a = busy_app(Theme::plain());
    let bottom = screen(&mut a, 40, 12);
    a.on_mouse(wheel(MouseEventKind::ScrollUp));
    assert_eq!(a.scroll, super::WHEEL_ROWS);
    let up = screen(&mut a, 40, 12);
    assert_ne!(up, bottom);
    // Pointer moves and clicks do nothing.
    a.on_mouse(wheel(MouseEventKind::Moved));
    assert_eq!(a.scroll, super::WHEEL_ROWS);
    a.on_mouse(wheel(MouseEventKind::ScrollDown));
    a.on_mouse(wheel(MouseEventKind::ScrollDown));
    assert_eq!(a.scroll, 0);
    assert_eq!(screen(&mut a, 40, 12), bottom);
    a.help = true;
    a.on_mouse(wheel(MouseEventKind::ScrollDown));
    assert_eq!((a.scroll, a.help_scroll), (0, super::WHEEL_ROWS as u16));
}
