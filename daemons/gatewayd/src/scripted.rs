//! The scripted provider: replays model turns from a JSON script file
//! (tests, demos, reproducible bug reports), or, with no script, runs the
//! embedded [`crate::demo`] model.
//!
//! Script format (`providers.scripted.script` / `AIOS_SCRIPT`):
//!
//! ```json
//! {"turns": [
//!   {"text": "Checking the disk.", "tool_calls": [{"name": "fs.usage", "args": {"path": "/"}}]},
//!   {"chunks": ["The disk ", "is 93% full."], "delay_ms": 20},
//!   {"tool_calls": [{"name": "x", "raw_args": "{bad"}]},
//!   {"text": "partial answer", "error": "simulated outage"}
//! ]}
//! ```
//!
//! The turn replayed is the number of assistant messages already in the
//! request, so a conversation replays deterministically whatever process
//! serves it. Tool call ids are `call_<turn>_<i>`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aios_proto::{CompletionEvent, CompletionRequest, ProviderStatus, Role, Usage};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;

use crate::demo;
use crate::error::ProviderError;
use crate::provider::{Provider, ProviderStream, assemble_tool_call, rough_tokens};

const NAME: &str = "scripted";

/// A whole script.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Turns in conversation order.
    pub turns: Vec<ScriptTurn>,
}

/// One model turn.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptTurn {
    /// Text to stream, split into word-sized deltas.
    #[serde(default)]
    pub text: String,
    /// Exact deltas; overrides `text`.
    #[serde(default)]
    pub chunks: Option<Vec<String>>,
    /// Tool calls emitted after the text.
    #[serde(default)]
    pub tool_calls: Vec<ScriptToolCall>,
    /// Fail the turn with this message: before the stream when the turn has
    /// no text (like an unreachable provider), else after the text (like a
    /// stream that breaks).
    #[serde(default)]
    pub error: Option<String>,
    /// Delay before each text delta, milliseconds.
    #[serde(default)]
    pub delay_ms: Option<u64>,
}

/// One scripted tool call.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptToolCall {
    /// Dotted tool name.
    pub name: String,
    /// Arguments (default `{}`).
    #[serde(default)]
    pub args: Option<Value>,
    /// Raw argument text instead of `args`, to produce malformed calls.
    #[serde(default)]
    pub raw_args: Option<String>,
}

impl Script {
    /// Parse and check a script's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Script, String> {
        let script: Script = serde_json::from_str(text).map_err(|e| {
            format!(
                "{origin}: invalid script at line {} column {}: {e}; expected {{\"turns\":[{{\"text\":\"...\",\"tool_calls\":[{{\"name\":\"fs.usage\",\"args\":{{}}}}]}}]}}",
                e.line(),
                e.column()
            )
        })?;
        for (t, turn) in script.turns.iter().enumerate() {
            for (i, call) in turn.tool_calls.iter().enumerate() {
                if call.args.is_some() && call.raw_args.is_some() {
                    return Err(format!(
                        "{origin}: turn {t}, tool call {i} ({}) has both `args` and `raw_args`; use one",
                        call.name
                    ));
                }
                if call.name.is_empty() {
                    return Err(format!(
                        "{origin}: turn {t}, tool call {i} has an empty name"
                    ));
                }
            }
        }
        Ok(script)
    }

    /// Read and parse a script file.
    pub fn load(path: &Path) -> Result<Script, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read script {}: {e}", path.display()))?;
        Script::parse(&text, &path.display().to_string())
    }
}

/// Where the scripted provider's turns come from.
#[derive(Debug, Clone)]
enum Source {
    Demo,
    Script {
        path: Option<PathBuf>,
        script: Script,
    },
    Broken {
        path: PathBuf,
        error: String,
    },
}

/// The scripted provider.
#[derive(Debug, Clone)]
pub struct ScriptedProvider {
    source: Source,
}

impl ScriptedProvider {
    /// The embedded demo model.
    pub fn demo() -> Self {
        ScriptedProvider {
            source: Source::Demo,
        }
    }

    /// Replay an in-memory script.
    pub fn from_script(script: Script) -> Self {
        ScriptedProvider {
            source: Source::Script { path: None, script },
        }
    }

