//! The canonical encoding of an entry and the chain hash over it.
//!
//! The encoding is compact JSON (no whitespace) with every object's keys
//! sorted by their UTF-8 bytes, recursively. It is produced by our own
//! writer rather than by `serde_json`'s map order, so the bytes do not
//! depend on whether some crate in the build turns on `preserve_order`.
//! Strings use `serde_json`'s escaping (`"`, `\`, and control characters
//! escaped; everything else, including non-ASCII, written as UTF-8);
//! numbers use `serde_json`'s formatting (integers in decimal, floats in
//! their shortest round-tripping form).
//!
//! The ledger stores exactly these bytes, and `verify` hashes the stored
//! bytes; nothing is re-serialised on the verification path, so a future
//! change of this encoder cannot make old entries fail verification.

use aios_domain::AuditEntry;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{LedgerError, LedgerErrorKind};

/// `prev_hash` of the first record: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The canonical JSON text of `entry` (see the module docs).
pub fn canonical_entry(entry: &AuditEntry) -> Result<String, LedgerError> {
    let value = serde_json::to_value(entry).map_err(|e| {
        LedgerError::new(
            LedgerErrorKind::Invalid,
            format!(
                "cannot encode an audit entry for tool {:?}: {e}",
                entry.tool
            ),
        )
    })?;
    let mut out = String::with_capacity(512);
    write_canonical(&value, &mut out);
    Ok(out)
}

/// Append the canonical encoding of `value` to `out`.
pub fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    // `Value::String(..).to_string()` is serde_json's escaping of a string
    // and cannot fail (Display of a Value never errors).
    out.push_str(&Value::String(s.to_owned()).to_string());
}

/// The chain hash of a record from its parts as stored:
/// lowercase hex of SHA-256(`prev_hash` ‖ `"\n"` ‖ decimal `id` ‖ `"\n"` ‖
/// `canonical`). `verify` calls this on the stored text directly.
pub fn hash_record(prev_hash: &str, id: u64, canonical: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(id.to_string().as_bytes());
    h.update(b"\n");
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

/// The chain hash of `entry` stored as record `id` after a record whose
/// hash is `prev_hash` ([`GENESIS_HASH`] for the first): [`hash_record`]
/// over [`canonical_entry`]. Stable: this definition is part of the ledger
/// format (`docs/AUDIT.md`).
pub fn entry_hash(prev_hash: &str, id: u64, entry: &AuditEntry) -> Result<String, LedgerError> {
    Ok(hash_record(prev_hash, id, &canonical_entry(entry)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_sorted_recursively_and_output_is_compact() {
        let v = json!({"b": 1, "a": {"z": [true, null, {"y": "x", "c": 2.5}], "d": "é\n\""}});
        let mut out = String::new();
        write_canonical(&v, &mut out);
        assert_eq!(
            out,
            r#"{"a":{"d":"é\n\"","z":[true,null,{"c":2.5,"y":"x"}]},"b":1}"#
        );
    }

    #[test]
    fn hash_covers_prev_hash_id_and_text() {
        let base = hash_record(GENESIS_HASH, 1, "{}");
        assert_eq!(base.len(), 64);
        assert_ne!(base, hash_record(GENESIS_HASH, 2, "{}"));
        assert_ne!(base, hash_record(&"1".repeat(64), 1, "{}"));
        assert_ne!(base, hash_record(GENESIS_HASH, 1, "{ }"));
        // The definition, spelled out: a change here is a format break.
        let mut h = Sha256::new();
        h.update(format!("{GENESIS_HASH}\n1\n{{}}").as_bytes());
        assert_eq!(base, hex::encode(h.finalize()));
    }
}
