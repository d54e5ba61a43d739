//! Snapshots of whole conversations at several widths, 20 columns
//! included, plain and in the console's 8 colours.

use aios_proto::{
    ApprovalNeeded, ErrorCode, EventKind, Preview, PreviewDetail, Risk, StepStatus, ToolStatus,
    TurnStatus, Usage,
};
use serde_json::json;

use super::*;

fn t(id: &str) -> String {
    id.to_string()
}

fn disk_turn() -> Vec<EventKind> {
    vec![
        EventKind::SessionStarted {
            provider: t("scripted"),
            model: t("script"),
            resumed: false,
        },
        EventKind::TurnStarted {
            turn_id: t("t1"),
            input: t("why is the disk almost full?"),
        },
        EventKind::AssistantDelta {
            turn_id: t("t1"),
            text: t("Checking the root filesystem."),
        },
        EventKind::PlanProposed {
            turn_id: t("t1"),
            steps: vec![
                t("fs.usage {\"path\":\"/\"}"),
                t("fs.largest {\"path\":\"/var\"}"),
            ],
        },
        EventKind::StepUpdate {
            turn_id: t("t1"),
            index: 0,
            status: StepStatus::Done,
        },
        EventKind::StepUpdate {
            turn_id: t("t1"),
            index: 1,
            status: StepStatus::Running,
        },
        EventKind::ToolCallBegin {
            turn_id: t("t1"),
            call_id: t("c1"),
            tool: t("fs.usage"),
            args: json!({"path": "/"}),
            risk: Risk::Read,
            rationale: t("See how full / is."),
        },
        EventKind::ToolOutputDelta {
            call_id: t("c1"),
            chunk: t("line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\n"),
        },
        EventKind::ToolCallEnd {
            call_id: t("c1"),
            status: ToolStatus::Ok,
            result: json!({"use_percent": 93}),
            duration_us: 1234,
        },
        EventKind::ToolCallBegin {
            turn_id: t("t1"),
            call_id: t("c2"),
            tool: t("fs.largest"),
            args: json!({"path": "/var", "top": 20}),
            risk: Risk::Read,
            rationale: String::new(),
        },
        EventKind::Usage(Usage {
            input_tokens: 120,
            output_tokens: 9,
            cost_usd: None,
            provider: t("scripted"),
            model: t("script"),
            latency_ms: 3,
            ..Usage::default()
        }),
        EventKind::AssistantDelta {
            turn_id: t("t1"),
            text: t(
                "## Findings\n\nThe disk is **93%** full; `/var/log` is the largest:\n- journal: 4 GiB\n- apt cache: 1 GiB\n\n```sh\njournalctl --vacuum-time=7d\n```\nAsk me to clean ",
            ),
        },
        EventKind::AssistantDelta {
            turn_id: t("t1"),
            text: t("it."),
        },
        EventKind::TurnCompleted {
            turn_id: t("t1"),
            status: TurnStatus::Completed,
            message: String::new(),
        },
    ]
}

fn approval_turn() -> Vec<EventKind> {
    vec![
        EventKind::TurnStarted {
            turn_id: t("t2"),
            input: t("clean the old journal logs"),
        },
        EventKind::ApprovalRequested(Box::new(ApprovalNeeded {
            call_id: t("c3"),
            tool: t("fs.write"),
            args: json!({"path": "/etc/motd", "content": "hello\n"}),
            call_hash: t("abc"),
            effect: Risk::Change,
            resources: vec![t("file:/etc/motd")],
            preview: Preview {
                summary: t("write 6 bytes to /etc/motd"),
                detail: PreviewDetail::Diff {
                    path: t("/etc/motd"),
                    unified: t("--- a/etc/motd\n+++ b/etc/motd\n@@ -1 +1 @@\n-welcome\n+hello\n"),
                },
            },
            rationale: t("The user asked for a greeting."),
            rule: t("default-ask-change"),
            reason: t("changes need approval"),
            confirm: None,
            session_kind: Default::default(),
        })),
        EventKind::Error {
            code: ErrorCode::MalformedToolCall,
            message: t("the model sent \x1b[2Jarguments that are not JSON"),
            fatal: false,
        },
        EventKind::TurnCompleted {
            turn_id: t("t2"),
            status: TurnStatus::Interrupted,
            message: String::new(),
        },
    ]
}

