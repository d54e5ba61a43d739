//! Canonical comparison of arguments: does the model's call say what the
//! dataset expects? Only the keys the dataset lists are compared, so an
//! extra, harmless argument (`limit`) is not an error.

use serde_json::{Map, Value};

/// Whether every key of `expected` is in `actual` with a canonically equal
/// value. `actual` must be an object unless `expected` is empty.
pub fn args_match(expected: &Map<String, Value>, actual: &Value) -> bool {
    if expected.is_empty() {
        return true;
    }
    let Some(actual) = actual.as_object() else {
        return false;
    };
    expected
        .iter()
        .all(|(k, v)| actual.get(k).is_some_and(|a| canonical_eq(v, a)))
}

/// Equality up to spelling that means the same call:
/// - numbers by value (`10` = `10.0`), and a number equals the same digits
///   in a string (`"443"` = `443`), since both canonicalise to one call;
/// - strings trimmed, case kept (paths and names are case-sensitive), a
///   trailing `/` on a path ignored, a trailing `.service` on a unit ignored,
///   digit strings by value (modes `"0755"` = `"755"`);
/// - arrays as sets (packages, groups, roots: order carries no meaning here);
/// - objects key by key.
pub fn canonical_eq(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            s.trim().parse::<f64>().ok() == n.as_f64()
        }
        (Value::String(a), Value::String(b)) => {
            let (a, b) = (canonical_str(a), canonical_str(b));
            a == b || digits_equal(a, b)
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len()
                && a.iter().all(|x| b.iter().any(|y| canonical_eq(x, y)))
                && b.iter().all(|y| a.iter().any(|x| canonical_eq(x, y)))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| canonical_eq(v, w)))
        }
        (a, b) => a == b,
    }
}

/// "0755" and "755": the same octal mode, the same number.
fn digits_equal(a: &str, b: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    digits(a) && digits(b) && a.trim_start_matches('0') == b.trim_start_matches('0')
}

fn canonical_str(s: &str) -> &str {
    let s = s.trim();
    let s = s.strip_suffix(".service").unwrap_or(s);
    if s.len() > 1 {
        s.strip_suffix('/').unwrap_or(s)
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn only_expected_keys_count() {
        let e = obj(json!({"path": "/var"}));
        assert!(args_match(&e, &json!({"path": "/var/", "limit": 5})));
        assert!(!args_match(&e, &json!({"path": "/var/log"})));
        assert!(!args_match(&e, &json!({})));
        assert!(args_match(&Map::new(), &json!(null)));
    }

    #[test]
    fn canonical_forms() {
        assert!(canonical_eq(&json!(10), &json!(10.0)));
        assert!(canonical_eq(&json!(443), &json!("443")));
        assert!(canonical_eq(&json!("nginx"), &json!("nginx.service")));
        assert!(canonical_eq(&json!(["a", "b"]), &json!(["b", "a"])));
        assert!(!canonical_eq(&json!(["a", "b"]), &json!(["a"])));
        assert!(!canonical_eq(&json!("Alice"), &json!("alice")));
        assert!(canonical_eq(&json!("/"), &json!("/")));
        assert!(canonical_eq(&json!("0755"), &json!("755")));
        assert!(!canonical_eq(&json!("0755"), &json!("750")));
        assert!(!canonical_eq(&json!(true), &json!("true")));
    }
}
