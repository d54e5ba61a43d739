//! A small server-sent-events parser (the WHATWG `text/event-stream`
//! format), fed raw bytes as they arrive.
//!
//! It owns line splitting across arbitrary byte boundaries (`\n`, `\r\n`,
//! and a lone `\r`, even when a `\r\n` pair is split between two reads),
//! UTF-8 decoding of complete lines only (so a multi-byte character split
//! between reads is fine), multi-line `data`, `event` names, comments
//! (`:` lines, used as keep-alives) and a leading byte-order mark. It does
//! no I/O, so every split is tested directly.
//!
//! Bounded: a line longer than [`MAX_LINE_BYTES`] or an event whose data
//! passes [`MAX_EVENT_BYTES`] is an [`SseError`], after which the parser
//! refuses all further input. A server that never sends a newline cannot
//! make the gateway buffer without limit.

/// Longest line accepted, in bytes (without its line ending). The largest
/// real lines are one JSON chunk of a provider: kilobytes.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Largest `data` of one event (all its `data:` lines joined), in bytes.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// Why the parser stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// A line passed [`MAX_LINE_BYTES`] without ending.
    #[error("a line of the event stream passed {} KiB without ending", MAX_LINE_BYTES / 1024)]
    LineTooLong,
    /// An event's data passed [`MAX_EVENT_BYTES`].
    #[error("an event of the stream passed {} KiB of data", MAX_EVENT_BYTES / 1024)]
    EventTooLarge,
}

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
    /// Set once a bound was passed: every later call fails the same way.
    failed: Option<SseError>,
}

impl SseParser {
    /// A fresh parser.
    pub fn new() -> Self {
        SseParser::default()
    }

    /// Feed bytes; returns the events completed by them, in order, or the
    /// bound they passed.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut out = Vec::new();
        self.feed_into(bytes, &mut out)?;
        Ok(out)
    }

    /// Feed bytes, appending the events they complete to `out`. On an
    /// error, `out` still holds the events completed before the bad line.
    pub fn feed_into(&mut self, bytes: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        for &b in bytes {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            let r = match b {
                b'\n' => self.end_line(out),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(out)
                }
                _ if self.line.len() >= MAX_LINE_BYTES => Err(SseError::LineTooLong),
                b => {
                    self.line.push(b);
                    Ok(())
                }
            };
            if let Err(e) = r {
                self.fail(e);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Stop for good and free what was buffered.
    fn fail(&mut self, e: SseError) {
        self.failed = Some(e);
        self.line = Vec::new();
        self.data = String::new();
        self.event = String::new();
    }

    /// Bytes of an unterminated last line or event, which the spec
    /// discards at end of stream; `true` when something was pending.
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.has_data
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) -> Result<(), SseError> {
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
            return Ok(());
        }
        if line.starts_with(':') {
            return Ok(());
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "data" => {
                let joined = value.len() + usize::from(self.has_data);
                if self.data.len() + joined > MAX_EVENT_BYTES {
                    return Err(SseError::EventTooLarge);
                }
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
        Ok(())
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
                let mut got = p.feed(&input[..i]).unwrap();
                got.extend(p.feed(&input[i..j]).unwrap());
                got.extend(p.feed(&input[j..]).unwrap());
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
        assert!(p.feed(b"data: {\"a\":").unwrap().is_empty());
        assert!(p.has_partial());
        let mut q = SseParser::new();
        assert_eq!(q.feed(b"data: x\n\n").unwrap().len(), 1);
        assert!(!q.has_partial());
    }

    #[test]
    fn a_line_one_byte_past_the_limit_is_refused_for_good() {
        let mut p = SseParser::new();
        // Exactly the limit is fine, in pieces and across reads.
        let line = vec![b'x'; MAX_LINE_BYTES - "data: ".len()];
        p.feed(b"data: ").unwrap();
        p.feed(&line).unwrap();
        assert_eq!(p.feed(b"\n\n").unwrap().len(), 1);
        // One byte more is not.
        let mut p = SseParser::new();
        p.feed(&vec![b'x'; MAX_LINE_BYTES]).unwrap();
        assert_eq!(p.feed(b"x"), Err(SseError::LineTooLong));
        assert_eq!(p.feed(b"\n\n"), Err(SseError::LineTooLong));
        assert!(p.line.capacity() == 0, "the buffer is freed");
    }

    #[test]
    fn an_event_one_byte_past_the_limit_is_refused() {
        let chunk = "y".repeat(1023);
        let lines = MAX_EVENT_BYTES / 1024;
        // `lines` lines of 1023 bytes plus their joining newlines: exactly the limit.
        let exact: String = (0..lines).map(|_| format!("data: {chunk}\n")).collect();
        let mut p = SseParser::new();
        let ev = p.feed(format!("{exact}\n").as_bytes()).unwrap();
        assert_eq!(ev[0].data.len(), MAX_EVENT_BYTES - 1);
        let mut p = SseParser::new();
        let over = format!("{exact}data: zz\n\n");
        assert_eq!(p.feed(over.as_bytes()), Err(SseError::EventTooLarge));
    }
}
