//! Making untrusted text safe to print on a terminal.
//!
//! Model text, tool output, error messages and file names are chosen by
//! others (a file name by any user, a model's text by whatever it read).
//! Printed raw, their control characters drive the terminal: `ESC ] 52`
//! writes the clipboard, `ESC [ 2 J` clears the screen, `\r` and bidi
//! overrides make a line read differently from what it is. Everything the
//! shell prints passes through [`sanitize`] before the shell adds its own
//! styling ([`crate::render`]) or, for plain lines, on its way out
//! ([`crate::printer`]); JSON output goes through [`to_json`], which
//! escapes the same characters as JSON `\u` escapes.
//!
//! Nothing is dropped silently: a control character is *shown*, as its
//! Unicode control picture (`ESC` → `␛`) or as a `\u{..}` escape, so an
//! admin sees that a file name holds an escape sequence instead of having
//! it act. With the introducer shown, the rest of any sequence (CSI, OSC
//! incl. OSC 8 and OSC 52, DCS, APC, PM, SOS) is plain printable text.
//! Printable text of every script, emoji included, passes unchanged.

use std::borrow::Cow;
use std::fmt::Write as _;

/// What to do with one character.
enum Shown {
    /// Print it as it is.
    Keep,
    /// Print this instead.
    Picture(char),
    /// Print `\u{..}` with its code point instead.
    Escape,
}

fn classify(c: char) -> Shown {
    match c {
        // Line structure the shell relies on.
        '\n' | '\t' => Shown::Keep,
        // C0 controls (ESC, BEL, BS, CR, ...): their control pictures
        // U+2400..U+241F, e.g. ESC → ␛, CR → ␍.
        '\0'..='\x1f' => match char::from_u32(0x2400 + c as u32) {
            Some(p) => Shown::Picture(p),
            None => Shown::Escape,
        },
        '\x7f' => Shown::Picture('␡'),
        // C1 controls: some terminals read U+009B as CSI and U+009D as OSC.
        '\u{80}'..='\u{9f}' => Shown::Escape,
        // Bidi embeddings, overrides and isolates ("Trojan Source"): they
        // reorder what follows so text reads differently from what it is.
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => Shown::Escape,
        _ => Shown::Keep,
    }
}

/// `text` with every terminal control shown instead of acting.
///
/// Kept: `\n`, `\t` and all printable characters. A `\r` right before a
/// `\n` is dropped (a CRLF line ending means a line ending); any other
/// `\r`, which would let the rest of a line overwrite its start, is shown
/// as `␍`. Returns the input itself when there was nothing to change.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    let needs_work = text.chars().any(|c| !matches!(classify(c), Shown::Keep));
    if !needs_work {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            continue;
        }
        match classify(c) {
            Shown::Keep => out.push(c),
            Shown::Picture(p) => out.push(p),
            Shown::Escape => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// `value` as one line of JSON that is safe on a terminal.
///
/// serde_json already escapes C0 controls (so never a raw ESC); this also
/// escapes DEL, C1 controls and bidi controls as `\uXXXX`, so a stream
/// printed to a terminal cannot drive it either. The JSON decodes to the
/// same strings as plain `serde_json::to_string` output.
pub fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, SafeJson);
    value.serialize(&mut ser)?;
    // serde_json only ever writes UTF-8 (the escapes are ASCII).
    String::from_utf8(buf).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

/// A compact JSON formatter escaping what [`sanitize`] would show.
struct SafeJson;

