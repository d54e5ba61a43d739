//! The executor's side of the audit ledger: one writer thread owns the
//! ledger, so appends from concurrent calls are ordered in one chain and
//! committed together (group commit) without blocking the async workers.
//!
//! A change waits for its intent entry to be durable before it runs
//! ([`Audit::append`]); if the ledger cannot be written, the change does
//! not run. A read call is one combined entry, written after it ran and
//! before its result is returned ([`Audit::append_written`]): committed
//! to the kernel, so a `kill -9` of toolsd loses no read that was
//! answered, but not fsynced on its own, since an fsync per look would
//! cost milliseconds on every read; the next durable commit's fsync of
//! the write-ahead log covers it.

use std::sync::mpsc;

use aios_ledger::Durability;
use aios_proto::{AuditEntry, AuditQuestion};
use serde_json::Value;
use tokio::sync::oneshot;

/// Where entries go: the hash-chained ledger (`aios-ledger`), or a stand-in
/// in tests.
pub trait LedgerBackend: Send + 'static {
    /// Open the backend's default: the ledger file at `path`.
    fn open(path: &std::path::Path) -> Result<Box<dyn LedgerBackend>, String>
    where
        Self: Sized,
    {
        let _ = path;
        Err("this backend cannot be opened from a path".into())
    }
    /// Append entries in order, in one transaction taken as far as
    /// `durability` says; their ids.
    fn append_batch(
        &mut self,
        entries: &[AuditEntry],
        durability: Durability,
    ) -> Result<Vec<u64>, String>;
    /// Housekeeping after a batch was acknowledged (the ledger's
    /// checkpoint), so appenders do not wait for it.
    fn after_batch(&mut self) {}
    /// Answer a question (records or a verify report as JSON); with
    /// `only_uid`, records of calls acting for that uid alone.
    fn answer(&self, q: &AuditQuestion, only_uid: Option<u32>) -> Result<Value, String>;
}

type Ack = oneshot::Sender<Result<u64, String>>;

enum Msg {
    Append(Box<AuditEntry>, Durability, Ack),
    Ask(
        AuditQuestion,
        Option<u32>,
        oneshot::Sender<Result<Value, String>>,
    ),
}

/// Handle to the ledger writer.
#[derive(Debug, Clone)]
pub struct Audit {
    tx: Option<mpsc::Sender<Msg>>,
    /// Why there is no ledger, when there is none.
    missing: String,
}

/// Most entries committed in one transaction.
const MAX_BATCH: usize = 512;

impl Audit {
    /// Start the writer thread over `backend`.
    pub fn start(backend: Box<dyn LedgerBackend>) -> Audit {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || writer(backend, rx));
        match spawned {
            Ok(_) => Audit {
                tx: Some(tx),
                missing: String::new(),
            },
            Err(e) => Audit::unavailable(format!("cannot start the ledger writer: {e}")),
        }
    }

    /// No ledger: every change is refused with `why`.
    pub fn unavailable(why: impl Into<String>) -> Audit {
        Audit {
            tx: None,
            missing: why.into(),
        }
    }

    /// Why changes cannot be recorded, when there is no ledger at all.
    pub fn missing(&self) -> Option<&str> {
        self.tx.is_none().then_some(self.missing.as_str())
    }

    /// Append one entry and wait until it is durable (fsynced); its id.
    pub async fn append(&self, entry: AuditEntry) -> Result<u64, String> {
        self.append_with(entry, Durability::Durable).await
    }

    /// Append one entry and wait until it is written (a crash of toolsd
    /// cannot lose it; the next durable append fsyncs it); its id. For
    /// read calls.
    pub async fn append_written(&self, entry: AuditEntry) -> Result<u64, String> {
        self.append_with(entry, Durability::Written).await
    }

    async fn append_with(&self, entry: AuditEntry, durability: Durability) -> Result<u64, String> {
        let tx = self.tx.as_ref().ok_or_else(|| self.missing.clone())?;
        let (ack, done) = oneshot::channel();
        tx.send(Msg::Append(Box::new(entry), durability, ack))
            .map_err(|_| "the ledger writer has stopped".to_string())?;
        done.await
            .map_err(|_| "the ledger writer stopped before the entry was written".to_string())?
    }

    /// Ask the ledger; with `only_uid`, about that user's calls alone.
    pub async fn ask(&self, q: AuditQuestion, only_uid: Option<u32>) -> Result<Value, String> {
        let tx = self.tx.as_ref().ok_or_else(|| self.missing.clone())?;
        let (ack, done) = oneshot::channel();
        tx.send(Msg::Ask(q, only_uid, ack))
            .map_err(|_| "the ledger writer has stopped".to_string())?;
        done.await
            .map_err(|_| "the ledger writer stopped before it answered".to_string())?
    }
}

