//! One attached session on aiosd, shared by the one-shot modes
//! ([`crate::oneshot`]) and the line mode ([`crate::line`]): requests are
//! sent as `UserInput`, and events are printed ([`crate::printer`]) until
//! each turn completes.
//!
//! A connection remembers the last event it read, so after aiosd restarts
//! the shell resumes **the same** session from there
//! ([`Connection::resume`]): aiosd brings the session back from memoryd
//! and replays what the client has not seen, including how the turn the
//! restart cut short ended.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aios_config::{Daemon, Paths};
use aios_proto::{
    ApiErrorKind, ApprovalNeeded, BoxStream, CreateSession, Event, EventKind, Op, SessionClient,
    SessionKind, TurnStatus,
};
use futures::StreamExt;
use tokio::signal::unix::Signal;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::approve::Desk;
use crate::cli::Cli;
use crate::exit::{self, Exit, Failure};
use crate::input::Lines;
use crate::printer::Printer;

/// One attached session.
pub(crate) struct Connection {
    /// The session's id.
    pub(crate) session_id: String,
    /// The session's kind, as it was created: what the shell's own calls
    /// in this session (`/undo`) must claim, since toolsd pins it.
    pub(crate) kind: SessionKind,
    ops: mpsc::UnboundedSender<Op>,
    /// The session's events (replayed from the start, then live).
    pub(crate) events: BoxStream<Event>,
    /// The seq of the last event read from [`Connection::events`].
    last_seq: Arc<AtomicU64>,
    /// Renders events.
    pub(crate) printer: Printer,
    /// Answers approval requests.
    desk: Desk,
}

impl Connection {
    /// Create a session of `kind` on aiosd and attach to it; or, for `aios
    /// attach`, attach to the session it names (whatever its kind). The
    /// kind is the front end's: the TUI and the line mode are
    /// interactive, `aios -p` and a piped prompt one-shot.
    pub(crate) async fn open(
        cli: &Cli,
        paths: &Paths,
        kind: SessionKind,
    ) -> Result<Connection, Failure> {
        if let Some(id) = &cli.attach_to {
            return Connection::resume(cli, paths, id, 0).await;
        }
        let mut client = client(paths).await?;
        let info = client
            .create(CreateSession {
                provider: cli.provider.clone(),
                model: cli.model.clone(),
                approval: cli.approve.approval(),
                title: cli
                    .prompt
                    .clone()
                    .unwrap_or_default()
                    .chars()
                    .take(80)
                    .collect(),
                kind,
            })
            .await
            .map_err(|e| match e.kind {
                ApiErrorKind::Transport | ApiErrorKind::Unavailable => {
                    Failure::daemon(format!("cannot create a session: {}", e.message))
                }
                ApiErrorKind::InvalidArgument => Failure::usage(e.message),
                _ => Failure::new(
                    Exit::Failed,
                    format!("cannot create a session: {}", e.message),
                ),
            })?;
        // The session replays from the start.
        Connection::attach(cli, paths, client, info.id, info.kind, 0).await
    }

    /// Attach to an existing session of this user, replaying the events
    /// after `after_seq` (0: all of them). aiosd brings the session back
    /// from memoryd when it is not live (e.g. aiosd restarted).
    pub(crate) async fn resume(
        cli: &Cli,
        paths: &Paths,
        session_id: &str,
        after_seq: u64,
    ) -> Result<Connection, Failure> {
        let mut client = client(paths).await?;
        // The kind it was created with; a session the listing does not
        // show is refused by the attach below anyway.
        let kind = client
            .list()
            .await
            .ok()
            .and_then(|all| all.into_iter().find(|s| s.id == session_id))
            .map_or_else(SessionKind::default, |s| s.kind);
        Connection::attach(cli, paths, client, session_id.to_string(), kind, after_seq).await
    }

