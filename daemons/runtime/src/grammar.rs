//! Grammars for constrained generation: GBNF (root rule `root`) from a
//! tool's own JSON schema, through llama.cpp's `json_schema_to_grammar`, so
//! each candidate tool gets exactly its own keys and types.

use serde_json::{Value, json};

use crate::error::{ErrorKind, RuntimeError};

/// GBNF accepting exactly the JSON documents `schema` describes.
pub fn json_schema_grammar(schema: &Value) -> Result<String, RuntimeError> {
    if !schema.is_object() {
        return Err(RuntimeError::new(
            ErrorKind::Grammar,
            format!("a JSON schema must be an object, got {schema}"),
        ));
    }
    // llama.cpp's converter can throw on schemas it does not support; that
    // is caught in its C shim and returned as an error.
    llama_cpp_2::json_schema_to_grammar(&schema.to_string()).map_err(|e| {
        RuntimeError::new(
            ErrorKind::Grammar,
            format!("cannot build a grammar from the JSON schema: {e}"),
        )
    })
}

/// The schema of one call of `tool`: `{"name": tool, "arguments": {...}}`
/// with `arguments` following `parameters` (the tool's own schema).
pub fn tool_call_schema(tool: &str, parameters: &Value) -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "const": tool },
            "arguments": parameters,
        },
        "required": ["name", "arguments"],
        "additionalProperties": false,
    })
}

/// GBNF for one call of `tool` with `parameters` as its arguments' schema.
pub fn tool_call_grammar(tool: &str, parameters: &Value) -> Result<String, RuntimeError> {
    json_schema_grammar(&tool_call_schema(tool, parameters))
        .map_err(|e| RuntimeError::new(e.kind(), format!("tool {tool}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn non_object_schema_is_rejected() {
        let e = json_schema_grammar(&json!("string")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Grammar);
    }
}
