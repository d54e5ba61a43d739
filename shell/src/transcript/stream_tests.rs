//! Tests of the streamed answer's layout (`stream.rs`).

use super::*;
use aios_proto::{Risk, ToolStatus, TurnStatus};
use serde_json::json;

/// `text` wrapped at `width`, as the live line is.
fn rows_of(text: &str, width: usize) -> Vec<Line<'static>> {
    crate::transcript::wrap::wrap(&Line::from(text.to_string()), width, 0)
}

fn delta(text: &str) -> EventKind {
    EventKind::AssistantDelta {
        turn_id: "t1".into(),
        text: text.into(),
    }
}

fn pipes() -> Stream {
    Stream::new(Theme::plain(), Layout::default())
}

/// Everything written, marked by where it went.
fn run(s: &mut Stream, events: &[EventKind], live: bool) -> String {
    let mut text = String::new();
    for e in events {
        for o in s.apply(e, live) {
            match o {
                Out::Stdout(t) => text.push_str(&format!("[out]{t}")),
                Out::Stderr(t) => text.push_str(&format!("[err]{t}")),
            }
        }
    }
    text
}

fn turn() -> Vec<EventKind> {
    vec![
        EventKind::TurnStarted {
            turn_id: "t1".into(),
            input: "how full is the disk?".into(),
        },
        delta("Checking the disk"),
        delta(".\n"),
        EventKind::ToolCallBegin {
            turn_id: "t1".into(),
            call_id: "c1".into(),
            tool: "fs.usage".into(),
            args: json!({"path": "/"}),
            risk: Risk::Read,
            rationale: String::new(),
        },
        EventKind::ToolOutputDelta {
            call_id: "c1".into(),
            chunk: "scanned /\n".into(),
        },
        EventKind::ToolCallEnd {
            call_id: "c1".into(),
            status: ToolStatus::Ok,
            result: json!({}),
            duration_us: 1234,
        },
        delta("| fs | use |\n|---|---|\n| / | 42% |\n"),
        delta("Root is **42%** full."),
        EventKind::TurnCompleted {
            turn_id: "t1".into(),
            status: TurnStatus::Completed,
            message: String::new(),
        },
    ]
}