impl LedgerBackend for aios_ledger::Ledger {
    fn open(path: &std::path::Path) -> Result<Box<dyn LedgerBackend>, String> {
        let mut ledger = aios_ledger::Ledger::open(path).map_err(|e| e.to_string())?;
        // A read waits for its entry; it must not also wait for a
        // checkpoint's fsync.
        ledger.defer_checkpoints().map_err(|e| e.to_string())?;
        Ok(Box::new(ledger))
    }

    fn append_batch(
        &mut self,
        entries: &[AuditEntry],
        durability: Durability,
    ) -> Result<Vec<u64>, String> {
        aios_ledger::Ledger::append_batch_with(self, entries, durability)
            .map(|rs| rs.into_iter().map(|r| r.id).collect())
            .map_err(|e| e.to_string())
    }

    fn after_batch(&mut self) {
        if let Err(e) = self.checkpoint_if_due() {
            // The log only grows until the next checkpoint succeeds.
            tracing::warn!("audit ledger checkpoint failed: {e}");
        }
    }

    fn answer(&self, q: &AuditQuestion, only_uid: Option<u32>) -> Result<Value, String> {
        let records = match q {
            AuditQuestion::Log(q) => self.query(&aios_ledger::Query {
                since_unix_ms: q.since_unix_ms,
                tool: q.tool.clone(),
                uid: only_uid,
                user: q.user.clone(),
                session_id: q.session_id.clone(),
                call_id: None,
                limit: if q.limit == 0 {
                    aios_ledger::Query::DEFAULT_LIMIT
                } else {
                    q.limit as usize
                },
            }),
            AuditQuestion::Why(id) => match self.why(*id) {
                Err(e) if e.kind() == aios_ledger::LedgerErrorKind::NotFound => Ok(Vec::new()),
                other => other.map(|rs| {
                    rs.into_iter()
                        .filter(|r| only_uid.is_none_or(|u| r.entry.uid == u))
                        .collect()
                }),
            },
            AuditQuestion::Verify => {
                // A separate read-only connection, so a long verify does
                // not hold up the writer's appends.
                let report = aios_ledger::Ledger::open_read_only(self.path())
                    .and_then(|l| l.verify())
                    .map_err(|e| e.to_string())?;
                return serde_json::to_value(report).map_err(|e| e.to_string());
            }
            AuditQuestion::Checkpoint => {
                // Read by the writer itself, between appends: the head of
                // a chain nobody is extending at this instant.
                let cp = self.checkpoint().map_err(|e| e.to_string())?;
                return serde_json::to_value(cp).map_err(|e| e.to_string());
            }
            AuditQuestion::VerifyAgainst(text) => {
                // The executor checked the signature before asking.
                let cp = aios_ledger::SignedCheckpoint::from_json(text)
                    .map_err(|e| e.to_string())?
                    .checkpoint();
                let report = aios_ledger::Ledger::open_read_only(self.path())
                    .and_then(|l| l.verify_against(&cp))
                    .map_err(|e| e.to_string())?;
                return serde_json::to_value(report).map_err(|e| e.to_string());
            }
        }
        .map_err(|e| e.to_string())?;
        serde_json::to_value(records).map_err(|e| e.to_string())
    }
}

impl aios_catalog::AuditReader for Audit {
    fn ask<'a>(
        &'a self,
        q: AuditQuestion,
        only_uid: Option<u32>,
    ) -> futures::future::BoxFuture<'a, Result<Value, String>> {
        Box::pin(Audit::ask(self, q, only_uid))
    }
}

