//! A writer between ratatui and the terminal that turns crossterm's
//! indexed colours for the sixteen named colours (`38;5;1`) back into the
//! classic SGR codes (`31`, `91`, `41`, `101`). Every terminal since the
//! VT220 era reads these; an 8-colour console or an old `TERM` over ssh may
//! not read `38;5`. The codes show the same palette entry wherever both are
//! understood, so this is done at every colour depth.
//!
//! A frame is buffered until ratatui flushes it, so a sequence split across
//! writes is still seen whole. Only the TUI's own escapes pass here: text
//! was sanitized before it became a cell.

use std::io::{self, Write};

/// Buffers a frame and rewrites its SGR sequences on flush.
pub struct Sgr16<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> Sgr16<W> {
    /// Wrap `inner`.
    pub fn new(inner: W) -> Sgr16<W> {
        Sgr16 {
            inner,
            buf: Vec::new(),
        }
    }
}

impl<W: Write> Write for Sgr16<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let out = rewrite(&std::mem::take(&mut self.buf));
        self.inner.write_all(&out)?;
        self.inner.flush()
    }
}

/// `data` with the parameters of each `ESC [ … m` rewritten.
pub fn rewrite(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == 0x1b && data.get(i + 1) == Some(&b'[') {
            let start = i + 2;
            let mut end = start;
            while end < data.len() && (data[end].is_ascii_digit() || data[end] == b';') {
                end += 1;
            }
            if data.get(end) == Some(&b'm') {
                out.extend_from_slice(b"\x1b[");
                out.extend_from_slice(params(&data[start..end]).as_bytes());
                out.push(b'm');
                i = end + 1;
                continue;
            }
        }
        out.push(data[i]);
        i += 1;
    }
    out
}

fn params(p: &[u8]) -> String {
    let text = String::from_utf8_lossy(p);
    let nums: Vec<&str> = text.split(';').collect();
    let mut out: Vec<String> = Vec::new();
    let mut k = 0;
    while k < nums.len() {
        let indexed = matches!(nums[k], "38" | "48") && nums.get(k + 1) == Some(&"5");
        if indexed && let Some(n) = nums.get(k + 2).and_then(|n| n.parse::<u8>().ok()) {
            let base = if nums[k] == "38" { 30 } else { 40 };
            match n {
                0..=7 => {
                    out.push((base + n).to_string());
                    k += 3;
                    continue;
                }
                8..=15 => {
                    out.push((base + 60 + n - 8).to_string());
                    k += 3;
                    continue;
                }
                _ => {}
            }
        }
        out.push(nums[k].to_string());
        k += 1;
    }
    out.join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_colours_become_classic_codes_and_the_rest_passes() {
        let r = |s: &str| String::from_utf8(rewrite(s.as_bytes())).unwrap();
        assert_eq!(r("\x1b[38;5;1mred\x1b[0m"), "\x1b[31mred\x1b[0m");
        assert_eq!(r("\x1b[48;5;9m\x1b[38;5;8mx"), "\x1b[101m\x1b[90mx");
        assert_eq!(r("\x1b[1;38;5;200m"), "\x1b[1;38;5;200m");
        assert_eq!(r("\x1b[38;2;1;2;3m"), "\x1b[38;2;1;2;3m");
        assert_eq!(r("\x1b[2J\x1b[5;1H plain"), "\x1b[2J\x1b[5;1H plain");
    }

    #[test]
    fn a_sequence_split_across_writes_is_rewritten_on_flush() {
        let mut w = Sgr16::new(Vec::new());
        w.write_all(b"\x1b[38;").unwrap();
        w.write_all(b"5;2mok").unwrap();
        w.flush().unwrap();
        assert_eq!(w.inner, b"\x1b[32mok");
    }
}
