//! Conversions of the session service: sessions, client operations and
//! the event stream.

use super::*;

fn step_in(v: i32) -> d::StepStatus {
    match w::StepStatus::try_from(v) {
        Ok(w::StepStatus::Running) => d::StepStatus::Running,
        Ok(w::StepStatus::Done) => d::StepStatus::Done,
        Ok(w::StepStatus::Failed) => d::StepStatus::Failed,
        Ok(w::StepStatus::Skipped) => d::StepStatus::Skipped,
        _ => d::StepStatus::Pending,
    }
}

fn step_out(v: d::StepStatus) -> i32 {
    (match v {
        d::StepStatus::Pending => w::StepStatus::Pending,
        d::StepStatus::Running => w::StepStatus::Running,
        d::StepStatus::Done => w::StepStatus::Done,
        d::StepStatus::Failed => w::StepStatus::Failed,
        d::StepStatus::Skipped => w::StepStatus::Skipped,
    }) as i32
}

fn turn_in(v: i32) -> d::TurnStatus {
    match w::TurnStatus::try_from(v) {
        Ok(w::TurnStatus::Completed) => d::TurnStatus::Completed,
        Ok(w::TurnStatus::Interrupted) => d::TurnStatus::Interrupted,
        Ok(w::TurnStatus::Refused) => d::TurnStatus::Refused,
        _ => d::TurnStatus::Failed,
    }
}

fn turn_out(v: d::TurnStatus) -> i32 {
    (match v {
        d::TurnStatus::Completed => w::TurnStatus::Completed,
        d::TurnStatus::Failed => w::TurnStatus::Failed,
        d::TurnStatus::Interrupted => w::TurnStatus::Interrupted,
        d::TurnStatus::Refused => w::TurnStatus::Refused,
    }) as i32
}

pub(crate) fn create_in(r: w::CreateSessionRequest) -> d::CreateSession {
    d::CreateSession {
        provider: opt(r.provider),
        model: opt(r.model),
        approval: approval_in(r.approval),
        title: r.title,
        kind: session_kind_in(r.kind),
    }
}

pub(crate) fn create_out(r: d::CreateSession) -> w::CreateSessionRequest {
    w::CreateSessionRequest {
        provider: r.provider.unwrap_or_default(),
        model: r.model.unwrap_or_default(),
        approval: approval_out(r.approval),
        title: r.title,
        kind: session_kind_out(r.kind),
    }
}

pub(crate) fn session_in(s: w::SessionInfo) -> d::SessionInfo {
    d::SessionInfo {
        id: s.id,
        uid: s.uid,
        provider: s.provider,
        model: s.model,
        created_unix_ms: s.created_unix_ms,
        title: s.title,
        approval: approval_in(s.approval),
        kind: session_kind_in(s.kind),
    }
}

pub(crate) fn session_out(s: d::SessionInfo) -> w::SessionInfo {
    w::SessionInfo {
        id: s.id,
        uid: s.uid,
        provider: s.provider,
        model: s.model,
        created_unix_ms: s.created_unix_ms,
        title: s.title,
        approval: approval_out(s.approval),
        kind: session_kind_out(s.kind),
    }
}

pub(crate) fn op_in(op: w::ClientOp) -> Result<d::Op, ApiError> {
    use w::client_op::Op as O;
    Ok(
        match op.op.ok_or_else(|| ApiError::invalid("empty client op"))? {
            O::UserInput(u) => d::Op::UserInput { text: u.text },
            O::ApprovalDecision(a) => {
                let decision = decision_in(a.decision)?;
                d::Op::ApprovalDecision {
                    call_id: a.call_id,
                    decision,
                }
            }
            O::Interrupt(_) => d::Op::Interrupt,
            O::Attach(a) => d::Op::Attach {
                session_id: a.session_id,
                after_seq: a.after_seq,
            },
            O::Detach(_) => d::Op::Detach,
        },
    )
}

pub(crate) fn op_out(op: d::Op) -> w::ClientOp {
    use w::client_op::Op as O;
    let op = match op {
        d::Op::UserInput { text } => O::UserInput(w::UserInput { text }),
        d::Op::ApprovalDecision { call_id, decision } => {
            let decision = decision_out(decision);
            O::ApprovalDecision(w::ApprovalDecision {
                call_id,
                decision: Some(decision),
            })
        }
        d::Op::Interrupt => O::Interrupt(w::Interrupt {}),
        d::Op::Attach {
            session_id,
            after_seq,
        } => O::Attach(w::Attach {
            session_id,
            after_seq,
        }),
        d::Op::Detach => O::Detach(w::Detach {}),
    };
    w::ClientOp { op: Some(op) }
}

