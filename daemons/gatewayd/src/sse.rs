//! A small server-sent-events parser (the WHATWG `text/event-stream`
//! format), fed raw bytes as they arrive.
//!
//! It owns line splitting across arbitrary byte boundaries (`\n`, `\r\n`,
//! and a lone `\r`, even when a `\r\n` pair is split between two reads),
//! UTF-8 decoding of complete lines only (so a multi-byte character split
//! between reads is fine), multi-line `data`, `event` names, comments
//! (`:` lines, used as keep-alives) and a leading byte-order mark. It does
//! no I/O, so every split is tested directly.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, empty when absent (the spec's "message").
    pub event: String,
    /// All `data:` lines joined with `\n`.
    pub data: String,
}

/// Incremental parser state.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The previous byte was a `\r` that ended a line; a following `\n`
    /// belongs to the same line ending.
    after_cr: bool,
    started: bool,
    event: String,
    data: String,
    has_data: bool,
}

impl SseParser {
    /// A fresh parser.
    pub fn new() -> Self {
        SseParser::default()
    }

    /// Feed bytes; returns the events completed by them, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => self.end_line(&mut out),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut out);
                }
                b => self.line.push(b),
            }
        }
        out
    }

    /// Bytes of an unterminated last line or event, which the spec
    /// discards at end of stream; `true` when something was pending.
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.has_data
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let raw = std::mem::take(&mut self.line);
        let mut line = String::from_utf8_lossy(&raw).into_owned();
        if !self.started {
            self.started = true;
            if let Some(rest) = line.strip_prefix('\u{feff}') {
                line = rest.to_string();
            }
        }
        if line.is_empty() {
            if self.has_data {
                out.push(SseEvent {
                    event: std::mem::take(&mut self.event),
                    data: std::mem::take(&mut self.data),
                });
            }
            self.event.clear();
            self.data.clear();
            self.has_data = false;
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = value.to_string(),
            // `id` and `retry` only matter for reconnecting EventSource
            // clients; a completion is never resumed.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    /// Feed `input` split at every possible pair of points and check the
    /// events never depend on where the bytes were split.
    fn check_all_splits(input: &[u8], expected: &[SseEvent]) {
        for i in 0..=input.len() {
            for j in i..=input.len() {
                let mut p = SseParser::new();
                let mut got = p.feed(&input[..i]);
                got.extend(p.feed(&input[i..j]));
                got.extend(p.feed(&input[j..]));
                assert_eq!(got, expected, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn basic_events_with_names() {
        check_all_splits(
            b"event: ping\ndata: {}\n\ndata: hello\n\n",
            &[ev("ping", "{}"), ev("", "hello")],
        );
    }

    #[test]
    fn crlf_and_lone_cr_line_endings() {
        check_all_splits(
            b"data: a\r\n\r\ndata: b\r\rdata: c\n\n",
            &[ev("", "a"), ev("", "b"), ev("", "c")],
        );
    }

    #[test]
    fn multi_line_data_and_comments() {
        check_all_splits(
            b": keep-alive\ndata: line1\n: inner comment\ndata:line2\ndata\n\n",
            &[ev("", "line1\nline2\n")],
        );
    }

    #[test]
    fn utf8_split_across_reads_and_bom() {
        check_all_splits(
            "\u{feff}data: héllo → ✓\n\n".as_bytes(),
            &[ev("", "héllo → ✓")],
        );
    }

    #[test]
    fn empty_event_is_not_dispatched_and_unknown_fields_ignored() {
        check_all_splits(
            b"event: x\n\nid: 3\nretry: 10\n\ndata: y\n\n",
            &[ev("", "y")],
        );
    }

    #[test]
    fn unterminated_event_is_reported_as_partial() {
        let mut p = SseParser::new();
        assert!(p.feed(b"data: {\"a\":").is_empty());
        assert!(p.has_partial());
        let mut q = SseParser::new();
        assert_eq!(q.feed(b"data: x\n\n").len(), 1);
        assert!(!q.has_partial());
    }
}
