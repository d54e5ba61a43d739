//! The parts of a tool call that are decided before the model writes them.
//! Pure text: [`crate::engine`] asks [`CallSteer::next`] after every token
//! and writes what it returns without sampling.
//!
//! A call is `<tool_call>\n{"name": "NAME", "arguments": {…}}\n</tool_call>`.
//! Of its ~30 tokens only the name and the arguments are the model's
//! choice; the rest is fixed by the grammar once the call has begun. Each
//! sampled token costs one decode (tens of ms on two cores), while forced
//! text is evaluated in one batch, and the closing text needs no decode at
//! all: the reply is complete once the arguments object closes.
//!
//! Forced text always ends where the model's own tokenisation would break
//! (after `"name": "` and after `"arguments":`), never inside a name or a
//! value, so what the model reads back is what it would have written.

use serde_json::Value;

/// How a call begins, up to its name.
const HEAD_START: &str = "<tool_call>\n{\"name\": \"";
/// What follows the name, up to the arguments.
const AFTER_NAME: &str = "\", \"arguments\":";
/// What follows the arguments object.
const TAIL: &str = "}\n</tool_call>";

/// What to do next, given the reply so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Steer {
    /// Let the model choose the next token.
    Sample,
    /// Append this text (evaluated in one batch), then go on.
    Force(String),
    /// Append this text and end the reply: nothing else can follow.
    Finish(String),
}

/// Steering for a reply whose grammar is [`crate::tools::reply_grammar`]
/// over some candidate tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallSteer {
    /// Each candidate's call up to its arguments:
    /// `<tool_call>\n{"name": "NAME", "arguments":`.
    heads: Vec<String>,
    /// Only a call may follow (no text answer), so its start is forced at
    /// once.
    require_call: bool,
}

impl CallSteer {
    /// Steering for calls to one of `names`; with `require_call`, the reply
    /// must be a call.
    pub fn new<'a>(names: impl IntoIterator<Item = &'a str>, require_call: bool) -> Self {
        CallSteer {
            heads: names
                .into_iter()
                .map(|n| format!("{HEAD_START}{n}{AFTER_NAME}"))
                .collect(),
            require_call,
        }
    }

    /// What comes next after `text`, the reply so far (forced text
    /// included).
    pub fn next(&self, text: &str) -> Steer {
        let t = text.trim_start();
        if self.heads.is_empty()
            || (t.is_empty() && !self.require_call)
            || !t.starts_with('<') && !t.is_empty()
        {
            return Steer::Sample;
        }
        let open: Vec<&str> = self
            .heads
            .iter()
            .map(String::as_str)
            .filter(|h| h.starts_with(t))
            .collect();
        let Some(&first) = open.first() else {
            // Past a head (into the arguments), or off the canonical form
            // (the grammar allows other spacing): nothing more to force
            // but the end.
            return self.finish(t);
        };
        // The shared start of several names is the model's to write, token
        // by token; so is the rest of a name it has begun. One possible
        // name, not yet begun or already written, is forced to the
        // arguments.
        let name_end = first.len() - AFTER_NAME.len();
        let limit = if open.len() == 1 && (t.len() <= HEAD_START.len() || t.len() >= name_end) {
            first.len()
        } else {
            HEAD_START.len()
        };
        let common = common_prefix(&open);
        force(&common[t.len()..common.len().min(limit).max(t.len())])
    }

    /// While the model is writing a tool's name after `text`, each name
    /// still open and what of it is left to write, in the candidates'
    /// order: the choices the next token decides between. Empty outside
    /// the name, or once one name is left.
    pub fn name_branches<'s>(&'s self, text: &str) -> Vec<(&'s str, &'s str)> {
        let t = text.trim_start();
        if t.len() < HEAD_START.len() || !t.starts_with(HEAD_START) {
            return Vec::new();
        }
        let open: Vec<(&str, &str)> = self
            .heads
            .iter()
            .filter(|h| h.starts_with(t))
            .filter_map(|h| {
                let name = &h[HEAD_START.len()..h.len() - AFTER_NAME.len()];
                let left = h.get(t.len()..h.len() - AFTER_NAME.len())?;
                (!left.is_empty()).then_some((name, left))
            })
            .collect();
        if open.len() < 2 { Vec::new() } else { open }
    }

    /// Once the arguments object is complete, the rest of the call.
    fn finish(&self, t: &str) -> Steer {
        let Some(rest) = self.heads.iter().find_map(|h| t.strip_prefix(h.as_str())) else {
            return Steer::Sample;
        };
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        match values.next() {
            Some(Ok(Value::Object(_))) => {
                let after = &rest[values.byte_offset()..];
                match TAIL.strip_prefix(after) {
                    Some(left) => Steer::Finish(left.to_string()),
                    None => Steer::Sample,
                }
            }
            _ => Steer::Sample,
        }
    }
}

fn force(text: &str) -> Steer {
    if text.is_empty() {
        Steer::Sample
    } else {
        Steer::Force(text.to_string())
    }
}