/// The writer loop: take whatever is queued, commit appends together (one
/// fsync when any of them must be durable, none when all are reads), then
/// answer questions (which therefore see every append queued before them).
fn writer(mut backend: Box<dyn LedgerBackend>, rx: mpsc::Receiver<Msg>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let mut entries = Vec::new();
        let mut acks = Vec::new();
        let mut asks = Vec::new();
        let mut durability = Durability::Written;
        for m in batch {
            match m {
                Msg::Append(e, d, ack) => {
                    entries.push(*e);
                    acks.push(ack);
                    if d == Durability::Durable {
                        durability = Durability::Durable;
                    }
                }
                Msg::Ask(q, uid, ack) => asks.push((q, uid, ack)),
            }
        }
        if !entries.is_empty() {
            match backend.append_batch(&entries, durability) {
                Ok(ids) => {
                    for (ack, id) in acks.into_iter().zip(ids) {
                        let _ = ack.send(Ok(id));
                    }
                }
                Err(e) => {
                    tracing::error!("audit ledger append failed: {e}");
                    for ack in acks {
                        let _ = ack.send(Err(e.clone()));
                    }
                }
            }
        }
        for (q, uid, ack) in asks {
            let _ = ack.send(backend.answer(&q, uid));
        }
        backend.after_batch();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A ledger stand-in that keeps entries in memory and can be told to
    /// fail, for the executor's fail-closed tests.
    #[derive(Clone, Default)]
    pub(crate) struct MemoryLedger {
        pub(crate) entries: Arc<Mutex<Vec<AuditEntry>>>,
        pub(crate) fail: Arc<Mutex<Option<String>>>,
        /// The durability each batch was committed with.
        pub(crate) batches: Arc<Mutex<Vec<Durability>>>,
    }

    impl LedgerBackend for MemoryLedger {
        fn append_batch(
            &mut self,
            entries: &[AuditEntry],
            durability: Durability,
        ) -> Result<Vec<u64>, String> {
            if let Some(e) = self.fail.lock().unwrap().clone() {
                return Err(e);
            }
            self.batches.lock().unwrap().push(durability);
            let mut all = self.entries.lock().unwrap();
            let mut ids = Vec::new();
            for e in entries {
                all.push(e.clone());
                ids.push(all.len() as u64);
            }
            Ok(ids)
        }

        fn answer(&self, _q: &AuditQuestion, _uid: Option<u32>) -> Result<Value, String> {
            Ok(serde_json::to_value(&*self.entries.lock().unwrap()).unwrap())
        }
    }

    pub(crate) fn entry(tool: &str) -> AuditEntry {
        AuditEntry {
            kind: aios_proto::AuditKind::Intent,
            unix_ms: 1,
            uid: 1000,
            user: "alice".into(),
            session_id: "s".into(),
            session_kind: Default::default(),
            call_id: "c".into(),
            request: String::new(),
            plan_step: String::new(),
            rationale: String::new(),
            tool: tool.into(),
            args: Value::Null,
            call_hash: String::new(),
            effect: aios_proto::Risk::Change,
            resources: vec![],
            decision: None,
            status: None,
            summary: String::new(),
            duration_us: 0,
            undo: None,
            intent_id: None,
        }
    }

    #[tokio::test]
    async fn appends_are_acknowledged_in_order_and_failures_reach_the_caller() {
        let mem = MemoryLedger::default();
        let audit = Audit::start(Box::new(mem.clone()));
        assert_eq!(audit.append(entry("a")).await.unwrap(), 1);
        assert_eq!(audit.append_written(entry("b")).await.unwrap(), 2);
        assert_eq!(audit.append(entry("c")).await.unwrap(), 3);
        assert_eq!(
            *mem.batches.lock().unwrap(),
            [
                Durability::Durable,
                Durability::Written,
                Durability::Durable
            ],
            "a read alone is not fsynced; a change is"
        );
        *mem.fail.lock().unwrap() = Some("disk full".into());
        assert_eq!(audit.append(entry("d")).await.unwrap_err(), "disk full");
        let none = Audit::unavailable("no ledger: /x cannot be opened");
        assert!(none.append(entry("e")).await.unwrap_err().contains("/x"));
    }
}
