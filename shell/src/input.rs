//! Reading and validating the user's request.

use std::io::Read;

use crate::exit::Failure;

/// Largest request the shell sends, in bytes. Larger inputs are refused
/// with a message rather than truncated: silently dropping part of a
/// request would change its meaning.
pub const MAX_PROMPT_BYTES: usize = 256 * 1024;

/// Validate a request's text.
pub fn validate(text: &str) -> Result<(), Failure> {
    if text.trim().is_empty() {
        return Err(Failure::usage(
            "the prompt is empty; pass the request with -p \"...\" or pipe it on stdin",
        ));
    }
    if text.len() > MAX_PROMPT_BYTES {
        return Err(Failure::usage(format!(
            "the prompt is {} KiB; the limit is {} KiB. Put large material in a file and ask about its path instead",
            text.len().div_ceil(1024),
            MAX_PROMPT_BYTES / 1024
        )));
    }
    Ok(())
}

/// Read a whole request from `reader`, refusing invalid UTF-8 and inputs
/// over the limit without reading unboundedly.
pub fn read_prompt(reader: impl Read) -> Result<String, Failure> {
    let mut buf = Vec::new();
    reader
        .take(MAX_PROMPT_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Failure::usage(format!("cannot read the prompt from stdin: {e}")))?;
    if buf.len() > MAX_PROMPT_BYTES {
        return Err(Failure::usage(format!(
            "the prompt on stdin is over {} KiB, the limit. Put large material in a file and ask about its path instead",
            MAX_PROMPT_BYTES / 1024
        )));
    }
    let text = String::from_utf8(buf).map_err(|e| {
        Failure::usage(format!(
            "stdin is not valid UTF-8 (first bad byte at offset {}); the prompt must be UTF-8 text",
            e.utf8_error().valid_up_to()
        ))
    })?;
    validate(&text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Exit;

    #[test]
    fn empty_and_blank_are_usage_errors() {
        for s in ["", "   \n\t"] {
            let f = read_prompt(s.as_bytes()).unwrap_err();
            assert_eq!(f.code, Exit::Usage);
            assert!(f.message.contains("empty"), "{}", f.message);
        }
    }

    #[test]
    fn invalid_utf8_names_the_offset() {
        let f = read_prompt(&b"abc\xff\xfe"[..]).unwrap_err();
        assert_eq!(f.code, Exit::Usage);
        assert!(f.message.contains("offset 3"), "{}", f.message);
    }

    #[test]
    fn over_the_limit_is_refused_not_truncated() {
        let big = "a".repeat(1024 * 1024);
        let f = read_prompt(big.as_bytes()).unwrap_err();
        assert_eq!(f.code, Exit::Usage);
        assert!(f.message.contains("256 KiB"), "{}", f.message);
        assert!(validate(&big).is_err());
    }

    #[test]
    fn normal_prompt_passes_through() {
        assert_eq!(
            read_prompt("why is the disk full?\n".as_bytes()).unwrap(),
            "why is the disk full?\n"
        );
    }
}