#[test]
fn answer_to_stdout_cards_to_stderr_each_row_once() {
    let mut s = pipes();
    s.typed("how full is the disk?");
    insta::assert_snapshot!(run(&mut s, &turn(), true), @r#"
    [out]Checking the disk.
    [out]
    [err]● fs.usage [read] {"path":"/"}
    [err]  │ scanned /
    [err]  ✓ ok 1.2ms

    [out]┌────┬─────┐
    │ fs │ use │
    ├────┼─────┤
    │ /  │ 42% │
    └────┴─────┘
    Root is 42% full.

    "#);
}

#[test]
fn a_replayed_request_is_shown_and_the_typed_one_is_not() {
    let mut s = pipes();
    let text = run(&mut s, &turn()[..1], false);
    assert_eq!(text, "[err]› how full is the disk?\n\n");
    let mut s = pipes();
    s.typed("how full is the disk?");
    assert_eq!(run(&mut s, &turn()[..1], false), "");
}

#[test]
fn the_unfinished_line_is_drawn_live_grown_and_replaced_by_its_final_rows() {
    let mut s = Stream::new(
        Theme::plain(),
        Layout {
            answer: Sink {
                width: Some(20),
                colour: false,
            },
            cards: Sink::PIPE,
            live: true,
        },
    );
    // Grows in place: only what was added is written.
    assert_eq!(run(&mut s, &[delta("part 1. ")], true), "[out]part 1. ");
    assert_eq!(run(&mut s, &[delta("part 2. ")], true), "[out]part 2. ");
    // A word that does not fit moves to the next row: the row is
    // redrawn from its start.
    let text = run(&mut s, &[delta("continued")], true);
    assert_eq!(text, "[out]\r\x1b[J[out]part 1. part 2.\ncontinued");
    // The newline: the live rows are erased and the final rows written
    // (styled by markdown: the live line is drawn the same way).
    let text = run(&mut s, &[delta(" **end**\n")], true);
    assert_eq!(
        text,
        "[out]\r\x1b[1A\x1b[J[out]part 1. part 2.\ncontinued end\n"
    );
    // Not live at a prompt: nothing drawn until the line ends.
    assert_eq!(run(&mut s, &[delta("quiet")], false), "");
    assert_eq!(s.end_line().len(), 1);
}

#[test]
fn the_unfinished_line_is_written_final_at_the_usage_and_not_again_at_the_turns_end() {
    let mut s = Stream::new(
        Theme::plain(),
        Layout {
            answer: Sink {
                width: Some(40),
                colour: false,
            },
            cards: Sink::PIPE,
            live: true,
        },
    );
    assert_eq!(
        run(&mut s, &[delta("Root is **42%** full.")], true),
        "[out]Root is 42% full."
    );
    // The model's stream ended: the live row is replaced by the final
    // one and the answer closes, before aiosd has stored it.
    let usage = EventKind::Usage(aios_proto::Usage::default());
    assert_eq!(
        run(&mut s, &[usage], true),
        "[out]\r\x1b[J[out]Root is 42% full.\n\n"
    );
    let end = EventKind::TurnCompleted {
        turn_id: "t1".into(),
        status: TurnStatus::Completed,
        message: String::new(),
    };
    assert_eq!(run(&mut s, &[end], true), "");
}

#[test]
fn a_streamed_table_and_code_block_are_written_once_complete() {
    let mut s = pipes();
    let text = run(
        &mut s,
        &[delta("```sh\n"), delta("ls -l\n"), delta("| a | b |\n")],
        true,
    );
    assert_eq!(text, "");
    let text = run(&mut s, &[delta("```\n")], true);
    assert_eq!(text, "[out]  sh\n  ls -l\n  | a | b |\n\n");
    let text = run(&mut s, &[delta("| a | b |\n|---|---|\n")], true);
    assert_eq!(text, "");
    let text = run(&mut s, &[delta("after\n")], true);
    assert!(
        text.contains("│ a │ b │") && text.ends_with("after\n"),
        "{text}"
    );
}

/// Written a block at a time as it streams, an answer comes out row
/// for row as the whole cell lays out (what the TUI draws).
#[test]
fn a_streamed_answer_is_written_exactly_as_the_whole_cell_lays_out() {
    let answer = "## Disk\n\nThe disk is **93%** full: `/var/log` holds most of it, then \
        the apt cache.\n- journal: 4 GiB\n- cache: 1 GiB\n| dir | size |\n|---|--:|\n\
        | /var/log | 4G |\n```rust\nfn main() {\n    let used = 93;\n}\n```\n\
        | a | b |\n|---|---|\n| 1 | 2 |\nlast line";
    let mut s = Stream::new(
        Theme::plain(),
        Layout {
            answer: Sink {
                width: Some(30),
                colour: false,
            },
            cards: Sink::PIPE,
            live: false,
        },
    );
    let chars: Vec<char> = answer.chars().collect();
    let mut got = String::new();
    for chunk in chars.chunks(3) {
        let text: String = chunk.iter().collect();
        got.push_str(&run(&mut s, &[delta(&text)], false));
    }
    got.push_str(&run(
        &mut s,
        &[EventKind::TurnCompleted {
            turn_id: "t1".into(),
            status: TurnStatus::Completed,
            message: String::new(),
        }],
        false,
    ));
    let lines: Vec<String> = answer.lines().map(str::to_string).collect();
    let cell = Cell::Assistant { lines };
    let want = ansi::to_text(&cell.display_lines(30, &Theme::plain()), false);
    assert_eq!(got.replace("[out]", ""), want);
    assert!(
        got.matches("[out]").count() > 3,
        "written as it came: {got}"
    );
}

#[test]
fn an_approval_card_is_written_without_its_keys() {
    let mut s = pipes();
    let a = aios_proto::ApprovalNeeded {
        call_id: "c1".into(),
        tool: "fs.write".into(),
        args: json!({"path": "/tmp/x"}),
        call_hash: String::new(),
        effect: Risk::Change,
        resources: vec!["path:/tmp/x".into()],
        preview: aios_proto::Preview {
            summary: "write 6 bytes".into(),
            detail: aios_proto::PreviewDetail::None,
        },
        rationale: String::new(),
        rule: "default.change".into(),
        reason: "changes need approval".into(),
        confirm: None,
        session_kind: Default::default(),
    };
    let text = run(&mut s, &[EventKind::ApprovalRequested(Box::new(a))], true);
    insta::assert_snapshot!(text, @r#"
    [err]? approve fs.write [change]
      args: {"path":"/tmp/x"}
      touches: path:/tmp/x
      will: write 6 bytes
      policy: changes need approval [default.change]
    "#);
}

/// Event text chosen by others, in every field a cell shows.
fn hostile_events() -> Vec<EventKind> {
    let evil = "f\x1b]52;c;aGk=\x07\x1b[2J\u{9b}31m\u{202e}txt";
    vec![
        EventKind::TurnStarted {
            turn_id: "t1".into(),
            input: format!("ask {evil}"),
        },
        delta(&format!(
            "see \x1b]8;;http://x/\x1b\\{evil}\x1b]8;;\x1b\\\r\npart {evil}"
        )),
        EventKind::ToolCallBegin {
            turn_id: "t1".into(),
            call_id: "c1".into(),
            tool: format!("fs.list{evil}"),
            args: json!({ "path": evil }),
            risk: Risk::Destructive,
            rationale: format!("why {evil}"),
        },
        EventKind::ToolOutputDelta {
            call_id: "c1".into(),
            chunk: format!("now in {evil}\nline two\x1b[1A\x1b[2K\n"),
        },
        EventKind::ToolCallEnd {
            call_id: "c1".into(),
            status: ToolStatus::Error,
            result: json!(format!("cannot read {evil}")),
            duration_us: 10,
        },
        EventKind::ApprovalRequested(Box::new(aios_proto::ApprovalNeeded {
            call_id: format!("c2{evil}"),
            tool: "fs.delete".into(),
            args: json!({"path": format!("/tmp/{evil}")}),
            call_hash: "0".repeat(64),
            effect: Risk::Destructive,
            resources: vec![format!("path:/tmp/{evil}")],
            preview: aios_proto::Preview {
                summary: format!("delete {evil}"),
                detail: aios_proto::PreviewDetail::Diff {
                    path: format!("/tmp/{evil}"),
                    unified: format!("--- a\n+++ b\n-{evil}\n+ok\n"),
                },
            },
            rationale: format!("because {evil}"),
            rule: "default.destructive".into(),
            reason: format!("may lose {evil}"),
            confirm: Some(format!("/tmp/{evil}")),
            session_kind: Default::default(),
        })),
        EventKind::Notification {
            level: format!("warn{evil}"),
            text: format!("about {evil}"),
        },
        EventKind::Error {
            code: aios_proto::ErrorCode::ModelError,
            message: format!("overloaded {evil}"),
            fatal: false,
        },
        EventKind::TurnCompleted {
            turn_id: "t1".into(),
            status: TurnStatus::Refused,
            message: format!("no rule for {evil}"),
        },
    ]
}

/// What a terminal would act on in `text` once the stream's own
/// sequences (SGR colours, erasing the live line) are taken out.
fn acting(text: &str) -> Vec<char> {
    let mut rest = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters, then the final byte: only m (colour), A (up)
            // and J (erase below) are the stream's own.
            let mut params = String::new();
            while let Some(&p) = chars.peek() {
                if p.is_ascii_digit() || p == ';' {
                    params.push(p);
                    chars.next();
                } else {
                    break;
                }
            }
            match chars.next() {
                Some('m' | 'A' | 'J') => continue,
                other => panic!("a foreign sequence: ESC [{params}{other:?} in {text:?}"),
            }
        }
        rest.push(c);
    }
    rest.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t' && c != '\r')
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
        })
        .collect()
}

