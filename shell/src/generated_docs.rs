//! Test support: a doc section generated from a declaration (the keymap,
//! the `/` commands) must match what the code declares. Like
//! rust-analyzer's `ensure_file_contents`: a stale section is rewritten in
//! place and the test fails, so the fix is to commit the rewritten file.

use std::path::Path;

/// Check that the text between `begin` and `end` in `docs/NAME` equals
/// `want`; rewrite it and panic when it does not. `from` names the
/// declaration, for the message.
pub(crate) fn ensure_section(name: &str, begin: &str, end: &str, want: &str, from: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs")
        .join(name);
    let doc = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let start = doc
        .find(begin)
        .unwrap_or_else(|| panic!("{name} lacks the marker {begin:?}"))
        + begin.len();
    let stop = doc
        .find(end)
        .unwrap_or_else(|| panic!("{name} lacks the marker {end:?}"));
    if doc[start..stop] != *want {
        let fixed = format!("{}{want}{}", &doc[..start], &doc[stop..]);
        if let Err(e) = std::fs::write(&path, fixed) {
            panic!("{name} is out of date and cannot be rewritten: {e}");
        }
        panic!("docs/{name} was out of date and has been rewritten from {from}; commit it");
    }
}
