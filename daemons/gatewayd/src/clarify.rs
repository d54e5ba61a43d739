//! Asking instead of guessing. When the local model chose among several
//! candidate tools with little confidence (runtimed's
//! [`GenerateEvent::NameChoice`], sent just before the call), the call is
//! not passed on: the turn answers with a short question naming the tool
//! it would have called and the runner-up, and the user's reply routes
//! again. Below [`aios_router::CLARIFY_BELOW`] the model's pick was wrong
//! more often than right on the evaluation set (`docs/ROUTER.md`).
//!
//! The user's reply is read by [`picked`]: naming one of the two tools (its
//! name, its verb, "the first", "2"…) offers that tool alone, so the model
//! fills its arguments from the original request still in the
//! conversation; any other reply is routed as a new request.
//!
//! Pure: [`Clarifier::on`] maps one runtime event to what the turn sees.

use aios_proto::{ChatMessage, GenerateEvent, ModelTool, Role};

/// How every question begins: [`picked`] recognises its own questions by it.
const QUESTION_HEAD: &str = "I'm not sure which you mean:";

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
            "{QUESTION_HEAD}\n- {}\n- {}\nWhich one? Or say it another way.",
            line(picked),
            line(other)
        )
    }
}

/// When the conversation ends with the user's reply to one of our
/// questions and the reply picks one of its two tools, that tool's name.
pub(crate) fn picked(messages: &[ChatMessage]) -> Option<String> {
    let [.., asked, reply] = messages else {
        return None;
    };
    if asked.role != Role::Assistant || reply.role != Role::User {
        return None;
    }
    let options: Vec<&str> = asked
        .content
        .strip_prefix(QUESTION_HEAD)?
        .lines()
        .filter_map(|l| l.strip_prefix("- `")?.split_once('`').map(|(n, _)| n))
        .collect();
    let [first, second] = options[..] else {
        return None;
    };
    let reply = reply.content.to_lowercase();
    let words: Vec<&str> = reply
        .split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '_'))
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty())
        .collect();
    let says = |list: &[&str]| words.iter().any(|w| list.contains(w));
    // Its full name, or its verb ("enable" for `service.enable`).
    let names = |tool: &str| {
        let verb = tool.rsplit('.').next().unwrap_or(tool);
        words.iter().any(|w| *w == tool || *w == verb)
    };
    let choice = match (names(first), names(second)) {
        (true, false) => Some(first),
        (false, true) => Some(second),
        (true, true) => None,
        (false, false) => {
            match (
                says(&["first", "1", "former", "top", "1st"]),
                says(&["second", "2", "latter", "other", "last", "bottom", "2nd"]),
            ) {
                (true, false) => Some(first),
                (false, true) => Some(second),
                _ => None,
            }
        }
    };
    choice.map(str::to_string)
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

    fn msg(role: Role, content: &str) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
            tool_calls: vec![],
            tool_call_id: None,
        }
    }

    #[test]
    fn the_reply_to_a_question_picks_one_of_its_tools() {
        let GenerateEvent::TextDelta(question) = &run(0.1)[0] else {
            panic!("no question")
        };
        let pick = |reply: &str| {
            picked(&[
                msg(Role::User, "make nginx come up"),
                msg(Role::Assistant, question),
                msg(Role::User, reply),
            ])
        };
        assert_eq!(pick("the second one").as_deref(), Some("service.enable"));
        assert_eq!(pick("2").as_deref(), Some("service.enable"));
        assert_eq!(
            pick("enable it, at boot").as_deref(),
            Some("service.enable")
        );
        assert_eq!(
            pick("service.start please").as_deref(),
            Some("service.start")
        );
        assert_eq!(pick("First.").as_deref(), Some("service.start"));
        assert_eq!(pick("start and enable"), None, "both named");
        assert_eq!(pick("what is the weather"), None);
        // Only our own question, and only as the exchange just before.
        assert_eq!(
            picked(&[
                msg(Role::Assistant, "Which one? the first"),
                msg(Role::User, "first")
            ]),
            None
        );
        assert_eq!(picked(&[msg(Role::User, "first")]), None);
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