/// Decode one event. An event whose kind this build does not know (a
/// newer `aiosd` added it; prost leaves the `oneof` empty) is `None`:
/// consumers skip it, as `docs/EVENTS.md` promises, instead of failing.
pub(crate) fn event_in(e: w::SessionEvent) -> Result<Option<d::Event>, ApiError> {
    use w::session_event::Kind as K;
    let Some(kind) = e.kind else {
        return Ok(None);
    };
    let kind = match kind {
        K::SessionStarted(s) => d::EventKind::SessionStarted {
            provider: s.provider,
            model: s.model,
            resumed: s.resumed,
        },
        K::TurnStarted(t) => d::EventKind::TurnStarted {
            turn_id: t.turn_id,
            input: t.input,
        },
        K::AssistantDelta(a) => d::EventKind::AssistantDelta {
            turn_id: a.turn_id,
            text: a.text,
        },
        K::PlanProposed(p) => d::EventKind::PlanProposed {
            turn_id: p.turn_id,
            steps: p.steps,
        },
        K::StepUpdate(s) => d::EventKind::StepUpdate {
            turn_id: s.turn_id,
            index: s.index,
            status: step_in(s.status),
        },
        K::ToolCallBegin(t) => d::EventKind::ToolCallBegin {
            turn_id: t.turn_id,
            call_id: t.call_id,
            tool: t.tool,
            args: json_in(&t.args_json)?,
            risk: risk_in(t.risk),
            rationale: t.rationale,
        },
        K::ApprovalRequested(a) => {
            d::EventKind::ApprovalRequested(Box::new(approval_needed_in(a)?))
        }
        K::ToolOutputDelta(t) => d::EventKind::ToolOutputDelta {
            call_id: t.call_id,
            chunk: t.chunk,
        },
        K::ToolCallEnd(t) => d::EventKind::ToolCallEnd {
            call_id: t.call_id,
            status: tool_status_in(t.status),
            result: json_in(&t.result)?,
            duration_us: t.duration_us,
        },
        K::Usage(u) => d::EventKind::Usage(usage_in(u)),
        K::Notification(n) => d::EventKind::Notification {
            level: n.level,
            text: n.text,
        },
        K::TurnCompleted(t) => d::EventKind::TurnCompleted {
            turn_id: t.turn_id,
            status: turn_in(t.status),
            message: t.message,
        },
        K::Error(x) => d::EventKind::Error {
            code: d::ErrorCode::parse(&x.code),
            message: x.message,
            fatal: x.fatal,
        },
    };
    Ok(Some(d::Event {
        seq: e.seq,
        session_id: e.session_id,
        unix_ms: e.unix_ms,
        kind,
    }))
}

