//! Generated text as it leaves the engine: whole characters only, and
//! never a stop string.

use std::sync::mpsc::Sender;

use super::Event;

/// Generated text as it streams: whole UTF-8 characters only (a token may
/// end mid-character), and a tail held back while it could still be the
/// start of a stop string, so a stop string is never streamed.
pub(super) struct Output<'s> {
    stop: &'s [String],
    hold: usize,
    pending: Vec<u8>,
    pub(super) text: String,
    sent: usize,
    /// The receiver of the stream is gone.
    pub(super) gone: bool,
}

impl<'s> Output<'s> {
    pub(super) fn new(stop: &'s [String]) -> Self {
        let hold = stop
            .iter()
            .map(|s| s.len())
            .max()
            .unwrap_or(0)
            .saturating_sub(1);
        Self {
            stop,
            hold,
            pending: Vec::new(),
            text: String::new(),
            sent: 0,
            gone: false,
        }
    }

    /// Add a token's bytes; true when a stop string appeared (the text is
    /// cut before it).
    pub(super) fn push(&mut self, bytes: &[u8], events: &Sender<Event>) -> bool {
        self.pending.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.pending) {
            Ok(s) => s.len(),
            // An incomplete character at the end waits for the next token.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            // Invalid bytes: replace them rather than lose the stream.
            Err(_) => {
                let lossy = String::from_utf8_lossy(&self.pending).into_owned();
                self.pending = lossy.into_bytes();
                self.pending.len()
            }
        };
        let rest = self.pending.split_off(valid);
        self.text
            .push_str(&String::from_utf8_lossy(&std::mem::replace(
                &mut self.pending,
                rest,
            )));
        if let Some(at) = self
            .stop
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| self.text.find(s.as_str()))
            .min()
        {
            self.text.truncate(at);
            self.flush_to(self.text.len(), events);
            return true;
        }
        let mut safe = self.text.len().saturating_sub(self.hold);
        while !self.text.is_char_boundary(safe) {
            safe -= 1;
        }
        self.flush_to(safe, events);
        false
    }

    fn flush_to(&mut self, end: usize, events: &Sender<Event>) {
        if end > self.sent {
            if events
                .send(Event::Token(self.text[self.sent..end].to_string()))
                .is_err()
            {
                self.gone = true;
            }
            self.sent = end;
        }
    }

    pub(super) fn finish(&mut self, events: &Sender<Event>) {
        if !self.pending.is_empty() {
            let tail = String::from_utf8_lossy(&self.pending).into_owned();
            self.text.push_str(&tail);
            self.pending.clear();
        }
        self.flush_to(self.text.len(), events);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    fn run(pieces: &[&[u8]], stop: &[&str]) -> (String, Vec<String>, bool) {
        let stop: Vec<String> = stop.iter().map(|s| s.to_string()).collect();
        let (tx, rx) = mpsc::channel();
        let mut out = Output::new(&stop);
        let mut stopped = false;
        for p in pieces {
            if out.push(p, &tx) {
                stopped = true;
                break;
            }
        }
        out.finish(&tx);
        drop(tx);
        let streamed = rx
            .iter()
            .map(|e| match e {
                Event::Token(t) => t,
                Event::Done(_) => unreachable!(),
            })
            .collect();
        (out.text, streamed, stopped)
    }

    #[test]
    fn split_utf8_is_joined_before_streaming() {
        let e = "é".as_bytes();
        let (text, streamed, _) = run(&[b"caf", &e[..1], &e[1..], b"!"], &[]);
        assert_eq!(text, "café!");
        assert_eq!(streamed.concat(), "café!");
        assert!(streamed.iter().all(|s| !s.contains('\u{fffd}')));
    }

    #[test]
    fn stop_string_across_tokens_is_never_streamed() {
        let (text, streamed, stopped) = run(&[b"ans", b"wer<", b"|end", b"|> more"], &["<|end|>"]);
        assert!(stopped);
        assert_eq!(text, "answer");
        assert_eq!(streamed.concat(), "answer");
    }
}
