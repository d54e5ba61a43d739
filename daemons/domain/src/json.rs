//! Naming JSON value kinds in error messages.

use serde_json::Value;

/// The JSON kind of `v` as a user reads it in an error message
/// ("expected an object, got a string").
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_as_english() {
        assert_eq!(json_kind(&serde_json::json!({})), "an object");
        assert_eq!(json_kind(&serde_json::json!("x")), "a string");
        assert_eq!(json_kind(&serde_json::json!(null)), "null");
    }
}