#[test]
fn untrusted_text_in_every_field_is_shown_not_acted_on() {
    let layout = Layout {
        answer: Sink {
            width: Some(60),
            colour: true,
        },
        cards: Sink {
            width: Some(60),
            colour: true,
        },
        live: true,
    };
    let theme = Theme::default();
    let mut s = Stream::new(theme.clone(), layout);
    let text = run(&mut s, &hostile_events(), true);
    assert!(text.contains("\x1b[3"), "colour was on but none written");
    assert_eq!(acting(&text), Vec::<char>::new(), "{text:?}");
    // Shown as control pictures, in every field.
    let plain = run(&mut pipes(), &hostile_events(), true);
    for shown in [
        "› ask f␛]52;c;aGk=␇␛[2J\\u{9b}31m\\u{202e}txt",
        "part f␛]52",
        "fs.listf␛]52",
        "why f␛]52",
        "now in f␛]52",
        "line two␛[1A␛[2K",
        "cannot read f␛]52",
        "delete f␛]52",
        "-f␛]52",
        "because f␛]52",
        "may lose f␛]52",
        "about f␛]52",
        "overloaded f␛]52",
        "refused: no rule for f␛]52",
    ] {
        assert!(plain.contains(shown), "{shown:?} not in {plain}");
    }
    assert!(!plain.contains('\x1b'), "{plain:?}");
}

#[test]
fn extension_is_only_a_pure_addition() {
    let a = rows_of("part 1.", 20);
    let b = rows_of("part 1. part 2.", 20);
    assert_eq!(live_text(&extension(&a, &b).unwrap(), false), " part 2.");
    assert_eq!(extension(&b, &a), None);
    assert_eq!(extension(&[], &[]), Some(vec![]));
    assert_eq!(extension(&[], &b), None);
}
