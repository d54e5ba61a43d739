//! One streamed model call of a turn: the conversation and tools go to
//! the gateway, text deltas are shown as they come, and the reply's tool
//! calls (valid or malformed) are collected, bounded in number and size.

use std::time::Duration;

use aios_proto::{CompletionEvent, CompletionRequest, ErrorCode, EventKind, ModelTool, ToolCall};
use futures::StreamExt;
use tokio::time::Instant;

use super::{Backend, SYSTEM_PROMPT, Stop, Turn, backend_stop, failed};
use crate::context::{Memory, TokenCount};
use crate::limits::{MAX_REPLY_BYTES, MAX_TOOL_CALLS_PER_REPLY};

/// One call the model asked for.
pub(super) enum Requested {
    Valid(ToolCall),
    Malformed {
        id: String,
        name: String,
        raw: String,
        error: String,
    },
}

/// What one model call answered.
pub(super) struct ModelReply {
    pub(super) text: String,
    pub(super) calls: Vec<Requested>,
    /// Calls past [`MAX_TOOL_CALLS_PER_REPLY`], not run.
    pub(super) dropped: usize,
}

impl Turn {
    /// One streamed model call.
    pub(super) async fn model_call(
        &self,
        tools: &[ModelTool],
        memories: &[Memory],
    ) -> Result<ModelReply, Stop> {
        let messages = crate::working::messages_for(
            self.backends.as_ref(),
            &self.session,
            &self.limits,
            &self.cancel,
            memories,
        )
        .await
        .ok_or(Stop::Interrupted)?;
        let started = Instant::now();
        let req = CompletionRequest {
            provider: self.provider.clone(),
            model: self.model.clone(),
            system: SYSTEM_PROMPT.to_string(),
            messages,
            tools: tools.to_vec(),
            max_tokens: 0,
            session: Some(self.session.info.id.clone()),
        };
        // The byte estimate of the conversation, to compare with the
        // provider's count (see `working::Calibrator`).
        let estimated = TokenCount::default().messages(&req.messages);
        let mut stream = self
            .guard(
                Backend::Model,
                self.limits.model_timeout,
                self.backends.complete(req),
            )
            .await?;
        // No deadline representable on this clock means none in practice.
        let deadline = started.checked_add(self.limits.model_timeout);
        let mut reply = ModelReply {
            text: String::new(),
            calls: Vec::new(),
            dropped: 0,
        };
        loop {
            let left = deadline.map_or(Duration::MAX, |d| {
                d.saturating_duration_since(Instant::now())
            });
            let idle = self.limits.model_idle_timeout.min(left);
            let next = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(Stop::Interrupted),
                n = tokio::time::timeout(idle, stream.next()) => n,
            };
            let item = match next {
                Err(_) => {
                    return Err(failed(
                        ErrorCode::Timeout,
                        format!("the model sent nothing for {}s", idle.as_secs()),
                    ));
                }
                Ok(None) => {
                    return Err(failed(
                        ErrorCode::ModelError,
                        "the model stream ended before the response was complete",
                    ));
                }
                Ok(Some(Err(e))) => return Err(backend_stop(Backend::Model, e)),
                Ok(Some(Ok(ev))) => ev,
            };
            match item {
                CompletionEvent::TextDelta(text) => {
                    if reply.text.len().saturating_add(text.len()) > MAX_REPLY_BYTES {
                        return Err(failed(
                            ErrorCode::ReplyTooLarge,
                            format!(
                                "the model's reply passed {} KiB of text; aiOS stopped reading it",
                                MAX_REPLY_BYTES / 1024
                            ),
                        ));
                    }
                    reply.text.push_str(&text);
                    self.session.emit(EventKind::AssistantDelta {
                        turn_id: self.turn_id.clone(),
                        text,
                    });
                }
                CompletionEvent::ToolCall(_) | CompletionEvent::MalformedToolCall { .. }
                    if reply.calls.len() >= MAX_TOOL_CALLS_PER_REPLY =>
                {
                    reply.dropped += 1;
                }
                CompletionEvent::ToolCall(c) => reply.calls.push(Requested::Valid(c)),
                CompletionEvent::MalformedToolCall {
                    id,
                    name,
                    raw_args,
                    error,
                } => {
                    self.session.emit(EventKind::Error {
                        code: ErrorCode::MalformedToolCall,
                        message: format!(
                            "the model sent arguments for {name} that are not valid JSON: {error}"
                        ),
                        fatal: false,
                    });
                    reply.calls.push(Requested::Malformed {
                        id,
                        name,
                        raw: raw_args,
                        error,
                    });
                }
                CompletionEvent::Usage(mut u) => {
                    if !u.tokens_estimated {
                        self.calibrator
                            .observe(&self.session, u.input_tokens, estimated);
                    }
                    u.latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    self.session.emit(EventKind::Usage(u));
                }
                CompletionEvent::Done { .. } => {
                    if reply.dropped > 0 {
                        self.session.emit(EventKind::Error {
                            code: ErrorCode::TooManyToolCalls,
                            message: format!(
                                "the model asked for {} tool calls in one reply; aiOS runs at most {MAX_TOOL_CALLS_PER_REPLY} per reply, so only the first {MAX_TOOL_CALLS_PER_REPLY} run (the model is told)",
                                reply.calls.len() + reply.dropped
                            ),
                            fatal: false,
                        });
                    }
                    return Ok(reply);
                }
            }
        }
    }
}

/// A call as the plan shows it.
pub(super) fn describe(c: &Requested) -> String {
    match c {
        Requested::Valid(c) => format!("{} {}", c.name, c.args),
        Requested::Malformed { name, .. } => format!("{name} (invalid arguments)"),
    }
}