fn render(events: &[EventKind], width: u16, theme: Theme) -> String {
    let colour = theme.depth() != ColorDepth::None;
    let mut tr = Transcript::new(theme);
    for e in events {
        tr.apply(e);
    }
    ansi::to_text(&tr.all_rows(width), colour)
}

#[test]
fn a_read_only_turn_at_80_40_and_20_columns() {
    for w in [80u16, 40, 20] {
        insta::assert_snapshot!(
            format!("disk_turn_{w}"),
            render(&disk_turn(), w, Theme::plain())
        );
    }
}

#[test]
fn an_approval_card_with_a_diff_at_80_and_20_columns() {
    for w in [80u16, 20] {
        insta::assert_snapshot!(
            format!("approval_{w}"),
            render(&approval_turn(), w, Theme::plain())
        );
    }
}

#[test]
fn the_console_theme_uses_eight_colours_and_cp437_glyphs() {
    let console = Theme::choose(
        &ThemeSet::embedded(),
        None,
        ColorDepth::Ansi8,
        Some("linux"),
    )
    .0;
    let text = render(&disk_turn(), 40, console).replace('\x1b', "^[");
    insta::assert_snapshot!("disk_turn_console_40", text);
}

#[test]
fn no_row_is_wider_than_the_width() {
    let mut events = disk_turn();
    events.extend(approval_turn());
    for w in [1u16, 5, 20, 33, 80] {
        let mut tr = Transcript::new(Theme::default());
        for e in &events {
            tr.apply(e);
        }
        for row in tr.all_rows(w) {
            assert!(row.width() <= usize::from(w), "{w}: {row:?}");
        }
    }
}

#[test]
fn streaming_commits_only_completed_lines() {
    let mut tr = Transcript::new(Theme::plain());
    tr.apply(&EventKind::AssistantDelta {
        turn_id: t("t"),
        text: t("first li"),
    });
    assert!(tr.is_empty(), "an unfinished line was committed");
    tr.apply(&EventKind::AssistantDelta {
        turn_id: t("t"),
        text: t("ne\nsecond"),
    });
    let rows = ansi::to_text(&tr.window(80, 10, 0).0, false);
    // The tail is drawn live, below the committed cell, but not committed.
    assert_eq!(rows, "first line\nsecond\n\n");
    assert_eq!(tr.len(), 1);
    tr.flush_tail();
    assert_eq!(
        tr.cells().collect::<Vec<_>>(),
        [&Cell::Assistant {
            lines: vec![t("first line"), t("second")]
        }]
    );
}

/// The end of a model call: its usage.
fn usage() -> EventKind {
    EventKind::Usage(Usage {
        output_tokens: 3,
        provider: t("scripted"),
        model: t("script"),
        ..Usage::default()
    })
}