    async fn attach(
        cli: &Cli,
        paths: &Paths,
        mut client: SessionClient,
        session_id: String,
        kind: SessionKind,
        after_seq: u64,
    ) -> Result<Connection, Failure> {
        let (tx, rx) = mpsc::unbounded_channel();
        // Attach first.
        let _ = tx.send(Op::Attach {
            session_id: session_id.clone(),
            after_seq,
        });
        let events = client
            .stream(UnboundedReceiverStream::new(rx))
            .await
            .map_err(|e| {
                let message = format!("cannot attach to session {session_id}: {}", e.message);
                match e.kind {
                    ApiErrorKind::Transport | ApiErrorKind::Unavailable => Failure::daemon(message),
                    ApiErrorKind::InvalidArgument => Failure::usage(message),
                    _ => Failure::new(Exit::Failed, message),
                }
            })?;
        let last_seq = Arc::new(AtomicU64::new(after_seq));
        let seen = last_seq.clone();
        let events = events
            .inspect(move |r| {
                if let Ok(e) = r {
                    seen.store(e.seq, Ordering::Relaxed);
                }
            })
            .boxed();
        Ok(Connection {
            desk: Desk::new(
                cli.approve,
                paths.socket(Daemon::Toolsd),
                session_id.clone(),
            ),
            session_id,
            kind,
            ops: tx,
            events,
            last_seq,
            printer: Printer::new(cli.json),
        })
    }

    /// This connection, drawing on `old`'s transcript when it resumes the
    /// same session, so what began before the break (a tool card, the
    /// answer's line) ends where it began.
    pub(crate) fn after(mut self, old: Connection) -> Connection {
        if self.session_id == old.session_id {
            self.printer = old.printer;
        }
        self
    }

