//! Grammars for constrained generation: GBNF (root rule `root`) from a
//! tool's own JSON schema, through llama.cpp's `json_schema_to_grammar`, so
//! each candidate tool gets exactly its own keys and types.

use serde_json::Value;

use crate::error::{ErrorKind, RuntimeError};

/// GBNF accepting exactly the JSON documents `schema` describes.
pub fn json_schema_grammar(schema: &Value) -> Result<String, RuntimeError> {
    if !schema.is_object() {
        return Err(RuntimeError::new(
            ErrorKind::Grammar,
            format!("a JSON schema must be an object, got {schema}"),
        ));
    }
    json_schema_text_grammar(&schema.to_string())
}

/// GBNF from JSON schema text (key order as written).
pub(crate) fn json_schema_text_grammar(schema: &str) -> Result<String, RuntimeError> {
    // llama.cpp's converter can throw on schemas it does not support; that
    // is caught in its C shim and returned as an error.
    llama_cpp_2::json_schema_to_grammar(schema).map_err(|e| {
        RuntimeError::new(
            ErrorKind::Grammar,
            format!("cannot build a grammar from the JSON schema: {e}"),
        )
    })
}

/// The schema of one call of `tool`: `{"name": tool, "arguments": {...}}`
/// with `arguments` following `parameters` (the tool's own schema), as
/// JSON text with `name` first.
///
/// Text, not a `Value`: llama.cpp orders an object's keys as the schema
/// lists them, and `serde_json`'s map would sort `arguments` before `name`;
/// the model should commit to the tool before its arguments.
pub fn tool_call_schema(tool: &str, parameters: &Value) -> String {
    format!(
        r#"{{"type":"object","properties":{{"name":{{"const":{}}},"arguments":{}}},"required":["name","arguments"],"additionalProperties":false}}"#,
        Value::from(tool),
        parameters
    )
}

/// GBNF for one call of `tool` with `parameters` as its arguments' schema.
pub fn tool_call_grammar(tool: &str, parameters: &Value) -> Result<String, RuntimeError> {
    if !parameters.is_object() {
        return Err(RuntimeError::new(
            ErrorKind::Grammar,
            format!("tool {tool}: its parameters schema must be an object, got {parameters}"),
        ));
    }
    json_schema_text_grammar(&tool_call_schema(tool, parameters))
        .map(|g| compact_space(&g))
        .map_err(|e| RuntimeError::new(e.kind(), format!("tool {tool}: {e}")))
}

/// llama.cpp's JSON grammars let the model indent freely (`space` allows
/// newlines and up to 20 blanks), and a small model does, spending tokens on
/// layout. A tool call needs at most one blank between tokens.
pub(crate) fn compact_space(grammar: &str) -> String {
    grammar
        .lines()
        .map(|l| {
            if l.starts_with("space ::=") {
                r#"space ::= | " ""#
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn grammar_names_the_tool_and_its_keys() {
        let g = tool_call_grammar(
            "fs.list",
            &json!({
                "type": "object",
                "properties": { "path": {"type": "string"}, "limit": {"type": "integer"} },
                "required": ["path"],
            }),
        )
        .unwrap();
        assert!(g.contains("root"), "{g}");
        assert!(g.contains("fs.list"), "{g}");
        assert!(g.contains("path"), "{g}");
        assert!(g.contains("limit"), "{g}");
        let space: Vec<&str> = g.lines().filter(|l| l.starts_with("space ::=")).collect();
        assert_eq!(space, [r#"space ::= | " ""#], "{g}");
    }

    #[test]
    fn non_object_schema_is_rejected() {
        let e = json_schema_grammar(&json!("string")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Grammar);
        let e = tool_call_grammar("fs.list", &json!(["path"])).unwrap_err();
        assert!(e.to_string().contains("fs.list"), "{e}");
    }

    #[test]
    fn tool_schema_lists_name_before_arguments_and_escapes_the_name() {
        let s = tool_call_schema("a\"b", &json!({"type": "object"}));
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["properties"]["name"]["const"], "a\"b");
        assert!(
            s.find("\"name\"").unwrap() < s.find("\"arguments\"").unwrap(),
            "{s}"
        );
    }
}
