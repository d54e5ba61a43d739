use aios_proto::{ToolCall, TurnStatus};

use super::*;

fn ev(seq: u64, kind: EventKind) -> Event {
    Event {
        seq,
        session_id: "s".into(),
        unix_ms: 1,
        kind,
    }
}

fn started(seq: u64, turn: &str) -> Event {
    ev(
        seq,
        EventKind::TurnStarted {
            turn_id: turn.into(),
            input: "q".into(),
        },
    )
}

fn completed(seq: u64, turn: &str) -> Event {
    ev(
        seq,
        EventKind::TurnCompleted {
            turn_id: turn.into(),
            status: TurnStatus::Completed,
            message: String::new(),
        },
    )
}

fn msg(turn: &str, role: Role, calls: &[&str], answers: Option<&str>) -> StoredMessage {
    StoredMessage {
        session_id: "s".into(),
        turn_id: turn.into(),
        role,
        content: format!("{role:?}"),
        tool_calls: calls
            .iter()
            .map(|id| ToolCall {
                id: (*id).into(),
                name: "fs.read".into(),
                args: serde_json::json!({}),
            })
            .collect(),
        tool_call_id: answers.map(Into::into),
        unix_ms: 1,
    }
}

#[test]
fn a_started_turn_without_completion_is_open() {
    assert_eq!(open_turn(&[started(1, "t1"), completed(2, "t1")]), None);
    assert_eq!(
        open_turn(&[started(1, "t1"), completed(2, "t1"), started(3, "t2")]),
        Some("t2".into())
    );
    // Its start fell out of the events read back; its activity did not.
    let delta = ev(
        9,
        EventKind::AssistantDelta {
            turn_id: "t7".into(),
            text: "x".into(),
        },
    );
    assert_eq!(open_turn(&[delta]), Some("t7".into()));
}

#[test]
fn the_turn_counter_continues_after_the_highest_id_seen() {
    let messages = [msg("t12", Role::User, &[], None)];
    assert_eq!(turns_started(&[started(1, "t3")], &messages), 12);
    assert_eq!(turns_started(&[], &[]), 0);
}

#[test]
fn repaired_history_starts_at_a_user_and_answers_every_call() {
    let h = repair_history(
        vec![
            // Cut by the read limit: no user message before these.
            msg("t1", Role::Tool, &[], Some("old")),
            msg("t1", Role::Assistant, &[], None),
            msg("t2", Role::User, &[], None),
            msg("t2", Role::Assistant, &["a", "b"], None),
            msg("t2", Role::Tool, &[], Some("a")),
            // The restart came before b's result.
        ],
        &HashSet::new(),
    );
    let shape: Vec<(Role, Option<&str>)> = h
        .iter()
        .map(|m| (m.role, m.tool_call_id.as_deref()))
        .collect();
    assert_eq!(
        shape,
        [
            (Role::User, None),
            (Role::Assistant, None),
            (Role::Tool, Some("a")),
            (Role::Tool, Some("b")),
        ]
    );
    assert_eq!(h[3].content, INTERRUPTED_RESULT);
}

#[test]
fn a_stored_summary_keeps_its_place_or_moves_back_to_its_turn_start() {
    let m = |role: Role| ChatMessage {
        role,
        content: "x".into(),
        tool_calls: vec![],
        tool_call_id: None,
    };
    // Two turns of user, assistant; the second starts at 2.
    let h = vec![
        m(Role::User),
        m(Role::Assistant),
        m(Role::User),
        m(Role::Assistant),
    ];
    let s = |covers| Summary {
        covers,
        text: "earlier".into(),
    };
    assert_eq!(restored_summary(s(2), &h, true).covers, 2);
    // Inside a turn: back to its start, so nothing unsummarised is hidden.
    assert_eq!(restored_summary(s(3), &h, true).covers, 2);
    assert_eq!(restored_summary(s(1), &h, true).covers, 0);
    // Past the end (messages lost): everything restored is covered.
    assert_eq!(restored_summary(s(9), &h, true).covers, 4);
    // Read in part: it stands for what came before.
    let part = restored_summary(s(3), &h, false);
    assert_eq!(part.covers, 0);
    assert_eq!(part.text, "earlier");
}

#[test]
fn a_call_toolsd_kept_is_left_open_for_the_resumed_turn() {
    let h = repair_history(
        vec![
            msg("t2", Role::User, &[], None),
            msg("t2", Role::Assistant, &["a", "b"], None),
        ],
        &HashSet::from(["a".to_string()]),
    );
    let shape: Vec<(Role, Option<&str>)> = h
        .iter()
        .map(|m| (m.role, m.tool_call_id.as_deref()))
        .collect();
    // b never ran and is closed; a waits for its approval still.
    assert_eq!(
        shape,
        [
            (Role::User, None),
            (Role::Assistant, None),
            (Role::Tool, Some("b")),
        ]
    );
}

fn begin(seq: u64, turn: &str, call: &str) -> Event {
    ev(
        seq,
        EventKind::ToolCallBegin {
            turn_id: turn.into(),
            call_id: call.into(),
            tool: "fs.write".into(),
            args: serde_json::json!({ "call": call }),
            risk: aios_proto::Risk::Change,
            rationale: String::new(),
        },
    )
}

fn plan(seq: u64, turn: &str) -> Event {
    ev(
        seq,
        EventKind::PlanProposed {
            turn_id: turn.into(),
            steps: vec![],
        },
    )
}

fn kept(call: &str) -> PendingCall {
    PendingCall {
        call_id: call.into(),
        tool: "fs.write".into(),
        call_hash: format!("h-{call}"),
        expires_unix_ms: 0,
    }
}

#[test]
fn the_open_turns_kept_calls_are_found_with_their_step_and_arguments() {
    let events = [
        started(1, "t1"),
        plan(2, "t1"),
        begin(3, "t1", "x"),
        plan(4, "t1"),
        begin(5, "t1", "a"),
        begin(6, "t1", "b"),
    ];
    let found = waiting(&events, "t1", &[kept("b"), kept("gone")]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].call.call_id, "b");
    assert_eq!(found[0].step, Some(1));
    assert_eq!(found[0].args, serde_json::json!({ "call": "b" }));
    // Another turn's kept call is not this turn's.
    assert!(waiting(&events, "t2", &[kept("b")]).is_empty());
}