    /// The seq of the last event read: where a resumed connection picks up.
    pub(crate) fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Relaxed)
    }

    /// Send one request and print events until its turn completes;
    /// approval requests are asked on `lines` (none: refused unless
    /// `--approve=all`). Ctrl-C is read from the caller's `sigint` when it
    /// has one (line mode), so one handler owns it and no interrupt is left
    /// pending for the prompt; otherwise from a handler of its own.
    pub(crate) async fn turn(
        &mut self,
        text: String,
        mut lines: Option<&mut Lines>,
        mut sigint: Option<&mut Signal>,
    ) -> Result<Exit, Failure> {
        self.printer.typed(&text);
        if self.ops.send(Op::UserInput { text }).is_err() {
            return Err(Failure::daemon("aiosd closed the session stream"));
        }
        let mut last_fatal: Option<aios_proto::ErrorCode> = None;
        let mut interrupts = 0u32;
        // An event read while an approval was being asked, still to be
        // handled.
        let mut carried: Option<Option<Result<Event, aios_proto::ApiError>>> = None;
        loop {
            let next = if let Some(n) = carried.take() {
                n
            } else {
                tokio::select! {
                e = self.events.next() => e,
                () = interrupted(&mut sigint) => {
                    interrupts += 1;
                    if interrupts > 1 {
                        return Ok(Exit::Failed);
                    }
                    let _ = self.ops.send(Op::Interrupt);
                    continue;
                }
                }
            };
            let event = match next {
                Some(Ok(e)) => e,
                Some(Err(e)) => {
                    return Err(self.printer.fail(Failure::daemon(format!(
                        "lost the connection to aiosd mid-turn: {}",
                        e.message
                    ))));
                }
                None => {
                    return Err(self
                        .printer
                        .fail(Failure::daemon("aiosd ended the session stream mid-turn")));
                }
            };
            self.printer.event(&event)?;
            if let EventKind::ApprovalRequested(a) = &event.kind {
                carried = self.ask_watching(a, lines.as_deref_mut()).await?;
                continue;
            }
            match &event.kind {
                EventKind::Error {
                    code, fatal: true, ..
                } => last_fatal = Some(code.clone()),
                // aiosd refused to start the turn (e.g. empty input).
                EventKind::Error {
                    code, fatal: false, ..
                } if exit::code_for_error(code) == Exit::Usage => {
                    return Ok(Exit::Usage);
                }
                EventKind::TurnCompleted { status, .. } => {
                    return Ok(match status {
                        TurnStatus::Completed => Exit::Success,
                        TurnStatus::Refused => Exit::Refused,
                        TurnStatus::Interrupted => Exit::Failed,
                        TurnStatus::Failed => match last_fatal.as_ref().map(exit::code_for_error) {
                            Some(Exit::DaemonUnavailable) => Exit::DaemonUnavailable,
                            _ => Exit::Failed,
                        },
                    });
                }
                _ => {}
            }
        }
    }

    /// Ask the user about `a` while the session goes on: the call can end
    /// elsewhere (answered from another terminal, or expired in toolsd),
    /// the turn can end, or the stream can break. Then the question is
    /// dropped, and the event that ended it is returned for the caller to
    /// handle as any event read from the stream. Other events read
    /// meanwhile (a notification) are held until the question is done, so
    /// they never cross its prompt.
    pub(crate) async fn ask_watching(
        &mut self,
        a: &ApprovalNeeded,
        mut lines: Option<&mut Lines>,
    ) -> Result<Option<Option<Result<Event, aios_proto::ApiError>>>, Failure> {
        let mut held = Vec::new();
        let ended = {
            let answer = self.desk.answer(a, lines.as_deref_mut());
            tokio::pin!(answer);
            loop {
                tokio::select! {
                    r = &mut answer => {
                        r?;
                        break None;
                    }
                    next = self.events.next() => match expiry(&next, a) {
                        Some(why) => break Some((why, next)),
                        None => {
                            if let Some(Ok(e)) = next {
                                held.push(e);
                            }
                        }
                    },
                }
            }
        };
        // The question's prompt, if still up, steps aside.
        let mut after_prompt = true;
        if let Some(l) = lines {
            l.quiet().await;
            after_prompt = l.reads_ahead();
        }
        for e in &held {
            self.printer.event(e)?;
        }
        let Some((why, next)) = ended else {
            return Ok(None);
        };
        if after_prompt {
            let _ = writeln!(crate::printer::stderr());
        }
        crate::printer::say(&why);
        Ok(Some(next))
    }

    /// Send an operation; `false` when the stream to aiosd is gone. The
    /// TUI's own event loop reads [`Connection::events`].
    pub(crate) fn send(&self, op: Op) -> bool {
        self.ops.send(op).is_ok()
    }

    /// Leave the session (it stays on aiosd).
    pub(crate) fn detach(&self) {
        let _ = self.ops.send(Op::Detach);
    }
}

/// Approvals a session is waiting on, as far as the events read so far
/// tell: asked and not yet ended (by the call's end or the turn's). An
/// attached line mode re-presents these once the replay has been read.
#[derive(Debug, Default)]
pub(crate) struct Pending(Vec<ApprovalNeeded>);

impl Pending {
    /// Account for one event.
    pub(crate) fn see(&mut self, e: &Event) {
        match &e.kind {
            EventKind::ApprovalRequested(a) => {
                self.0.retain(|p| p.call_id != a.call_id);
                self.0.push((**a).clone());
            }
            EventKind::ToolCallEnd { call_id, .. } => self.0.retain(|p| p.call_id != *call_id),
            EventKind::TurnCompleted { .. } => self.0.clear(),
            _ => {}
        }
    }

    /// The waiting approvals, oldest first; none are left.
    pub(crate) fn take(&mut self) -> Vec<ApprovalNeeded> {
        std::mem::take(&mut self.0)
    }

    /// Put back approvals taken and not yet asked, ahead of any seen since.
    pub(crate) fn put_back(&mut self, rest: impl IntoIterator<Item = ApprovalNeeded>) {
        let newer = std::mem::take(&mut self.0);
        self.0.extend(rest);
        for a in newer {
            self.0.retain(|p| p.call_id != a.call_id);
            self.0.push(a);
        }
    }
}