/// The longest common prefix of `texts`, on a character boundary.
fn common_prefix<'a>(texts: &[&'a str]) -> &'a str {
    let Some((first, rest)) = texts.split_first() else {
        return "";
    };
    let mut end = first.len();
    for t in rest {
        end = first
            .char_indices()
            .zip(t.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8())
            .min(end);
    }
    &first[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steer(require: bool) -> CallSteer {
        CallSteer::new(["fs.du", "fs.dup", "fs.usage", "service.status"], require)
    }

    /// Run `s` as the engine does, with `model` writing the sampled parts
    /// (one piece per call); returns the whole reply.
    fn run(s: &CallSteer, model: &[&str]) -> (String, bool) {
        let mut text = String::new();
        let mut pieces = model.iter();
        loop {
            match s.next(&text) {
                Steer::Sample => match pieces.next() {
                    Some(p) => text.push_str(p),
                    None => return (text, false),
                },
                Steer::Force(f) => text.push_str(&f),
                Steer::Finish(f) => {
                    text.push_str(&f);
                    return (text, true);
                }
            }
        }
    }

    #[test]
    fn name_branches_are_the_open_names_left_to_write() {
        let s = CallSteer::new(["service.start", "service.status", "fs.usage"], true);
        let head = "<tool_call>\n{\"name\": \"";
        assert_eq!(
            s.name_branches(head),
            [
                ("service.start", "service.start"),
                ("service.status", "service.status"),
                ("fs.usage", "fs.usage")
            ]
        );
        assert_eq!(
            s.name_branches(&format!("{head}service.st")),
            [("service.start", "art"), ("service.status", "atus")]
        );
        assert!(s.name_branches(&format!("{head}service.sta")).len() == 2);
        // One name left, before the head, or past the name: no choice.
        assert!(s.name_branches(&format!("{head}service.start")).is_empty());
        assert!(s.name_branches(&format!("{head}fs")).is_empty());
        assert!(s.name_branches("<tool_call>").is_empty());
        assert!(s.name_branches("hello").is_empty());
    }

    #[test]
    fn a_required_call_starts_forced_up_to_the_name() {
        assert_eq!(steer(true).next(""), Steer::Force(HEAD_START.into()));
        // Free to answer in words: nothing forced until the call begins.
        assert_eq!(steer(false).next(""), Steer::Sample);
        assert_eq!(steer(false).next("It is"), Steer::Sample);
        assert_eq!(
            steer(false).next("\n<tool_call>"),
            Steer::Force("\n{\"name\": \"".into())
        );
    }

    #[test]
    fn the_model_writes_the_name_and_the_arguments_and_nothing_else() {
        let (text, done) = run(&steer(true), &["fs", ".usage", " {\"path\": \"/var", "\"}"]);
        assert!(done);
        assert_eq!(
            text,
            "<tool_call>\n{\"name\": \"fs.usage\", \"arguments\": {\"path\": \"/var\"}}\n</tool_call>"
        );
        let call = crate::tools::parse_reply(
            &text,
            &[crate::tools::ToolDef {
                examples: Vec::new(),
                name: "fs.usage".into(),
                description: String::new(),
                parameters: serde_json::json!({}),
            }],
        );
        assert!(call.is_ok(), "{call:?}");
    }

    #[test]
    fn a_name_that_prefixes_another_waits_for_its_closing_quote() {
        let s = steer(true);
        let t = format!("{HEAD_START}fs.du");
        assert_eq!(s.next(&t), Steer::Sample);
        assert_eq!(
            s.next(&format!("{t}\"")),
            Steer::Force(", \"arguments\":".into())
        );
        // A shared start of several names is not forced.
        assert_eq!(s.next(&format!("{HEAD_START}f")), Steer::Sample);
    }

    #[test]
    fn closing_braces_written_by_the_model_are_not_written_twice() {
        let head = format!("{HEAD_START}fs.usage{AFTER_NAME}");
        let s = steer(true);
        assert_eq!(s.next(&format!("{head} {{\"path\": \"/\"")), Steer::Sample);
        assert_eq!(
            s.next(&format!("{head} {{\"path\": \"/\"}}")),
            Steer::Finish(TAIL.into())
        );
        assert_eq!(
            s.next(&format!("{head} {{\"path\": \"/\"}}}}")),
            Steer::Finish("\n</tool_call>".into())
        );
        // Braces inside a string do not close the object.
        assert_eq!(s.next(&format!("{head} {{\"path\": \"}}")), Steer::Sample);
        // Off the canonical form: the grammar carries on alone.
        assert_eq!(
            s.next(&format!("{head} {{\"path\": \"/\"}} }}")),
            Steer::Sample
        );
        assert_eq!(s.next("<tool_call>{\"name\":\"fs.du\""), Steer::Sample);
    }

    #[test]
    fn one_candidate_is_forced_to_its_arguments() {
        let s = CallSteer::new(["fs.usage"], true);
        assert_eq!(
            s.next(""),
            Steer::Force(format!("{HEAD_START}fs.usage{AFTER_NAME}"))
        );
    }

    #[test]
    fn no_candidates_nothing_forced() {
        assert_eq!(CallSteer::new([], true).next(""), Steer::Sample);
    }

    #[test]
    fn common_prefix_is_shared_start() {
        assert_eq!(common_prefix(&["abc", "abd", "ab"]), "ab");
        assert_eq!(common_prefix(&["é1", "é2"]), "é");
        assert_eq!(common_prefix(&["x", "y"]), "");
    }
}
