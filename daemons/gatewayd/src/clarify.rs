//! Asking instead of guessing. When the local model chose among several
//! candidate tools with little confidence (runtimed's
//! [`GenerateEvent::NameChoice`], sent just before the call), the call is
//! not passed on: the turn answers with a short question naming the tool
//! it would have called and the runner-up, and the user's reply routes
//! again. Below [`aios_router::CLARIFY_BELOW`] the model's pick was wrong
//! more often than right on the evaluation set (`docs/ROUTER.md`).
//!
//! Pure: [`Clarifier::on`] maps one runtime event to what the turn sees.

use aios_proto::{GenerateEvent, ModelTool};

/// Follows one generation's events and turns an unsure call into a
/// question.
#[derive(Debug, Clone)]
pub(crate) struct Clarifier {
    /// The offered tools: name and first sentence of the description.
    offered: Vec<(String, String)>,
    below: f32,
    unsure: Option<String>,
    asked: bool,
}

impl Clarifier {
    /// For a generation offered `tools`, asking below `below`.
    pub(crate) fn new(tools: &[ModelTool], below: f32) -> Self {
        Clarifier {
            offered: tools
                .iter()
                .map(|t| (t.name.clone(), first_sentence(&t.description).to_string()))
                .collect(),
            below,
            unsure: None,
            asked: false,
        }
    }

    /// What the turn sees of `event`: the event itself, a question instead
    /// of an unsure call, or nothing (the confidence itself; the call's
    /// end once replaced by a question becomes the end of an answer).
    pub(crate) fn on(&mut self, event: GenerateEvent) -> Option<GenerateEvent> {
        match event {
            GenerateEvent::NameChoice {
                confidence,
                runner_up,
            } => {
                if confidence < self.below {
                    tracing::info!(confidence, %runner_up, "unsure of the tool; asking");
                    self.unsure = Some(runner_up);
                }
                None
            }
            GenerateEvent::ToolCall(call) => match self.unsure.take() {
                Some(other) => {
                    self.asked = true;
                    Some(GenerateEvent::TextDelta(self.question(&call.name, &other)))
                }
                None => Some(GenerateEvent::ToolCall(call)),
            },
            GenerateEvent::Done { .. } if self.asked => Some(GenerateEvent::Done {
                finish: "end_of_text".into(),
            }),
            other => Some(other),
        }
    }

    fn question(&self, picked: &str, other: &str) -> String {
        let line = |name: &str| match self.offered.iter().find(|(n, _)| n == name) {
            Some((_, what)) if !what.is_empty() => {
                format!("`{name}`: {}", what.trim_end_matches('.'))
            }
            _ => format!("`{name}`"),
        };
        format!(
            "I'm not sure which you mean:\n- {}\n- {}\nWhich one? Or say it another way.",
            line(picked),
            line(other)
        )
    }
}

/// Up to and including the first full stop followed by a blank.
fn first_sentence(s: &str) -> &str {
    s.char_indices()
        .find(|&(i, c)| c == '.' && s[i + 1..].starts_with(char::is_whitespace))
        .map_or(s, |(i, _)| &s[..=i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use aios_proto::ToolCall;
    use serde_json::json;

    fn tool(name: &str, description: &str) -> ModelTool {
        ModelTool {
            name: name.into(),
            description: description.into(),
            schema: json!({"type": "object"}),
            examples: vec![],
        }
    }

    fn call(name: &str) -> GenerateEvent {
        GenerateEvent::ToolCall(ToolCall {
            id: "local-1".into(),
            name: name.into(),
            args: json!({"name": "nginx"}),
        })
    }

    fn run(confidence: f32) -> Vec<GenerateEvent> {
        let tools = [
            tool("service.start", "Start a service now. Needs root."),
            tool(
                "service.enable",
                "Start a service at every boot. Needs root.",
            ),
        ];
        let mut c = Clarifier::new(&tools, 0.5);
        [
            GenerateEvent::NameChoice {
                confidence,
                runner_up: "service.enable".into(),
            },
            call("service.start"),
            GenerateEvent::Done {
                finish: "tool_call".into(),
            },
        ]
        .into_iter()
        .filter_map(|e| c.on(e))
        .collect()
    }

    #[test]
    fn a_sure_call_passes_unchanged() {
        let out = run(0.9);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], call("service.start"));
        assert_eq!(
            out[1],
            GenerateEvent::Done {
                finish: "tool_call".into()
            }
        );
    }

    #[test]
    fn an_unsure_call_becomes_a_question_naming_both_tools() {
        let out = run(0.3);
        let GenerateEvent::TextDelta(q) = &out[0] else {
            panic!("expected a question, got {out:?}");
        };
        assert!(q.contains("`service.start`: Start a service now\n"), "{q}");
        assert!(
            q.contains("`service.enable`: Start a service at every boot"),
            "{q}"
        );
        assert!(!q.contains("Needs root"), "{q}");
        assert_eq!(
            out[1],
            GenerateEvent::Done {
                finish: "end_of_text".into()
            }
        );
    }
}