/// Why a question about `a` is no longer asked, when `next` ended it:
/// the call ended (answered elsewhere, or expired), the turn ended, or
/// the stream broke. `None`: the question stays.
fn expiry(
    next: &Option<Result<Event, aios_proto::ApiError>>,
    a: &ApprovalNeeded,
) -> Option<String> {
    let why = match next {
        Some(Ok(e)) => match &e.kind {
            EventKind::ToolCallEnd { call_id, .. } if *call_id == a.call_id => {
                "the call ended elsewhere (answered from another terminal, or it expired)"
                    .to_string()
            }
            EventKind::TurnCompleted { message, .. } if !message.is_empty() => message.clone(),
            EventKind::TurnCompleted { .. } => "the turn ended".to_string(),
            _ => return None,
        },
        // toolsd keeps a waiting call through an aiosd restart: the
        // question comes back on reconnecting.
        Some(Err(_)) | None => {
            return Some(format!(
                "the connection to aiosd broke while {} waited for your approval; it is asked \
                 again after reconnecting if it still waits",
                a.tool
            ));
        }
    };
    Some(format!(
        "the approval of {} is no longer asked: {why}",
        a.tool
    ))
}

/// A client of aiosd's session service.
async fn client(paths: &Paths) -> Result<SessionClient, Failure> {
    let socket = paths.socket(Daemon::Aiosd);
    let channel = aios_proto::connect(&socket)
        .await
        .map_err(|e| Failure::daemon(format!("aiosd is not reachable: {e}")))?;
    Ok(SessionClient::new(channel))
}

/// The next Ctrl-C: from the caller's handler, or a handler of its own.
async fn interrupted(sigint: &mut Option<&mut Signal>) {
    match sigint {
        Some(s) => {
            let _ = s.recv().await;
        }
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use aios_proto::{Risk, ToolStatus};

    use super::*;

    fn ev(kind: EventKind) -> Event {
        Event {
            seq: 1,
            session_id: "s".into(),
            unix_ms: 0,
            kind,
        }
    }

    fn asked(call: &str) -> Event {
        ev(EventKind::ApprovalRequested(Box::new(ApprovalNeeded {
            call_id: call.into(),
            tool: "fs.write".into(),
            args: serde_json::json!({}),
            call_hash: String::new(),
            effect: Risk::Change,
            resources: vec![],
            preview: aios_proto::Preview {
                summary: String::new(),
                detail: aios_proto::PreviewDetail::None,
            },
            rationale: String::new(),
            rule: String::new(),
            reason: String::new(),
            confirm: None,
            session_kind: Default::default(),
        })))
    }

    #[test]
    fn only_approvals_still_waiting_after_the_replay_are_pending() {
        let mut p = Pending::default();
        p.see(&asked("a"));
        p.see(&ev(EventKind::ToolCallEnd {
            call_id: "a".into(),
            status: ToolStatus::Ok,
            result: serde_json::json!(null),
            duration_us: 0,
        }));
        p.see(&asked("b"));
        let left: Vec<String> = p.take().into_iter().map(|a| a.call_id).collect();
        assert_eq!(left, ["b"]);
        assert!(p.take().is_empty());
        p.see(&asked("c"));
        p.see(&ev(EventKind::TurnCompleted {
            turn_id: "t1".into(),
            status: aios_proto::TurnStatus::Failed,
            message: String::new(),
        }));
        assert!(p.take().is_empty());
    }

    #[test]
    fn questions_not_yet_asked_are_put_back_ahead_of_newer_ones() {
        let mut p = Pending::default();
        p.see(&asked("a"));
        p.see(&asked("b"));
        let mut taken = p.take().into_iter();
        assert_eq!(taken.next().map(|a| a.call_id).as_deref(), Some("a"));
        // While "a" was asked, "c" came, and "b" was asked again.
        p.see(&asked("c"));
        p.see(&asked("b"));
        p.put_back(taken);
        let left: Vec<String> = p.take().into_iter().map(|a| a.call_id).collect();
        assert_eq!(left, ["c", "b"]);
    }
}
