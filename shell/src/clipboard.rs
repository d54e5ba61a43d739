//! Copying to the user's clipboard with OSC 52 (`ESC ] 52 ; c ; BASE64
//! BEL`): the terminal emulator itself sets its clipboard, so a copy
//! reaches the user's own desktop even over ssh, through tmux, and on a
//! machine with no clipboard of its own. Emulators that do not allow it
//! ignore the sequence.
//!
//! Pure: the sequence is built here; [`crate::printer::clipboard`] writes
//! it. The text is base64, so nothing in it can act on the terminal.

/// The most text one copy carries: its base64 is 100,000 bytes, under
/// what common emulators accept in one OSC 52 (hterm and tmux 100 kB and
/// more, xterm's `maxBufSize`-bounded selections).
pub const MAX_BYTES: usize = 74_999;

/// Why a copy is not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyError {
    /// Nothing to copy.
    #[error("there is no answer or card to copy yet")]
    Empty,
    /// More than [`MAX_BYTES`].
    #[error(
        "the text is {0} bytes; a terminal takes about {MAX_BYTES} in one copy (OSC 52), so nothing was copied"
    )]
    TooLong(usize),
}

/// The OSC 52 sequence that puts `text` on the clipboard.
pub fn osc52(text: &str) -> Result<String, CopyError> {
    if text.is_empty() {
        return Err(CopyError::Empty);
    }
    if text.len() > MAX_BYTES {
        return Err(CopyError::TooLong(text.len()));
    }
    Ok(format!("\x1b]52;c;{}\x07", base64(text.as_bytes())))
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded, "{plain:?}");
        }
    }

    #[test]
    fn the_sequence_carries_only_base64_and_refuses_what_cannot_go() {
        let s = osc52("rm -rf \x1b[2J /tmp/x\n").unwrap();
        assert_eq!(s, "\x1b]52;c;cm0gLXJmIBtbMkogL3RtcC94Cg==\x07");
        assert_eq!(osc52(""), Err(CopyError::Empty));
        let long = "x".repeat(MAX_BYTES + 1);
        assert_eq!(osc52(&long), Err(CopyError::TooLong(MAX_BYTES + 1)));
        assert!(osc52(&long[1..]).unwrap().len() <= 100_000 + 8);
    }
}
