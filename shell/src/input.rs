//! Reading and validating the user's request: a whole prompt from stdin
//! (`-p -`, piped input), or line by line from the terminal in line mode.

use std::io::{BufRead, Read};

use tokio::sync::mpsc;

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

/// One read from the terminal in line mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line (with its newline, if it had one).
    Text(String),
    /// End of input (Ctrl-D on an empty line, or stdin closed).
    Eof,
    /// Ctrl-C at the line editor's prompt (which reads it as a key, not as
    /// SIGINT): the typed line is dropped.
    Interrupt,
    /// Reading failed (e.g. the line is not UTF-8); nothing more is read.
    Error(String),
}

/// Lines read from stdin on a thread of their own: plainly, or through
/// the line editor ([`crate::editor`]) in the interactive line mode.
///
/// Line mode needs to notice Ctrl-D while it is doing something else
/// (waiting for the daemons, watching the session stream at the prompt), and
/// a blocking read cannot be cancelled; so one plain thread owns stdin for
/// the whole session and hands lines over a channel. It is a plain thread,
/// not `spawn_blocking`, so a read still pending at exit does not hold up
/// the runtime's shutdown. Lines typed during a turn queue up, as they would
/// in the terminal's own buffer.
///
/// The callers set the prompt ([`Lines::prompt_request`],
/// [`Lines::prompt_question`]) and, before writing anything while a line
/// may be being read, call [`Lines::quiet`]: the plain reader prints the
/// prompt itself and needs no quiet; the editor draws the prompt and
/// steps aside for output.
#[derive(Debug)]
pub struct Lines {
    source: Source,
}

#[derive(Debug)]
enum Source {
    Reader(mpsc::UnboundedReceiver<Line>),
    Editor(Box<crate::editor::Editor>),
}

impl Lines {
    /// Start reading the process's stdin.
    pub fn stdin() -> Result<Lines, Failure> {
        Lines::spawn(std::io::BufReader::new(std::io::stdin()))
    }

    /// Read the terminal through the line editor.
    pub fn editor(setup: crate::editor::Setup) -> Result<Lines, Failure> {
        Ok(Lines {
            source: Source::Editor(Box::new(crate::editor::Editor::start(setup)?)),
        })
    }

    /// Start reading `reader`, line by line, until end of input or an error.
    pub fn spawn(mut reader: impl BufRead + Send + 'static) -> Result<Lines, Failure> {
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("aios-stdin".into())
            .spawn(move || {
                loop {
                    let mut s = String::new();
                    let line = match reader.read_line(&mut s) {
                        Ok(0) => Line::Eof,
                        Ok(_) => Line::Text(s),
                        Err(e) => Line::Error(e.to_string()),
                    };
                    let last = !matches!(line, Line::Text(_));
                    if tx.send(line).is_err() || last {
                        return;
                    }
                }
            })
            .map_err(|e| {
                Failure::new(
                    crate::exit::Exit::Failed,
                    format!("cannot start the input reader: {e}"),
                )
            })?;
        Ok(Lines {
            source: Source::Reader(rx),
        })
    }

    /// Whether lines are read all the time (the plain reader), so text
    /// typed ahead is seen before it is asked for. The editor reads only
    /// at a prompt.
    pub fn reads_ahead(&self) -> bool {
        matches!(self.source, Source::Reader(_))
    }

    /// The next line is a request: the plain reader prints `prompt` now
    /// (when `show`), the editor draws its own prompt when it reads.
    pub fn prompt_request(&mut self, prompt: &str, show: bool) {
        match &mut self.source {
            Source::Reader(_) if show => write_prompt(prompt),
            Source::Reader(_) => {}
            Source::Editor(e) => e.prompt_request(),
        }
    }

    /// The next line answers the question `prompt`.
    pub fn prompt_question(&mut self, prompt: &str) {
        match &mut self.source {
            Source::Reader(_) => write_prompt(prompt),
            Source::Editor(e) => e.prompt_question(prompt),
        }
    }

    /// Make sure no prompt is drawn before output is written (see
    /// [`crate::editor::Editor::quiet`]).
    pub async fn quiet(&mut self) {
        if let Source::Editor(e) = &mut self.source {
            e.quiet().await;
        }
    }

    /// The next line; `Eof` forever once input has ended. Cancel-safe: a
    /// line is never lost when the future is dropped in a `select!`.
    pub async fn recv(&mut self) -> Line {
        match &mut self.source {
            Source::Reader(rx) => rx.recv().await.unwrap_or(Line::Eof),
            Source::Editor(e) => e.recv().await,
        }
    }
}

fn write_prompt(prompt: &str) {
    let mut err = crate::printer::stderr();
    let _ = write!(err, "{prompt}");
    let _ = err.flush();
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

    #[tokio::test]
    async fn lines_arrive_in_order_then_eof_forever() {
        let mut lines = Lines::spawn(&b"first\nsecond\nlast without newline"[..]).unwrap();
        assert_eq!(lines.recv().await, Line::Text("first\n".into()));
        assert_eq!(lines.recv().await, Line::Text("second\n".into()));
        assert_eq!(
            lines.recv().await,
            Line::Text("last without newline".into())
        );
        assert_eq!(lines.recv().await, Line::Eof);
        assert_eq!(lines.recv().await, Line::Eof);
    }

    #[tokio::test]
    async fn a_line_that_is_not_utf8_is_an_error_not_a_panic() {
        let mut lines = Lines::spawn(&b"ok\nbad \xff\n"[..]).unwrap();
        assert_eq!(lines.recv().await, Line::Text("ok\n".into()));
        assert!(matches!(lines.recv().await, Line::Error(_)));
        assert_eq!(lines.recv().await, Line::Eof);
    }
}