pub(crate) fn event_out(e: d::Event) -> w::SessionEvent {
    use w::session_event::Kind as K;
    let kind = match e.kind {
        d::EventKind::SessionStarted {
            provider,
            model,
            resumed,
        } => K::SessionStarted(w::SessionStarted {
            provider,
            model,
            resumed,
        }),
        d::EventKind::TurnStarted { turn_id, input } => {
            K::TurnStarted(w::TurnStarted { turn_id, input })
        }
        d::EventKind::AssistantDelta { turn_id, text } => {
            K::AssistantDelta(w::AssistantDelta { turn_id, text })
        }
        d::EventKind::PlanProposed { turn_id, steps } => {
            K::PlanProposed(w::PlanProposed { turn_id, steps })
        }
        d::EventKind::StepUpdate {
            turn_id,
            index,
            status,
        } => K::StepUpdate(w::StepUpdate {
            turn_id,
            index,
            status: step_out(status),
        }),
        d::EventKind::ToolCallBegin {
            turn_id,
            call_id,
            tool,
            args,
            risk,
            rationale,
        } => K::ToolCallBegin(w::ToolCallBegin {
            turn_id,
            call_id,
            tool,
            args_json: json_out(&args),
            risk: risk_out(risk),
            rationale,
        }),
        d::EventKind::ApprovalRequested(a) => K::ApprovalRequested(approval_needed_out(*a)),
        d::EventKind::ToolOutputDelta { call_id, chunk } => {
            K::ToolOutputDelta(w::ToolOutputDelta { call_id, chunk })
        }
        d::EventKind::ToolCallEnd {
            call_id,
            status,
            result,
            duration_us,
        } => K::ToolCallEnd(w::ToolCallEnd {
            call_id,
            status: tool_status_out(status),
            result: json_out(&result),
            duration_us,
        }),
        d::EventKind::Usage(u) => K::Usage(usage_out(u)),
        d::EventKind::Notification { level, text } => {
            K::Notification(w::Notification { level, text })
        }
        d::EventKind::TurnCompleted {
            turn_id,
            status,
            message,
        } => K::TurnCompleted(w::TurnCompleted {
            turn_id,
            status: turn_out(status),
            message,
        }),
        d::EventKind::Error {
            code,
            message,
            fatal,
        } => K::Error(w::Error {
            code: code.as_str().to_string(),
            message,
            fatal,
        }),
    };
    w::SessionEvent {
        seq: e.seq,
        session_id: e.session_id,
        unix_ms: e.unix_ms,
        kind: Some(kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::json_in;
    use serde_json::json;

    #[test]
    fn events_round_trip_through_the_wire() {
        let kinds = vec![
            d::EventKind::ToolCallBegin {
                turn_id: "t".into(),
                call_id: "c".into(),
                tool: "fs.usage".into(),
                args: json!({"path": "/"}),
                risk: d::Risk::Read,
                rationale: "why".into(),
            },
            d::EventKind::ToolCallEnd {
                call_id: "c".into(),
                status: d::ToolStatus::Denied,
                result: json!("no"),
                duration_us: 7,
            },
            d::EventKind::Usage(d::Usage {
                cost_usd: None,
                ..Default::default()
            }),
            d::EventKind::TurnCompleted {
                turn_id: "t".into(),
                status: d::TurnStatus::Refused,
                message: "m".into(),
            },
        ];
        for kind in kinds {
            let e = d::Event {
                seq: 3,
                session_id: "s".into(),
                unix_ms: 9,
                kind,
            };
            assert_eq!(event_in(event_out(e.clone())).unwrap(), Some(e));
        }
    }

    #[test]
    fn an_event_of_an_unknown_kind_is_skipped_not_an_error() {
        // What a newer aiosd's event looks like to this build: the oneof
        // field number is unknown, so prost decodes no kind.
        use prost::Message;
        let newer = w::SessionEvent {
            seq: 4,
            session_id: "s".into(),
            unix_ms: 1,
            kind: None,
        };
        let mut bytes = newer.encode_to_vec();
        // Field 99, length-delimited, two bytes: an unknown oneof member.
        bytes.extend_from_slice(&[0x9a, 0x06, 0x02, 0x08, 0x01]);
        let decoded = w::SessionEvent::decode(bytes.as_slice()).unwrap();
        assert!(decoded.kind.is_none());
        assert_eq!(event_in(decoded).unwrap(), None);
    }

    #[test]
    fn ops_round_trip_through_the_wire() {
        for op in [
            d::Op::UserInput { text: "hi".into() },
            d::Op::ApprovalDecision {
                call_id: "c".into(),
                decision: d::Decision::Edit {
                    args: json!({"a": 1}),
                },
            },
            d::Op::ApprovalDecision {
                call_id: "c".into(),
                decision: d::Decision::Reject {
                    note: Some("no".into()),
                },
            },
            d::Op::Interrupt,
            d::Op::Detach,
        ] {
            assert_eq!(op_in(op_out(op.clone())).unwrap(), op);
        }
    }

    #[test]
    fn the_session_kind_survives_the_wire_and_unspecified_is_interactive() {
        for kind in [
            d::SessionKind::Interactive,
            d::SessionKind::OneShot,
            d::SessionKind::Background,
        ] {
            let create = d::CreateSession {
                approval: d::ApprovalMode::Policy,
                kind,
                ..Default::default()
            };
            assert_eq!(create_in(create_out(create.clone())), create);
            let info = d::SessionInfo {
                id: "s".into(),
                uid: 7,
                provider: "p".into(),
                model: "m".into(),
                created_unix_ms: 1,
                title: String::new(),
                approval: d::ApprovalMode::Ask,
                kind,
            };
            assert_eq!(session_in(session_out(info.clone())), info);
        }
        // A client that predates the field sends none.
        let old = w::CreateSessionRequest::default();
        assert_eq!(create_in(old).kind, d::SessionKind::Interactive);
    }

    #[test]
    fn bad_json_on_the_wire_is_an_invalid_argument() {
        let err = json_in("{nope").unwrap_err();
        assert_eq!(err.kind, crate::ApiErrorKind::InvalidArgument);
    }
}
