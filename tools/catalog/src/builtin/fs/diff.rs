//! Unified-diff previews of a file change, capped, with binary and very
//! large contents described instead of diffed.

use std::time::Duration;

use aios_domain::{Preview, PreviewDetail};

use crate::builtin::fs_read::looks_binary;
use crate::util::human_bytes;

/// Largest diff text shown; longer diffs are cut at a line with a note.
pub(crate) const MAX_DIFF: usize = 64 * 1024;
/// Largest content diffed line by line; bigger files are described.
const MAX_DIFFED: usize = 8 * 1024 * 1024;

/// A unified diff of `path` from `old` (`None`: the file does not exist)
/// to `new` (`None`: the file is deleted), with `---`/`+++` headers.
pub(crate) fn unified(path: &str, old: Option<&[u8]>, new: Option<&[u8]>) -> String {
    let (o, n) = (old.unwrap_or_default(), new.unwrap_or_default());
    if looks_binary(o) || looks_binary(n) {
        return format!(
            "binary file, {} → {}\n",
            size_or_none(old),
            size_or_none(new)
        );
    }
    if o.len() > MAX_DIFFED || n.len() > MAX_DIFFED {
        return format!(
            "large file, {} → {}; too big to diff line by line\n",
            size_or_none(old),
            size_or_none(new)
        );
    }
    // `looks_binary` accepted both, so both are UTF-8 but for a character
    // cut at the very end, which lossy decoding shows as U+FFFD.
    let (o, n) = (String::from_utf8_lossy(o), String::from_utf8_lossy(n));
    let a = if old.is_some() {
        format!("a{path}")
    } else {
        "/dev/null".into()
    };
    let b = if new.is_some() {
        format!("b{path}")
    } else {
        "/dev/null".into()
    };
    let diff = similar::TextDiff::configure()
        .timeout(Duration::from_secs(2))
        .diff_lines(o.as_ref(), n.as_ref());
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(&a, &b)
        .to_string();
    if text.is_empty() {
        return String::new();
    }
    cap(text)
}

fn size_or_none(c: Option<&[u8]>) -> String {
    match c {
        Some(c) => format!("{} bytes", c.len()),
        None => "nothing".into(),
    }
}

/// Cut `text` to [`MAX_DIFF`] at a line end, saying how much was left out.
fn cap(text: String) -> String {
    if text.len() <= MAX_DIFF {
        return text;
    }
    let mut end = MAX_DIFF;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    let end = text[..end].rfind('\n').map_or(end, |i| i + 1);
    let rest = &text[end..];
    format!(
        "{}… diff truncated: {} more lines ({}) not shown\n",
        &text[..end],
        rest.lines().count(),
        human_bytes(rest.len() as u64)
    )
}

/// A diff preview with `summary`.
pub(crate) fn preview(
    summary: String,
    path: &str,
    old: Option<&[u8]>,
    new: Option<&[u8]>,
) -> Preview {
    let mut unified = unified(path, old, new);
    if unified.is_empty() {
        unified = "no change: the content is the same\n".into();
    }
    Preview {
        summary,
        detail: PreviewDetail::Diff {
            path: path.to_string(),
            unified,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_is_exact_unified_text() {
        let d = unified("/etc/motd", Some(b"a\nb\nc\n"), Some(b"a\nB\nc\n"));
        assert_eq!(
            d,
            "--- a/etc/motd\n+++ b/etc/motd\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
        let d = unified("/x", None, Some(b"new\n"));
        assert_eq!(d, "--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+new\n");
    }

    #[test]
    fn binary_and_huge_are_described_and_long_diffs_capped() {
        let d = unified("/b", Some(&[0, 1, 2]), Some(b"text"));
        assert_eq!(d, "binary file, 3 bytes → 4 bytes\n");
        let old: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
        let d = unified("/l", Some(old.as_bytes()), Some(b""));
        assert!(d.len() <= MAX_DIFF + 200, "{}", d.len());
        assert!(d.contains("diff truncated"), "{}", &d[d.len() - 100..]);
    }
}
