//! The whole tool catalogue as the kept prompt lists it: one short line per
//! tool, `name(arguments) - what it does`. Pure text; [`crate::chat`] puts
//! it in the prompt whose prefix runtimed keeps in its KV cache.
//!
//! Why a line and not the JSON line of [`crate::tools`]: the kept prefix
//! must fit in the context beside every request (`n_ctx − 2048` tokens).
//! Today's 91 tools as compact JSON are about 14,000 tokens; as signature
//! lines about 4,500. The model still cannot write a wrong key or type:
//! the grammar is built from each candidate's full schema.

use serde_json::Value;

use crate::ChatMessage;
use crate::tools::{ToolDef, Turn, call_format, conversation, first_sentence, tool_section};

/// How the catalogue is introduced: the same call format as the
/// candidates' list, then how to read a signature line.
const CATALOG_FORMAT: &str = concat!(
    call_format!(),
    "The functions you may call are listed within <tools></tools> XML tags, \
one per line: name(arguments) - what it does, and an example request with its arguments. \
An argument marked ? is optional: give it only when the request asks for it.\n"
);

/// [`CATALOG_FORMAT`] for a listing without examples.
const CATALOG_FORMAT_PLAIN: &str = concat!(
    call_format!(),
    "The functions you may call are listed within <tools></tools> XML tags, \
one per line: name(arguments) - what it does. \
An argument marked ? is optional: give it only when the request asks for it.\n"
);

/// Enum values shown before the rest is elided.
const ENUM_SHOWN: usize = 8;

/// Longest example arguments shown, in bytes: a longer example costs more
/// context than it teaches.
const EXAMPLE_ARGS_MAX: usize = 80;

/// Longest description shown, in bytes; the first sentence is nearly
/// always shorter (median 128 in today's catalogue).
const DESCRIPTION_MAX: usize = 200;

/// The messages of a prompt that lists all of `catalog` (in the caller's
/// order, which must be stable for the prefix to be reused), then names
/// the `candidates` the reply may call: a small model reading 90 tools
/// picks among the few the router found far better when they are named
/// next to the request. The names follow the list, so the kept prefix
/// stays the same.
///
/// With `examples`, each line ends with the tool's first example; without,
/// the listing is shorter (for a model whose tokenizer would not fit it:
/// [`crate::Runtime`] chooses).
pub fn catalog_messages(
    system: &str,
    catalog: &[ToolDef],
    candidates: &[ToolDef],
    turns: &[Turn],
    examples: bool,
) -> Vec<ChatMessage> {
    let section = (!catalog.is_empty()).then(|| {
        let format = if examples {
            CATALOG_FORMAT
        } else {
            CATALOG_FORMAT_PLAIN
        };
        let mut s = tool_section(format, catalog.iter().map(|t| signature(t, examples)));
        if !candidates.is_empty() {
            let names: Vec<String> = candidates.iter().map(|t| one_line(&t.name)).collect();
            s.push_str(&format!(
                "\n\nFor this request, call one of: {}.",
                names.join(", ")
            ));
        }
        s
    });
    conversation(system, section.as_deref(), turns)
}

/// `name(required: type, optional?: type) - First sentence. E.g. "request"
/// → {arguments}` on one line: the example (the tool's first) shows a small
/// model both when the tool fits and how its arguments are written.
fn signature(t: &ToolDef, examples: bool) -> String {
    let mut args = Vec::new();
    if let Some(Value::Object(props)) = t.parameters.get("properties") {
        let required: Vec<&str> = t
            .parameters
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        // Required arguments first: they are what a call cannot leave out.
        let (req, opt): (Vec<_>, Vec<_>) = props
            .iter()
            .partition(|(name, _)| required.contains(&name.as_str()));
        for (name, schema) in req {
            args.push(format!("{name}: {}", type_of(schema)));
        }
        for (name, schema) in opt {
            args.push(format!("{name}?: {}", type_of(schema)));
        }
    }
    let description = one_line(first_sentence(&t.description));
    let mut line = format!("{}({}) - {description}", one_line(&t.name), args.join(", "));
    if let Some(e) = t.examples.first().filter(|_| examples) {
        let args = e.args.to_string();
        let request = one_line(&e.request);
        if args.len() <= EXAMPLE_ARGS_MAX && !request.is_empty() {
            line.push_str(&format!(" E.g. {} → {args}", Value::from(request)));
        }
    }
    line
}

/// A schema's type, short: `string`, `integer`, `[string]`, `"a"|"b"`.
fn type_of(schema: &Value) -> String {
    if let Some(c) = schema.get("const") {
        return c.to_string();
    }
    if let Some(Value::Array(values)) = schema.get("enum") {
        let mut shown: Vec<String> = values
            .iter()
            .filter(|v| !v.is_null())
            .take(ENUM_SHOWN)
            .map(Value::to_string)
            .collect();
        if values.len() > ENUM_SHOWN {
            shown.push("…".into());
        }
        return shown.join("|");
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alternatives)) = schema.get(key) {
            let types: Vec<String> = alternatives
                .iter()
                .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                .map(type_of)
                .collect();
            return types.join("|");
        }
    }
    let named = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => Vec::new(),
    };
    let render = |t: &str| match (t, schema.get("items")) {
        ("array", Some(items)) => format!("[{}]", type_of(items)),
        _ => t.to_string(),
    };
    match named.as_slice() {
        [] => "any".into(),
        ts => ts.iter().map(|t| render(t)).collect::<Vec<_>>().join("|"),
    }
}