impl serde_json::ser::Formatter for SafeJson {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            // serde_json hands C0 controls, quotes and backslashes to
            // `write_char_escape`; the rest that acts on a terminal is here.
            if !matches!(classify(c), Shown::Keep) {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                // All such characters are in the BMP: one \uXXXX each.
                write!(writer, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `s` holds anything a terminal would act on.
    fn acts_on_terminal(s: &str) -> bool {
        s.chars().any(|c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
    }

    /// Hostile inputs and exactly how each is shown.
    const HOSTILE: &[(&str, &str)] = &[
        // OSC 52: write "hello" to the clipboard (BEL and ST terminated).
        ("\x1b]52;c;aGVsbG8=\x07", "␛]52;c;aGVsbG8=␇"),
        ("\x1b]52;c;aGVsbG8=\x1b\\", "␛]52;c;aGVsbG8=␛\\"),
        // OSC 8 hyperlink hiding where it points.
        (
            "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\",
            "␛]8;;https://evil.example/␛\\click␛]8;;␛\\",
        ),
        // CSI: clear the screen, home, recolour, move up, erase line.
        ("\x1b[2J\x1b[H", "␛[2J␛[H"),
        ("\x1b[31mred\x1b[0m", "␛[31mred␛[0m"),
        ("ok\x1b[1A\x1b[2Kfake", "ok␛[1A␛[2Kfake"),
        // DCS, APC, PM, SOS.
        ("\x1bP1$r0m\x1b\\", "␛P1$r0m␛\\"),
        ("\x1b_apc\x1b\\", "␛_apc␛\\"),
        ("\x1b^pm\x1b\\", "␛^pm␛\\"),
        ("\x1bXsos\x1b\\", "␛Xsos␛\\"),
        // 8-bit C1 forms: CSI, OSC, DCS, ST, NEL.
        ("\u{9b}2J", "\\u{9b}2J"),
        ("\u{9d}52;c;eA==\u{9c}", "\\u{9d}52;c;eA==\\u{9c}"),
        ("\u{90}x", "\\u{90}x"),
        ("a\u{85}b", "a\\u{85}b"),
        // Carriage return overwriting a line; backspaces; BEL; NUL; DEL.
        ("rm -rf /\rls -l   ", "rm -rf /␍ls -l   "),
        ("safe\x08\x08\x08\x08evil", "safe␈␈␈␈evil"),
        ("\x07\0\x7f", "␇␀␡"),
        // Trojan Source bidi controls.
        (
            "access\u{202e}\u{2066}// admin\u{2069}\u{2066}",
            "access\\u{202e}\\u{2066}// admin\\u{2069}\\u{2066}",
        ),
        (
            "\u{202a}\u{202b}\u{202c}\u{202d}",
            "\\u{202a}\\u{202b}\\u{202c}\\u{202d}",
        ),
        ("\u{2067}\u{2068}", "\\u{2067}\\u{2068}"),
        // Every other C0 control.
        (
            "\x01\x02\x03\x04\x05\x06\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1c\x1d\x1e\x1f",
            "␁␂␃␄␅␆␋␌␎␏␐␑␒␓␔␕␖␗␘␙␚␜␝␞␟",
        ),
    ];

    #[test]
    fn hostile_inputs_are_shown_not_acted_on() {
        for (input, shown) in HOSTILE {
            let out = sanitize(input);
            assert_eq!(out, *shown, "input {input:?}");
            assert!(!acts_on_terminal(&out), "{input:?} -> {out:?}");
        }
    }

    #[test]
    fn printable_text_of_every_script_passes_unchanged_and_unallocated() {
        for text in [
            "",
            "plain ASCII, with punctuation: ~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./",
            "lines\nand\ttabs\n",
            "日本語のテキスト、中文文本、한국어 텍스트",
            "emoji 👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽 ❤️",
            "עברית ועربية",
            "combining e\u{301} and zero\u{200b}width, \u{200d} joiner",
            "box ─│┌┐ and pictures ␛ ␍ typed literally",
            "\u{a0}no-break space, \u{a9} sign, \u{ff} y-umlaut",
        ] {
            assert!(
                matches!(sanitize(text), Cow::Borrowed(t) if t == text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn crlf_is_a_line_ending_and_a_lone_cr_is_shown() {
        assert_eq!(sanitize("one\r\ntwo\r\n"), "one\ntwo\n");
        assert_eq!(sanitize("one\r\r\n"), "one␍\n");
        assert_eq!(sanitize("trailing\r"), "trailing␍");
    }

    #[test]
    fn every_char_that_acts_is_neutralised() {
        // Exhaustive over the ranges that matter, mixed with text around.
        let ranges = [0u32..0x20, 0x7f..0xa0, 0x2028..0x2070];
        for cp in ranges.into_iter().flatten() {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            let input = format!("a{c}b");
            let out = sanitize(&input);
            assert!(!acts_on_terminal(&out), "U+{cp:04X} -> {out:?}");
            assert!(out.starts_with('a') && out.ends_with('b'), "{out:?}");
        }
    }

    #[test]
    fn json_escapes_controls_and_decodes_to_the_same_text() {
        let hostile: String = HOSTILE.iter().map(|(i, _)| *i).collect();
        let value = serde_json::json!({
            "text": hostile,
            "file\u{1b}[2J\u{9b}name\u{202e}": ["日本語 👍🏽", "\u{7f}"],
        });
        let line = to_json(&value).unwrap();
        assert!(!acts_on_terminal(&line), "{line}");
        assert!(!line.contains('\x7f'), "{line}");
        assert!(line.contains("\\u001b]52;c;"), "{line}");
        assert!(line.contains("\\u009b2J"), "{line}");
        assert!(line.contains("\\u202e"), "{line}");
        assert!(line.contains("日本語 👍🏽"), "{line}");
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back, value);
        assert_eq!(
            to_json(&serde_json::json!({"a": "plain"})).unwrap(),
            serde_json::to_string(&serde_json::json!({"a": "plain"})).unwrap()
        );
    }
}