    /// Replay a script file. A file that cannot be loaded does not stop the
    /// gateway: the provider reports it in `status()` and on every call.
    pub fn from_file(path: &Path) -> Self {
        let source = match Script::load(path) {
            Ok(script) => Source::Script {
                path: Some(path.to_path_buf()),
                script,
            },
            Err(error) => Source::Broken {
                path: path.to_path_buf(),
                error,
            },
        };
        ScriptedProvider { source }
    }

    /// From configuration: a script when one is set, else the demo.
    pub fn from_config(config: &aios_config::ScriptedConfig) -> Self {
        match &config.script {
            Some(p) => Self::from_file(p),
            None => Self::demo(),
        }
    }
}

/// Split text into word-sized deltas (each word keeps its trailing space).
pub fn split_text(text: &str) -> Vec<String> {
    text.split_inclusive(' ').map(str::to_string).collect()
}

/// The events of one turn, in order, with the delay before each. Pure.
fn turn_events(
    turn: &ScriptTurn,
    turn_no: usize,
    req: &CompletionRequest,
    model: &str,
    latency: Duration,
) -> Vec<(Duration, Result<CompletionEvent, ProviderError>)> {
    let delay = Duration::from_millis(turn.delay_ms.unwrap_or(0));
    let chunks = turn
        .chunks
        .clone()
        .unwrap_or_else(|| split_text(&turn.text));
    let mut out: Vec<(Duration, Result<CompletionEvent, ProviderError>)> = chunks
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| (delay, Ok(CompletionEvent::TextDelta(c.clone()))))
        .collect();
    if let Some(message) = &turn.error {
        out.push((
            Duration::ZERO,
            Err(ProviderError::Scripted(message.clone())),
        ));
        return out;
    }
    let mut out_chars: usize = chunks.iter().map(|c| c.chars().count()).sum();
    for (i, call) in turn.tool_calls.iter().enumerate() {
        let raw = match (&call.raw_args, &call.args) {
            (Some(raw), _) => raw.clone(),
            (None, Some(args)) => args.to_string(),
            (None, None) => "{}".into(),
        };
        out_chars += call.name.len() + raw.len();
        out.push((
            Duration::ZERO,
            Ok(assemble_tool_call(
                format!("call_{turn_no}_{i}"),
                call.name.clone(),
                &raw,
            )),
        ));
    }
    let in_chars = req.system.chars().count()
        + req
            .messages
            .iter()
            .map(|m| {
                m.content.chars().count()
                    + m.tool_calls
                        .iter()
                        .map(|c| c.args.to_string().len())
                        .sum::<usize>()
            })
            .sum::<usize>();
    out.push((
        Duration::ZERO,
        Ok(CompletionEvent::Usage(Usage {
            input_tokens: rough_tokens(in_chars),
            output_tokens: rough_tokens(out_chars),
            cost_usd: Some(0.0),
            provider: NAME.into(),
            model: model.to_string(),
            latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            tokens_estimated: true,
            ..Usage::default()
        })),
    ));
    let stop = if turn.tool_calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    out.push((
        Duration::ZERO,
        Ok(CompletionEvent::Done {
            stop_reason: stop.into(),
        }),
    ));
    out
}