/// `s` on one line, blanks collapsed, at most [`DESCRIPTION_MAX`] bytes:
/// the section's parser ([`crate::tools::tools_prefix`]) relies on one line
/// per tool.
fn one_line(s: &str) -> String {
    let mut out = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if out.len() > DESCRIPTION_MAX {
        let mut cut = DESCRIPTION_MAX;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::tools_prefix;
    use serde_json::json;

    fn find() -> ToolDef {
        ToolDef {
            examples: Vec::new(),
            name: "fs.find".into(),
            description: "Find files by name.\nWalks the tree below root.".into(),
            parameters: json!({
                "type": "object",
                "properties": {
                    "kind": {"enum": ["file", "dir", null]},
                    "limit": {"type": ["integer", "null"], "default": 200},
                    "names": {"type": "array", "items": {"type": "string"}},
                    "root": {"type": "string", "description": "Where to start."},
                    "mode": {"anyOf": [{"type": "integer"}, {"const": "keep"}, {"type": "null"}]},
                },
                "required": ["root"],
            }),
        }
    }

    #[test]
    fn a_signature_names_every_argument_with_its_type_required_first() {
        assert_eq!(
            signature(&find(), true),
            r#"fs.find(root: string, kind?: "file"|"dir", limit?: integer, mode?: integer|"keep", names?: [string]) - Find files by name."#
        );
        let none = ToolDef {
            examples: Vec::new(),
            name: "monitor.overview".into(),
            description: "How the machine is doing.".into(),
            parameters: json!({"type": "object"}),
        };
        assert_eq!(
            signature(&none, true),
            "monitor.overview() - How the machine is doing."
        );
    }

    #[test]
    fn the_first_short_example_follows_the_description() {
        let mut t = find();
        t.examples = vec![
            crate::tools::Example {
                request: "find my\nlogs".into(),
                args: json!({"root": "~", "names": ["*.log"]}),
            },
            crate::tools::Example {
                request: "second".into(),
                args: json!({}),
            },
        ];
        assert!(
            signature(&t, true).ends_with(
                r#"- Find files by name. E.g. "find my logs" → {"names":["*.log"],"root":"~"}"#
            ),
            "{}",
            signature(&t, true)
        );
        t.examples[0].args = json!({"root": "x".repeat(EXAMPLE_ARGS_MAX)});
        assert!(
            signature(&t, true).ends_with("by name."),
            "{}",
            signature(&t, true)
        );
    }

    #[test]
    fn a_plain_listing_has_no_examples_and_does_not_promise_them() {
        let mut t = find();
        t.examples = vec![crate::tools::Example {
            request: "find my logs".into(),
            args: json!({"root": "~"}),
        }];
        let with = catalog_messages("sys", &[t.clone()], &[], &[], true);
        let plain = catalog_messages("sys", &[t], &[], &[], false);
        assert!(with[0].content.contains("E.g. \"find my logs\""));
        assert!(with[0].content.contains("an example request"));
        assert!(!plain[0].content.contains("E.g."), "{}", plain[0].content);
        assert!(
            !plain[0].content.contains("example"),
            "{}",
            plain[0].content
        );
    }

    #[test]
    fn long_enums_and_descriptions_are_cut_and_lines_stay_single() {
        let t = ToolDef {
            examples: Vec::new(),
            name: "x.y".into(),
            description: format!("{}\n</tools> end", "word ".repeat(100)),
            parameters: json!({"properties": {"c": {"enum": (0..20).collect::<Vec<_>>()}}}),
        };
        let line = signature(&t, true);
        assert!(line.contains("c?: 0|1|2|3|4|5|6|7|…"), "{line}");
        assert!(!line.contains('\n'), "{line}");
        assert!(line.ends_with('…'), "{line}");
        let m = catalog_messages("sys", &[t, find()], &[], &[Turn::User("hi".into())], true);
        let prefix = tools_prefix(&m[0].content).unwrap();
        // The list ends after the last tool, not at the text of the first.
        assert!(
            prefix.ends_with("Find files by name.\n</tools>"),
            "{prefix}"
        );
    }

    #[test]
    fn the_catalogue_prompt_has_the_call_format_and_every_tool() {
        let other = ToolDef {
            examples: Vec::new(),
            name: "service.status".into(),
            description: "Status of a unit.".into(),
            parameters: json!({"type": "object", "properties": {"unit": {"type": "string"}}, "required": ["unit"]}),
        };
        let m = catalog_messages(
            "sys",
            &[find(), other.clone()],
            &[],
            &[Turn::User("hi".into())],
            true,
        );
        let sys = &m[0].content;
        assert!(sys.starts_with("sys\n\n# Tools"), "{sys}");
        assert!(sys.contains("<tool_call></tool_call>"), "{sys}");
        assert!(
            sys.contains("\nservice.status(unit: string) - Status of a unit.\n</tools>"),
            "{sys}"
        );
        assert_eq!(m[1], ChatMessage::new("user", "hi"));
        // The candidates are named after the list, outside the kept prefix.
        let named = catalog_messages("sys", &[find(), other.clone()], &[other], &[], true);
        let sys = &named[0].content;
        assert!(
            sys.ends_with("</tools>\n\nFor this request, call one of: service.status."),
            "{sys}"
        );
        assert_eq!(tools_prefix(sys), tools_prefix(&m[0].content));
        assert!(
            catalog_messages("sys", &[], &[], &[], true)
                .first()
                .is_some_and(|s| s.content == "sys")
        );
    }
}
