//! The executor's side of the audit ledger: one writer thread drains a
//! queue of appends, so appends from concurrent calls are ordered in one
//! chain and committed together (group commit) without blocking the async
//! workers on an fsync.
//!
//! A change waits for its intent entry to be durable before it runs
//! ([`Audit::append`]); if the ledger cannot be written, the change does
//! not run. A read call is one combined entry, written after it ran and
//! before its result is returned ([`Audit::append_written`]): committed
//! to the kernel, so a `kill -9` of toolsd loses no read that was
//! answered, but not fsynced on its own, since an fsync per look would
//! cost milliseconds on every read; the next durable commit's fsync of
//! the write-ahead log covers it.
//!
//! A read's entry is on the path of every look, and handing it to the
//! writer thread and back costs two thread wake-ups, more than SQLite's
//! own work for an append that is not fsynced. So when the ledger is free
//! the calling task appends it itself, under the same lock the writer
//! takes; only when the writer is busy does the entry join its queue.
//! The writer still runs checkpoints, so a look never waits for one.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError, mpsc};

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
    /// Whether [`LedgerBackend::after_batch`] has work to do: appends made
    /// outside the writer thread ask it to run then.
    fn housekeeping_due(&self) -> bool {
        false
    }
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
    /// Run the backend's housekeeping (an append made outside the writer
    /// thread found it due).
    Tidy,
}

/// The backend, shared by the writer thread and the read appends made
/// in place.
type Shared = Arc<Mutex<Box<dyn LedgerBackend>>>;

/// Handle to the ledger writer.
#[derive(Clone)]
pub struct Audit {
    tx: Option<mpsc::Sender<Msg>>,
    backend: Option<Shared>,
    /// Why there is no ledger, when there is none.
    missing: String,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("running", &self.tx.is_some())
            .field("missing", &self.missing)
            .finish()
    }
}

/// The lock, even after a panic while it was held: every append is one
/// SQLite transaction, rolled back when its holder unwound, so the ledger
/// behind a poisoned lock is consistent.
fn locked(shared: &Shared) -> MutexGuard<'_, Box<dyn LedgerBackend>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Most entries committed in one transaction.
const MAX_BATCH: usize = 512;

impl Audit {
    /// Start the writer thread over `backend`.
    pub fn start(backend: Box<dyn LedgerBackend>) -> Audit {
        let (tx, rx) = mpsc::channel();
        let shared: Shared = Arc::new(Mutex::new(backend));
        let for_writer = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || writer(&for_writer, rx));
        match spawned {
            Ok(_) => Audit {
                tx: Some(tx),
                backend: Some(shared),
                missing: String::new(),
            },
            Err(e) => Audit::unavailable(format!("cannot start the ledger writer: {e}")),
        }
    }

    /// No ledger: every change is refused with `why`.
    pub fn unavailable(why: impl Into<String>) -> Audit {
        Audit {
            tx: None,
            backend: None,
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
        match self.append_in_place(&entry) {
            Some(done) => done,
            None => self.append_with(entry, Durability::Written).await,
        }
    }

    /// Append a read's entry on the calling thread when nobody holds the
    /// ledger; `None` when the writer does (the entry then joins its
    /// queue). Never blocks on the lock, and an unfsynced append is
    /// SQLite work of some tens of microseconds, fine on an async worker.
    fn append_in_place(&self, entry: &AuditEntry) -> Option<Result<u64, String>> {
        let shared = self.backend.as_ref()?;
        let mut backend = match shared.try_lock() {
            Ok(b) => b,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        let done = backend
            .append_batch(std::slice::from_ref(entry), Durability::Written)
            .and_then(|ids| {
                ids.first()
                    .copied()
                    .ok_or_else(|| "the ledger returned no id for the entry".to_string())
            });
        let tidy = backend.housekeeping_due();
        drop(backend);
        if tidy && let Some(tx) = &self.tx {
            // Nobody waits for it; a stopped writer shows on the next append.
            let _ = tx.send(Msg::Tidy);
        }
        Some(done)
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

    fn housekeeping_due(&self) -> bool {
        self.checkpoint_due()
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
fn writer(shared: &Shared, rx: mpsc::Receiver<Msg>) {
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
                Msg::Tidy => {}
            }
        }
        let mut backend = locked(shared);
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

    /// A ledger whose questions block until the test lets them go, and
    /// which reports its housekeeping: to see where an append ran.
    struct GatedLedger {
        mem: MemoryLedger,
        /// Told when a question reached the backend (the writer holds it).
        entered: std::sync::mpsc::Sender<()>,
        /// Waited on before a question is answered.
        release: Mutex<std::sync::mpsc::Receiver<()>>,
        /// Told each time housekeeping runs.
        tidied: std::sync::mpsc::Sender<()>,
        /// Whether each append ran on the writer thread.
        on_writer: Arc<Mutex<Vec<bool>>>,
    }

    impl LedgerBackend for GatedLedger {
        fn append_batch(
            &mut self,
            entries: &[AuditEntry],
            durability: Durability,
        ) -> Result<Vec<u64>, String> {
            let writer = std::thread::current().name() == Some("ledger");
            self.on_writer.lock().unwrap().push(writer);
            self.mem.append_batch(entries, durability)
        }

        fn after_batch(&mut self) {
            let _ = self.tidied.send(());
        }

        fn housekeeping_due(&self) -> bool {
            true
        }

        fn answer(&self, q: &AuditQuestion, uid: Option<u32>) -> Result<Value, String> {
            let _ = self.entered.send(());
            let _ = self.release.lock().unwrap().recv();
            self.mem.answer(q, uid)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_is_written_in_place_or_queued_behind_a_busy_writer() {
        let mem = MemoryLedger::default();
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel();
        let (tidied_tx, tidied) = std::sync::mpsc::channel();
        let on_writer = Arc::new(Mutex::new(Vec::new()));
        let audit = Audit::start(Box::new(GatedLedger {
            mem: mem.clone(),
            entered: entered_tx,
            release: Mutex::new(release_rx),
            tidied: tidied_tx,
            on_writer: on_writer.clone(),
        }));
        let wait = std::time::Duration::from_secs(10);

        // Free ledger: the read is appended by the caller, and the writer is
        // asked to run the housekeeping the append made due.
        assert_eq!(audit.append_written(entry("a")).await.unwrap(), 1);
        tidied.recv_timeout(wait).expect("housekeeping ran");

        // The writer holds the ledger (answering a question): the read joins
        // its queue and is written once the writer is free, after the
        // question, which saw only what came before it.
        let asking = tokio::spawn({
            let audit = audit.clone();
            async move { audit.ask(AuditQuestion::Verify, None).await }
        });
        entered
            .recv_timeout(wait)
            .expect("the writer took the question");
        let mut read = tokio::spawn({
            let audit = audit.clone();
            async move { audit.append_written(entry("b")).await }
        });
        // The read cannot finish while the writer holds the ledger.
        let early = tokio::time::timeout(std::time::Duration::from_millis(200), &mut read).await;
        assert!(early.is_err(), "the read was written past a held ledger");
        release.send(()).unwrap();
        let seen = asking.await.unwrap().unwrap();
        assert_eq!(seen.as_array().unwrap().len(), 1);
        assert_eq!(read.await.unwrap().unwrap(), 2);
        let tools: Vec<String> = mem
            .entries
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.tool.clone())
            .collect();
        assert_eq!(tools, ["a", "b"]);
        assert_eq!(
            *on_writer.lock().unwrap(),
            [false, true],
            "the first read was appended by its caller, the second by the writer"
        );
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