#[async_trait::async_trait]
impl Provider for ScriptedProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn default_model(&self) -> String {
        match self.source {
            Source::Demo => "demo".into(),
            _ => "script".into(),
        }
    }

    fn status(&self) -> ProviderStatus {
        let (configured, detail) = match &self.source {
            Source::Demo => (
                true,
                "embedded demo (no script; set AIOS_SCRIPT to replay a file)".to_string(),
            ),
            Source::Script { path, script } => (
                true,
                format!(
                    "replaying {} ({} turns)",
                    path.as_deref().map_or_else(
                        || "an in-memory script".to_string(),
                        |p| p.display().to_string()
                    ),
                    script.turns.len()
                ),
            ),
            Source::Broken { error, .. } => (false, error.clone()),
        };
        ProviderStatus {
            name: NAME.into(),
            model: self.default_model(),
            base_url: match &self.source {
                Source::Script { path: Some(p), .. } | Source::Broken { path: p, .. } => {
                    p.display().to_string()
                }
                _ => String::new(),
            },
            configured,
            reachable: configured,
            detail,
            is_default: false,
        }
    }

    async fn probe(&self) -> Result<String, ProviderError> {
        match &self.source {
            Source::Broken { error, .. } => Err(ProviderError::Unavailable {
                provider: NAME,
                detail: error.clone(),
            }),
            _ => Ok(self.status().detail),
        }
    }

    async fn complete(&self, req: CompletionRequest) -> Result<ProviderStream, ProviderError> {
        let started = Instant::now();
        let turn_no = req
            .messages
            .iter()
            .filter(|m| m.role == Role::Assistant)
            .count();
        let model = req.model.clone().unwrap_or_else(|| self.default_model());
        let turn = match &self.source {
            Source::Broken { error, .. } => {
                return Err(ProviderError::Unavailable {
                    provider: NAME,
                    detail: error.clone(),
                });
            }
            Source::Script { script, .. } => {
                let Some(turn) = script.turns.get(turn_no) else {
                    return Err(ProviderError::ScriptExhausted {
                        turns: script.turns.len(),
                    });
                };
                if let (Some(message), true) =
                    (&turn.error, turn.text.is_empty() && turn.chunks.is_none())
                {
                    return Err(ProviderError::Scripted(message.clone()));
                }
                turn.clone()
            }
            Source::Demo => {
                let reply = demo::reply(&req);
                ScriptTurn {
                    text: reply.text,
                    tool_calls: reply
                        .tool_calls
                        .into_iter()
                        .map(|(name, args)| ScriptToolCall {
                            name,
                            args: Some(args),
                            raw_args: None,
                        })
                        .collect(),
                    ..Default::default()
                }
            }
        };
        let events = turn_events(&turn, turn_no, &req, &model, started.elapsed());
        Ok(futures::stream::iter(events)
            .then(|(delay, ev)| async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                ev
            })
            .boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_are_located_and_explain_the_format() {
        let e = Script::parse("{\"turns\": [{\"txt\": 1}]}", "s.json").unwrap_err();
        assert!(
            e.contains("s.json") && e.contains("line 1") && e.contains("txt"),
            "{e}"
        );
        let e = Script::parse(
            r#"{"turns":[{"tool_calls":[{"name":"a","args":{},"raw_args":"{}"}]}]}"#,
            "s",
        )
        .unwrap_err();
        assert!(e.contains("both"), "{e}");
    }

    #[test]
    fn turn_events_order_ids_and_stop_reason() {
        let turn = ScriptTurn {
            text: "Checking the disk.".into(),
            tool_calls: vec![
                ScriptToolCall {
                    name: "fs.usage".into(),
                    args: Some(serde_json::json!({"path": "/"})),
                    raw_args: None,
                },
                ScriptToolCall {
                    name: "x".into(),
                    args: None,
                    raw_args: Some("{bad".into()),
                },
            ],
            ..Default::default()
        };
        let ev: Vec<_> = turn_events(
            &turn,
            2,
            &CompletionRequest::default(),
            "script",
            Duration::ZERO,
        )
        .into_iter()
        .map(|(_, e)| e.unwrap())
        .collect();
        assert_eq!(ev[0], CompletionEvent::TextDelta("Checking ".into()));
        assert_eq!(ev[2], CompletionEvent::TextDelta("disk.".into()));
        assert!(
            matches!(&ev[3], CompletionEvent::ToolCall(t) if t.id == "call_2_0" && t.name == "fs.usage")
        );
        assert!(
            matches!(&ev[4], CompletionEvent::MalformedToolCall { id, .. } if id == "call_2_1")
        );
        assert!(matches!(&ev[5], CompletionEvent::Usage(u) if u.output_tokens > 0));
        assert_eq!(
            ev[6],
            CompletionEvent::Done {
                stop_reason: "tool_use".into()
            }
        );
    }

    #[test]
    fn text_then_error_ends_with_the_error() {
        let turn = ScriptTurn {
            chunks: Some(vec!["a".into(), "b".into()]),
            error: Some("boom".into()),
            ..Default::default()
        };
        let ev = turn_events(&turn, 0, &CompletionRequest::default(), "m", Duration::ZERO);
        assert_eq!(ev.len(), 3);
        assert!(matches!(&ev[2].1, Err(ProviderError::Scripted(m)) if m == "boom"));
    }
}
