//! The `docs` collection: the machine's own documentation (man pages and package
//! READMEs), read in the background so a question such as "how do I make a file
//! immutable?" is answered from the installed `chattr(1)`.
//!
//! One pass runs on its own thread at memoryd's start, at the lowest CPU priority:
//! 1. find the files ([`sources`]: the manpath as `man` resolves it ([`manpath`]), and
//!    `README*` files of the doc directories);
//! 2. compare them with what SQLite remembers of the last pass (path, mtime, size per
//!    file, [`plan`]): only new and changed files are read, and files that are gone lose
//!    their documents;
//! 3. read, convert ([`roff`]) and split ([`chunk`]) the changed files in batches, each
//!    batch written with its file records in one transaction and queued for the indexer
//!    (which applies the `docs` queue after every other collection's, so conversations
//!    are never held up by it).
//!
//! Queries never wait for any of this: they read whatever is indexed so far.
//! [`DocsProgress`] says how far the pass is, for `aios memory status`.

pub mod chunk;
pub mod manpath;
pub mod roff;
pub mod sources;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use aios_config::MemoryConfig;
use aios_store::{DOCS_COLLECTION, DocSource, NewDoc, SourceUpdate, chunk_key};
use serde_json::json;

use crate::IndexerWaker;
use crate::search::{SearchError, SearchHost, now_ms};
use sources::{Found, Kind};

/// Files read and written per transaction: small enough that the store's lock is held
/// briefly (queries read through it), large enough to amortise the fsync.
const BATCH_FILES: usize = 64;

/// Where the documentation is, resolved from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocsSettings {
    /// Man directories, in manpath order.
    pub man_dirs: Vec<PathBuf>,
    /// Directories of package documentation.
    pub doc_dirs: Vec<PathBuf>,
    /// Largest README read.
    pub doc_max_bytes: u64,
}

impl DocsSettings {
    /// The settings of `[memory]`, or `None` when `docs = false`. Resolves the manpath now
    /// (see [`manpath`]): `[memory] manpath` / `MANPATH`, else the system's manpath, else
    /// [`aios_config::DEFAULT_MAN_DIRS`].
    pub fn from_config(c: &MemoryConfig) -> Option<Self> {
        if !c.docs {
            return None;
        }
        let system = || {
            let config = std::fs::read_to_string("/etc/manpath.config").unwrap_or_default();
            let path = std::env::var("PATH").unwrap_or_default();
            let found = manpath::system_manpath(&config, &path, &|p: &Path| p.is_dir());
            if found.is_empty() {
                aios_config::DEFAULT_MAN_DIRS
                    .iter()
                    .map(PathBuf::from)
                    .collect()
            } else {
                found
            }
        };
        Some(DocsSettings {
            man_dirs: manpath::resolve(c.manpath.as_deref(), &system),
            doc_dirs: c.doc_dirs.clone(),
            doc_max_bytes: c.doc_max_bytes,
        })
    }
}

/// How far the documentation pass is; shared with the search service's status.
#[derive(Debug, Default)]
pub struct DocsProgress {
    pending: AtomicU64,
    ingesting: AtomicBool,
}

impl DocsProgress {
    /// Files found new or changed and not yet read.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// A pass is under way (not every file's documents are stored yet).
    pub fn ingesting(&self) -> bool {
        self.ingesting.load(Ordering::Relaxed)
    }
}

/// What a pass must do: the paths of remembered files that are gone, and the indexes
/// (into `found`) of files that are new or changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Remembered files no longer found (or found under another name).
    pub removed: Vec<String>,
    /// New or changed files, as indexes into `found`.
    pub changed: Vec<usize>,
}