#[test]
fn the_unfinished_line_is_final_at_the_model_calls_usage_and_the_turns_end_changes_nothing() {
    let mut tr = Transcript::new(Theme::plain());
    let delta = |text: &str| EventKind::AssistantDelta {
        turn_id: t("t"),
        text: t(text),
    };
    tr.apply(&EventKind::TurnStarted {
        turn_id: t("t"),
        input: t("q"),
    });
    tr.apply(&delta("The disk is\n**93%** full"));
    let live = ansi::to_text(&tr.window(80, 10, 0).0, false);
    // The model's stream ended: the line is committed, drawn where it was.
    tr.apply(&usage());
    let ended = ansi::to_text(&tr.window(80, 10, 0).0, false);
    assert_eq!(ended, live, "committing the line moved or restyled it");
    assert_eq!(
        tr.cells().last(),
        Some(&Cell::Assistant {
            lines: vec![t("The disk is"), t("**93%** full")]
        })
    );
    // aiosd's durable write done, the turn ends: nothing drawn twice.
    let cells = tr.len();
    tr.apply(&EventKind::TurnCompleted {
        turn_id: t("t"),
        status: TurnStatus::Completed,
        message: String::new(),
    });
    assert_eq!(tr.len(), cells);
    assert_eq!(ansi::to_text(&tr.window(80, 10, 0).0, false), ended);
    insta::assert_snapshot!(ended, @r"
    › q

    The disk is
    93% full

    ");
}

#[test]
fn a_reply_after_the_usage_of_another_starts_its_own_cell() {
    let mut tr = Transcript::new(Theme::plain());
    let delta = |text: &str| EventKind::AssistantDelta {
        turn_id: t("t"),
        text: t(text),
    };
    tr.apply(&delta("Let me look."));
    tr.apply(&usage());
    tr.apply(&delta("Found it."));
    tr.apply(&usage());
    assert_eq!(
        tr.cells().collect::<Vec<_>>(),
        [
            &Cell::Assistant {
                lines: vec![t("Let me look.")]
            },
            &Cell::Assistant {
                lines: vec![t("Found it.")]
            }
        ]
    );
}

#[test]
fn the_window_lays_out_only_what_it_shows_and_clamps_scrolling() {
    let mut tr = Transcript::new(Theme::plain());
    for i in 0..10_000 {
        tr.push(Cell::Notice {
            level: Level::Info,
            text: format!("entry {i}"),
        });
    }
    let (rows, scroll) = tr.window(80, 4, 0);
    assert_eq!(scroll, 0);
    assert_eq!(
        ansi::to_text(&rows, false),
        "note: entry 9998\n\nnote: entry 9999\n\n"
    );
    let laid_out = tr.entries.iter().filter(|e| e.cache.is_some()).count();
    assert!(
        laid_out <= 3,
        "{laid_out} cells laid out for a 4-row window"
    );
    let (rows, scroll) = tr.window(80, 2, 1_000_000);
    assert_eq!(scroll, 20_000 - 2);
    assert_eq!(ansi::to_text(&rows, false), "note: entry 0\n\n");
}

#[test]
fn control_characters_in_event_text_are_shown_not_sent() {
    let text = render(&approval_turn(), 80, Theme::plain());
    assert!(!text.contains('\x1b'), "{text:?}");
    assert!(text.contains("␛[2J"));
}

#[test]
fn decisions_and_folding_change_the_cards() {
    let mut tr = Transcript::new(Theme::plain());
    for e in approval_turn().iter().chain(disk_turn().iter()) {
        tr.apply(e);
    }
    tr.decided("c3", "approved once");
    assert!(tr.toggle_expanded());
    let text = ansi::to_text(&tr.all_rows(80), false);
    assert!(text.contains("→ approved once"), "{text}");
    assert!(text.contains("line 1"), "expanded output shows every line");
    assert!(!tr.toggle_expanded());
    let text = ansi::to_text(&tr.all_rows(80), false);
    assert!(
        !text.contains("line 1\n"),
        "folded output hides early lines"
    );
}

/// A streamed answer with a highlighted code block and a table, split in
/// deltas that cut lines, fences and table rows in the middle.
fn markdown_answer() -> Vec<EventKind> {
    let answer = "## Disk usage\n\nThe largest users of `/`:\n\n\
        | mount | size | use | note |\n\
        |:------|-----:|:---:|------|\n\
        | / | 20G | 93% | **almost full** |\n\
        | /var/log | 4.1G | 20% | journal and `apt` logs |\n\
        | /home | 1.2G | 6% | |\n\n\
        To free space:\n\n\
        ```sh\n\
        # keep a week of logs\n\
        journalctl --vacuum-time=7d\n\
        apt-get clean && echo \"done: $?\"\n\
        ```\n\n\
        ```json\n\
        {\"freed\": 4096, \"ok\": true}\n\
        ```\n";
    let mut events = vec![EventKind::TurnStarted {
        turn_id: t("t3"),
        input: t("what uses the disk?"),
    }];
    let bytes: Vec<char> = answer.chars().collect();
    for chunk in bytes.chunks(17) {
        events.push(EventKind::AssistantDelta {
            turn_id: t("t3"),
            text: chunk.iter().collect(),
        });
    }
    events.push(EventKind::TurnCompleted {
        turn_id: t("t3"),
        status: TurnStatus::Completed,
        message: String::new(),
    });
    events
}

fn visible(text: String) -> String {
    text.replace('\x1b', "^[")
}

#[test]
fn a_markdown_answer_in_every_theme() {
    let set = ThemeSet::embedded();
    for name in set.names() {
        let (theme, why) = Theme::choose(&set, Some(&name), ColorDepth::TrueColor, None);
        assert_eq!(why, None);
        insta::assert_snapshot!(
            format!("answer_{name}"),
            visible(render(&markdown_answer(), 80, theme))
        );
    }
}

#[test]
fn a_markdown_answer_on_the_console_at_40_columns() {
    let (console, _) = Theme::choose(
        &ThemeSet::embedded(),
        None,
        ColorDepth::Ansi8,
        Some("linux"),
    );
    insta::assert_snapshot!(
        "answer_console_16_40",
        visible(render(&markdown_answer(), 40, console))
    );
}

#[test]
fn a_markdown_answer_plain_at_40_and_20_columns_and_in_ascii() {
    for w in [40u16, 20] {
        insta::assert_snapshot!(
            format!("answer_plain_{w}"),
            render(&markdown_answer(), w, Theme::plain())
        );
    }
    let ascii = Theme::plain().with(ColorDepth::None, Glyphs::ASCII);
    let text = render(&markdown_answer(), 40, ascii);
    assert!(text.contains("+-------"), "{text}");
    assert!(!text.contains('┌'), "{text}");
}

#[test]
fn a_256_colour_terminal_gets_no_24_bit_colour() {
    let (theme, _) = Theme::choose(
        &ThemeSet::embedded(),
        None,
        ColorDepth::Ansi256,
        Some("xterm-256color"),
    );
    let text = render(&markdown_answer(), 80, theme);
    assert!(text.contains("\x1b[38;5;"), "{text:?}");
    assert!(!text.contains("38;2;"), "{text:?}");
}

#[test]
fn the_streamed_answer_is_the_answer_given_whole() {
    let whole: String = markdown_answer()
        .iter()
        .filter_map(|e| match e {
            EventKind::AssistantDelta { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect();
    let at_once = vec![
        markdown_answer()[0].clone(),
        EventKind::AssistantDelta {
            turn_id: t("t3"),
            text: whole,
        },
    ];
    assert_eq!(
        render(&markdown_answer(), 60, Theme::default()),
        render(&at_once, 60, Theme::default())
    );
}

#[test]
fn a_code_block_is_highlighted_once_its_fence_closes() {
    let theme = Theme::default().with(ColorDepth::TrueColor, Glyphs::UNICODE);
    let mut tr = Transcript::new(theme);
    let delta = |text: &str| EventKind::AssistantDelta {
        turn_id: t("t"),
        text: t(text),
    };
    tr.apply(&delta("```rust\nlet x = \"hi\";\n"));
    let colours = |tr: &mut Transcript| {
        // The window, not all_rows: that would end the answer.
        tr.window(80, 50, 0)
            .0
            .iter()
            .flat_map(|r| r.spans.iter().map(|s| s.style.fg).collect::<Vec<_>>())
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    let streaming = colours(&mut tr);
    tr.apply(&delta("```\n"));
    let closed = colours(&mut tr);
    assert!(
        closed > streaming,
        "{streaming} colours while streaming, {closed} closed"
    );
}

/// A long answer of every block kind, as the lines a model streams.
fn long_answer_lines(blocks: usize) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..blocks {
        let block: &[&str] = match i % 4 {
            0 => &[
                "The disk is **93%** full: `/var/log` holds most of it, then the apt cache and two old kernels.",
                "",
            ],
            1 => &["- journal: 4 GiB", "- apt cache: 1 GiB", ""],
            2 => &["| dir | size |", "|---|--:|", "| /var/log | 4G |", ""],
            _ => &[
                "```rust",
                "fn main() {",
                "    let used = 93;",
                "}",
                "```",
                "",
            ],
        };
        out.extend(block.iter().map(|l| l.to_string()));
    }
    out
}

#[test]
fn a_streamed_answer_is_laid_out_once_and_as_the_whole_cell() {
    let theme = Theme::default().with(ColorDepth::TrueColor, Glyphs::UNICODE);
    let lines = long_answer_lines(40);
    for width in [80u16, 40, 20] {
        let mut tr = Transcript::new(theme.clone());
        tr.apply(&EventKind::TurnStarted {
            turn_id: t("t"),
            input: t("why?"),
        });
        for (n, line) in lines.iter().enumerate() {
            tr.apply(&EventKind::AssistantDelta {
                turn_id: t("t"),
                text: format!("{line}\n"),
            });
            // A frame after every line, as the TUI draws while streaming.
            let _ = tr.window(width, 30, 0);
            // Kept rows plus the new ones are exactly the whole layout.
            let whole = Cell::Assistant {
                lines: lines[..=n].to_vec(),
            }
            .display_lines(width, &theme);
            assert_eq!(tr.rows(1, width), whole.as_slice(), "line {n} at {width}");
        }
        let rows = tr.rows(1, width).len();
        // Laying the answer out again per line would cost about
        // rows² / 2; each line's rows (and an open block's) only once is
        // linear. The check below is checked-in rows, not time.
        let laid = tr.take_laid_out();
        assert!(
            laid < 3 * rows,
            "{laid} rows laid out for an answer of {rows} rows at {width} columns"
        );
    }
}