/// Compares a scan with the remembered files. Pure.
pub fn plan(found: &[Found], known: &[DocSource]) -> Plan {
    let known: HashMap<&str, &DocSource> = known.iter().map(|k| (k.path.as_str(), k)).collect();
    let mut present = HashSet::new();
    let mut changed = Vec::new();
    for (i, f) in found.iter().enumerate() {
        let path = f.path.to_string_lossy();
        let same = known.get(path.as_ref()).is_some_and(|k| {
            k.mtime_ns == f.mtime_ns && k.size == f.size && k.prefix == f.prefix()
        });
        if !same {
            changed.push(i);
        }
        present.insert(path.into_owned());
    }
    let mut removed: Vec<String> = known
        .keys()
        .filter(|p| !present.contains(**p))
        .map(|p| (*p).to_string())
        .collect();
    removed.sort();
    Plan { removed, changed }
}

/// The documents of one file: its text converted and chunked, with metadata. Pure.
pub fn documents(f: &Found, text: &str, unix_ms: i64) -> Vec<NewDoc> {
    let prefix = f.prefix();
    let path = f.path.to_string_lossy();
    let (header, sections, meta) = match &f.kind {
        Kind::Man(p) => {
            let page = roff::to_text(text);
            let header = match page.summary() {
                Some(s) => format!("{}({}): {s}", p.name, p.section),
                None => format!("{}({})", p.name, p.section),
            };
            let meta = json!({
                "kind": "man",
                "source": "man",
                "page": p.page(),
                "name": p.name,
                "section": p.section,
                "path": path,
            });
            (header, page.sections, meta)
        }
        Kind::Readme { package, file, .. } => {
            let header = format!("{package}: {file}");
            let meta = json!({
                "kind": "doc",
                "source": "doc",
                "page": format!("{package}/{file}"),
                "name": package,
                "section": "",
                "path": path,
            });
            (header, chunk::text_sections(text), meta)
        }
    };
    chunk::chunk(&header, &sections, chunk::CHUNK_BYTES)
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let mut m = meta.clone();
            if let Some(o) = m.as_object_mut() {
                o.insert("chunk".into(), json!(i));
                o.insert("heading".into(), json!(c.heading));
            }
            NewDoc {
                key: chunk_key(&prefix, u32::try_from(i).unwrap_or(u32::MAX)),
                text: c.text,
                metadata_json: m.to_string(),
                embedding: None,
                unix_ms,
            }
        })
        .collect()
}

/// Reads one file into its source record and documents; `None` (logged) when it cannot
/// be read this time, so it is tried again next start. A page that only redirects
/// (`.so`) becomes a record with no documents: its target is indexed on its own.
fn read_one(f: &Found, doc_max_bytes: u64) -> Option<SourceUpdate> {
    let max = match f.kind {
        Kind::Man(_) => sources::MAN_MAX_BYTES,
        Kind::Readme { .. } => doc_max_bytes,
    };
    let text = match sources::read_text(f, max) {
        Ok(t) => t,
        Err(why) => {
            tracing::debug!(path = %f.path.display(), "documentation file skipped: {why}");
            return None;
        }
    };
    let docs = match f.kind {
        Kind::Man(_) if roff::so_target(&text).is_some() => Vec::new(),
        _ => documents(f, &text, now_ms()),
    };
    Some(SourceUpdate {
        source: DocSource {
            path: f.path.to_string_lossy().into_owned(),
            mtime_ns: f.mtime_ns,
            size: f.size,
            prefix: f.prefix(),
            chunks: u32::try_from(docs.len()).unwrap_or(u32::MAX),
        },
        docs,
    })
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassStats {
    /// Files found.
    pub files: usize,
    /// Files (re)read.
    pub read: usize,
    /// Files forgotten.
    pub removed: usize,
    /// Documents written.
    pub chunks: usize,
}

/// Runs one pass (see the module doc) on the calling thread.
pub fn pass(
    host: &SearchHost,
    settings: &DocsSettings,
    progress: &DocsProgress,
    wake: &dyn Fn(),
) -> Result<PassStats, SearchError> {
    progress.ingesting.store(true, Ordering::Relaxed);
    let result = pass_inner(host, settings, progress, wake);
    progress.pending.store(0, Ordering::Relaxed);
    progress.ingesting.store(false, Ordering::Relaxed);
    result
}

fn pass_inner(
    host: &SearchHost,
    settings: &DocsSettings,
    progress: &DocsProgress,
    wake: &dyn Fn(),
) -> Result<PassStats, SearchError> {
    host.ensure_collection(DOCS_COLLECTION)?;
    let store = host.store();
    let mut found = sources::scan_man(&settings.man_dirs);
    found.extend(sources::scan_readmes(&settings.doc_dirs));
    let known = store.doc_sources(DOCS_COLLECTION)?;
    let plan = plan(&found, &known);
    progress
        .pending
        .store(plan.changed.len() as u64, Ordering::Relaxed);
    let mut stats = PassStats {
        files: found.len(),
        removed: plan.removed.len(),
        ..PassStats::default()
    };
    for gone in plan.removed.chunks(512) {
        store.sync_doc_sources(DOCS_COLLECTION, gone, &[])?;
        wake();
    }
    for batch in plan.changed.chunks(BATCH_FILES) {
        let updates: Vec<SourceUpdate> = batch
            .iter()
            .filter_map(|&i| read_one(&found[i], settings.doc_max_bytes))
            .collect();
        stats.read += updates.len();
        stats.chunks += updates.iter().map(|u| u.docs.len()).sum::<usize>();
        store.sync_doc_sources(DOCS_COLLECTION, &[], &updates)?;
        progress
            .pending
            .fetch_sub(batch.len() as u64, Ordering::Relaxed);
        wake();
    }
    Ok(stats)
}

/// Asks the scheduler to run the calling thread only when nothing else wants the CPU
/// (nice 19): the documentation is worth having, not worth slowing the machine for.
fn lower_priority() {
    // SAFETY: plain system calls on the calling thread's own id; no memory is shared.
    let r = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, u32::try_from(tid).unwrap_or(0), 19)
    };
    if r != 0 {
        tracing::debug!(
            "cannot lower the documentation thread's priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// CPU seconds the calling thread has used: the pass's cost, whatever else the machine
/// was doing meanwhile (it runs at the lowest priority, so wall time says little).
fn thread_cpu_seconds() -> f64 {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; zeroed is a valid rusage.
    let r = unsafe { libc::getrusage(libc::RUSAGE_THREAD, u.as_mut_ptr()) };
    if r != 0 {
        return 0.0;
    }
    // SAFETY: initialised above (zeroed, then filled by a successful call).
    let u = unsafe { u.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// Starts one pass on a background thread; its progress is returned at once.
pub fn start(
    host: Arc<SearchHost>,
    settings: DocsSettings,
    waker: IndexerWaker,
) -> std::io::Result<Arc<DocsProgress>> {
    let progress = Arc::new(DocsProgress::default());
    progress.ingesting.store(true, Ordering::Relaxed);
    let p = Arc::clone(&progress);
    std::thread::Builder::new()
        .name("docs".into())
        .spawn(move || {
            lower_priority();
            let t = Instant::now();
            tracing::info!(man = ?settings.man_dirs, doc = ?settings.doc_dirs, "indexing the system documentation");
            match pass(&host, &settings, &p, &|| waker.wake()) {
                Ok(s) => {
                    let secs = t.elapsed().as_secs_f64();
                    let cpu = thread_cpu_seconds();
                    tracing::info!(
                        files = s.files,
                        read = s.read,
                        removed = s.removed,
                        chunks = s.chunks,
                        seconds = format!("{secs:.2}"),
                        cpu_seconds = format!("{cpu:.2}"),
                        files_per_cpu_second = format!("{:.0}", s.read as f64 / cpu.max(1e-9)),
                        "system documentation stored; the indexer takes it from here"
                    );
                }
                Err(e) => tracing::error!("indexing the system documentation failed: {e}"),
            }
        })?;
    Ok(progress)
}

#[cfg(test)]
mod tests;
