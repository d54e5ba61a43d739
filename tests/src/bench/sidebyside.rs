//! `aios-bench chroma`: aios-search and ChromaDB side by side on the same data, in one run
//! (issue #11, Benchmarks).
//!
//! For each size (10k and 100k documents) one synthetic corpus is written once to a
//! directory: texts of 12 words, each word `w` plus 4 digits (so a word is never a substring
//! of another word and ChromaDB's substring `$contains` and our word `$contains` select the
//! same documents), a `kind` out of 10, a `unix_ms`, and a unit 384-dim vector from
//! [`aios_search::synthetic`]: `latent` (`A·z + noise`, intrinsic dimension 24, shaped like
//! real embeddings; the default) or `random` (uniform directions, the worst case for any
//! graph), chosen by `AIOS_BENCH_CHROMA_VECTORS=latent,random`. Queries are fresh draws
//! from the same source (another text, not a copy of a stored one). Both
//! engines then run in their own process (so resident memory is theirs alone): ours is
//! `aios-bench chroma-ours DIR` (this binary, `SearchIndex` in-process, the same way
//! ChromaDB's `PersistentClient` runs in the Python process), theirs is
//! `tests/bench/chroma_side.py DIR` in a venv under `~/.cache/aios-bench-venv` (created
//! here with `pip install chromadb==1.5.9`; skipped with a message when pip cannot reach
//! its index). Both read the same files and answer the same queries with the same filters,
//! and report JSON: ingest docs/s (vectors given, batches of 1,000), query p50/p99 for
//! vector queries unfiltered, `where kind=`, kind plus a time range, `where_document
//! $contains`, recall@10 of the unfiltered queries against an exact scan, disk size and
//! resident memory. nDCG@10 on the evaluation set comes from [`crate::memory_eval`]'s
//! export, scored by both.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aios_search::synthetic::{VectorGen, VectorSource};
use aios_search::{Document, Filter, SearchIndex, SearchRequest, Where, WhereDocument};
use anyhow::Context as _;

use crate::memory::Rng;
use serde_json::{Value, json};

const DIM: usize = 384;
const BATCH: usize = 1000;
const QUERIES: usize = 200;
const KINDS: usize = 10;
const VOCABULARY: u64 = 5_000;
const MODEL: &str = "bench-synthetic-384";
const T0: i64 = 1_700_000_000_000;
/// The venv's Python, the bench's own (never CI's).
const VENV: &str = ".cache/aios-bench-venv";
const CHROMA: &str = "chromadb==1.5.9";

/// A word of the corpus: `w` and 4 digits, so Chroma's substring `$contains` and our
/// word match select the same documents.
fn word(rng: &mut Rng) -> String {
    format!("w{:04}", rng.next() % VOCABULARY)
}

/// The vector sources of `AIOS_BENCH_CHROMA_VECTORS` (comma-separated `latent`, `random`;
/// default `latent`).
pub fn sources_from_env() -> anyhow::Result<Vec<VectorSource>> {
    match std::env::var("AIOS_BENCH_CHROMA_VECTORS") {
        Ok(v) => v
            .split(',')
            .filter(|x| !x.trim().is_empty())
            .map(|x| {
                VectorSource::parse(x).ok_or_else(|| {
                    anyhow::anyhow!("AIOS_BENCH_CHROMA_VECTORS: {x:?} is not latent or random")
                })
            })
            .collect(),
        Err(_) => Ok(vec![VectorSource::Latent]),
    }
}

fn write_f32(path: &Path, rows: &[Vec<f32>]) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in rows {
        for x in r {
            out.write_all(&x.to_le_bytes())?;
        }
    }
    out.flush()?;
    Ok(())
}

fn read_f32(path: &Path) -> anyhow::Result<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    anyhow::ensure!(bytes.len() % (DIM * 4) == 0, "{} is torn", path.display());
    Ok(bytes
        .chunks_exact(DIM * 4)
        .map(|row| {
            row.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect())
}

/// Writes the corpus of `n` documents with `source` vectors and the queries into `dir`:
/// `docs.jsonl` (id, text, kind, unix_ms), `vectors.f32`, `queries.jsonl` (kind, time range,
/// word, exact top-10 ids of the unfiltered vector query), `qvectors.f32`.
pub fn write_corpus(dir: &Path, n: usize, source: VectorSource) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
    let mut vgen = VectorGen::new(source, DIM, 0x2545_f491_4f6c_dd1d ^ n as u64);
    let mut docs = std::io::BufWriter::new(std::fs::File::create(dir.join("docs.jsonl"))?);
    let mut vectors = Vec::with_capacity(n);
    for i in 0..n {
        let text: Vec<String> = (0..12).map(|_| word(&mut rng)).collect();
        let line = json!({"id": format!("d{i}"), "text": text.join(" "),
            "kind": format!("k{}", i % KINDS), "unix_ms": T0 + (i as i64) * 1000});
        writeln!(docs, "{line}")?;
        vectors.push(vgen.vector());
    }
    docs.flush()?;
    write_f32(&dir.join("vectors.f32"), &vectors)?;
    let mut qs = std::io::BufWriter::new(std::fs::File::create(dir.join("queries.jsonl"))?);
    let mut qv = Vec::with_capacity(QUERIES);
    let span = (n as i64) * 1000;
    for i in 0..QUERIES {
        let v = vgen.vector();
        // Exact top-10 by cosine (unit vectors: the dot product), ties by index.
        let mut scored: Vec<(f32, usize)> = vectors
            .iter()
            .enumerate()
            .map(|(j, d)| (aios_search::bench_dot(&v, d), j))
            .collect();
        let cut = 10.min(scored.len());
        scored.select_nth_unstable_by(cut.saturating_sub(1), |a, b| b.0.total_cmp(&a.0));
        let mut top: Vec<(f32, usize)> = scored[..cut].to_vec();
        top.sort_by(|a, b| b.0.total_cmp(&a.0));
        // A time range of a fifth of the corpus's span.
        let lo = T0 + (rng.next() % (span as u64 * 4 / 5)) as i64;
        let line = json!({
            "kind": format!("k{}", i % KINDS),
            "since": lo, "until": lo + span / 5,
            "word": word(&mut rng),
            "truth": top.iter().map(|(_, j)| format!("d{j}")).collect::<Vec<_>>(),
        });
        writeln!(qs, "{line}")?;
        qv.push(v);
    }
    qs.flush()?;
    write_f32(&dir.join("qvectors.f32"), &qv)?;
    Ok(())
}

fn dir_size(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return std::fs::metadata(p).map_or(0, |m| m.len());
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

fn proc_status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn ms_pct(sorted: &[Duration], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) * p) / 100].as_secs_f64() * 1e3
}

/// `NAME=a,b,c` as numbers (empty when unset).
fn env_list(name: &str) -> anyhow::Result<Vec<usize>> {
    match std::env::var(name) {
        Ok(v) => v
            .split(',')
            .filter(|x| !x.trim().is_empty())
            .map(|x| {
                x.trim()
                    .parse()
                    .map_err(|e| anyhow::anyhow!("{name}={v:?}: {e}"))
            })
            .collect(),
        Err(_) => Ok(Vec::new()),
    }
}

/// `AIOS_BENCH_ANN=M,efConstruction,efSearch`: other HNSW parameters for our side.
fn ann_params_from_env(
    defaults: aios_search::AnnParams,
) -> anyhow::Result<Option<aios_search::AnnParams>> {
    match env_list("AIOS_BENCH_ANN")?.as_slice() {
        [] => Ok(None),
        [m, efc, ef] => Ok(Some(aios_search::AnnParams {
            max_connections: *m,
            ef_construction: *efc,
            ef_search: *ef,
        })),
        other => anyhow::bail!(
            "AIOS_BENCH_ANN takes M,efConstruction,efSearch (the defaults are {defaults:?}), got {other:?}"
        ),
    }
}

/// Unfiltered vector queries through `index`: p50, p99 and recall@10 against `truths`.
fn unfiltered(
    index: &SearchIndex,
    qvectors: &[Vec<f32>],
    truths: &[Vec<String>],
) -> anyhow::Result<Value> {
    let mut times = Vec::with_capacity(qvectors.len());
    let mut recall = 0.0;
    for (v, truth) in qvectors.iter().zip(truths) {
        let req = SearchRequest {
            text: None,
            vector: Some(v.clone()),
            k: 10,
            filter: Filter::default(),
            semantic_ratio: 1.0,
        };
        let t = Instant::now();
        let hits = index.search(&req)?;
        times.push(t.elapsed());
        let found = hits.iter().filter(|h| truth.contains(&h.key)).count();
        recall += found as f64 / truth.len().max(1) as f64;
    }
    times.sort_unstable();
    Ok(
        json!({"p50_ms": ms_pct(&times, 50), "p99_ms": ms_pct(&times, 99),
        "recall10": recall / qvectors.len().max(1) as f64}),
    )
}

/// Our side, in this process: ingest, build the graph, the four query kinds (and hybrid with
/// the `kind` filter, which ChromaDB has no counterpart for); prints one JSON object.
pub fn ours(dir: &Path) -> anyhow::Result<Value> {
    let lines: Vec<Value> = BufReader::new(std::fs::File::open(dir.join("docs.jsonl"))?)
        .lines()
        .map(|l| Ok(serde_json::from_str(&l?)?))
        .collect::<anyhow::Result<_>>()?;
    let vectors = read_f32(&dir.join("vectors.f32"))?;
    let queries: Vec<Value> = BufReader::new(std::fs::File::open(dir.join("queries.jsonl"))?)
        .lines()
        .map(|l| Ok(serde_json::from_str(&l?)?))
        .collect::<anyhow::Result<_>>()?;
    let qvectors = read_f32(&dir.join("qvectors.f32"))?;
    let index_dir = dir.join("ours");
    let _ = std::fs::remove_dir_all(&index_dir);
    let mut index = SearchIndex::create(&index_dir, MODEL, DIM)?;
    let s = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let started = Instant::now();
    for (b, chunk) in lines.chunks(BATCH).enumerate() {
        let docs: Vec<Document> = chunk
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let n = b * BATCH + i;
                let unix_ms = d.get("unix_ms").and_then(Value::as_i64).unwrap_or_default();
                let mut metadata = serde_json::Map::new();
                metadata.insert("kind".into(), json!(s(d, "kind")));
                metadata.insert("unix_ms".into(), json!(unix_ms));
                Document {
                    id: n as u64 + 1,
                    key: s(d, "id"),
                    text: s(d, "text"),
                    kind: s(d, "kind"),
                    host: String::new(),
                    user: String::new(),
                    session: String::new(),
                    unix_ms,
                    tags: Vec::new(),
                    metadata,
                    vector: vectors.get(n).cloned(),
                }
            })
            .collect();
        index.upsert(&docs)?;
    }
    let ingest = started.elapsed();
    let truth_of = |q: &Value| -> Vec<String> {
        q.get("truth")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let truths: Vec<Vec<String>> = queries.iter().map(truth_of).collect();
    let mut out = serde_json::Map::new();
    // Before the graph exists every query scans exactly: the cost the graph must beat.
    out.insert(
        "unfiltered_exact".into(),
        unfiltered(&index, &qvectors, &truths)?,
    );
    if let Some(p) = ann_params_from_env(index.ann_params())? {
        index.set_ann_params(p);
    }
    let t = Instant::now();
    let graph = index.prepare_vectors();
    let graph_build = t.elapsed();
    out.insert("ann".into(), json!(format!("{:?}", index.ann_params())));
    // AIOS_BENCH_EF=32,64,128: the unfiltered queries again at each efSearch.
    let mut sweep = Vec::new();
    for ef in env_list("AIOS_BENCH_EF")? {
        let base = index.ann_params();
        index.set_ann_params(aios_search::AnnParams {
            ef_search: ef,
            ..base
        });
        let mut row = unfiltered(&index, &qvectors, &truths)?;
        if let Value::Object(m) = &mut row {
            m.insert("ef_search".into(), json!(ef));
        }
        sweep.push(row);
        index.set_ann_params(base);
    }
    out.insert("ef_sweep".into(), Value::Array(sweep));

    let kind_where = |q: &Value| Where::parse(&json!({"kind": s(q, "kind")}));
    let range_where = |q: &Value| {
        Where::parse(&json!({"$and": [
            {"kind": s(q, "kind")},
            {"unix_ms": {"$gte": q.get("since").cloned().unwrap_or_default()}},
            {"unix_ms": {"$lt": q.get("until").cloned().unwrap_or_default()}},
        ]}))
    };
    let cases: [(&str, bool); 5] = [
        ("unfiltered", false),
        ("kind", false),
        ("kind_time", false),
        ("contains", false),
        ("hybrid_kind", true),
    ];
    let mut recall = 0.0;
    for (case, hybrid) in cases {
        let mut times = Vec::with_capacity(queries.len());
        for (q, v) in queries.iter().zip(&qvectors) {
            let mut filter = Filter::default();
            match case {
                "kind" | "hybrid_kind" => filter.where_ = Some(kind_where(q)?),
                "kind_time" => filter.where_ = Some(range_where(q)?),
                "contains" => filter.where_document = Some(WhereDocument::Contains(s(q, "word"))),
                _ => {}
            }
            let req = SearchRequest {
                text: hybrid.then(|| s(q, "word")),
                vector: Some(v.clone()),
                k: 10,
                filter,
                semantic_ratio: aios_search::DEFAULT_SEMANTIC_RATIO,
            };
            let t = Instant::now();
            let hits = index.search(&req)?;
            times.push(t.elapsed());
            if case == "unfiltered" {
                let truth: Vec<&str> = q
                    .get("truth")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let found = hits
                    .iter()
                    .filter(|h| truth.contains(&h.key.as_str()))
                    .count();
                recall += found as f64 / truth.len().max(1) as f64;
            }
        }
        times.sort_unstable();
        out.insert(
            case.into(),
            json!({"p50_ms": ms_pct(&times, 50), "p99_ms": ms_pct(&times, 99)}),
        );
    }
    out.insert(
        "recall10".into(),
        json!(recall / queries.len().max(1) as f64),
    );
    out.insert("n".into(), json!(lines.len()));
    out.insert(
        "ingest_docs_s".into(),
        json!(lines.len() as f64 / ingest.as_secs_f64()),
    );
    out.insert("graph".into(), json!(graph));
    out.insert("graph_build_s".into(), json!(graph_build.as_secs_f64()));
    out.insert("disk_bytes".into(), json!(dir_size(&index_dir)));
    out.insert("rss_kib".into(), json!(proc_status_kib("VmRSS:")));
    out.insert("hwm_kib".into(), json!(proc_status_kib("VmHWM:")));
    drop(index);
    let _ = std::fs::remove_dir_all(&index_dir);
    Ok(Value::Object(out))
}

/// The venv's Python with chromadb importable, creating the venv on first use; `Err` with
/// the reason when it cannot be had (the caller prints it and skips ChromaDB).
fn venv_python() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let venv = Path::new(&home).join(VENV);
    let py = venv.join("bin/python");
    let importable = |py: &Path| {
        Command::new(py)
            .args(["-c", "import chromadb, psutil, numpy"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if importable(&py) {
        return Ok(py);
    }
    eprintln!(
        "aios-bench: creating {} with {CHROMA} (once)",
        venv.display()
    );
    let st = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .context("cannot run python3 -m venv")?;
    anyhow::ensure!(st.success(), "python3 -m venv {} failed", venv.display());
    let st = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", CHROMA, "psutil", "numpy"])
        .status()
        .context("cannot run pip")?;
    anyhow::ensure!(
        st.success() && importable(&py),
        "pip install {CHROMA} failed (is the package index reachable?)"
    );
    Ok(py)
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/chroma_side.py")
}

fn run_json(mut c: Command) -> anyhow::Result<Value> {
    let shown = format!("{c:?}");
    let out = c.output().with_context(|| format!("cannot run {shown}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{shown} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("{shown} printed no JSON: {text}"))
}

/// Runs both sides at each size and the evaluation set's nDCG@10; returns the table's lines.
/// `eval_export` is the evaluation set with MiniLM vectors ([`crate::memory_eval::export`]),
/// `ours_ndcg` our hybrid, BM25 and vector figures on it.
pub fn run(
    sizes: &[usize],
    sources: &[VectorSource],
    eval_export: Option<(&Path, [f64; 3])>,
) -> anyhow::Result<Vec<String>> {
    let python = match venv_python() {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("aios-bench: ChromaDB side skipped: {e:#}");
            None
        }
    };
    let exe = std::env::current_exe()?;
    let work = tempfile::tempdir()?;
    let mut rows = vec![
        "| n, vectors | measure | aios-search | ChromaDB 1.5.9 | ratio (Chroma / ours) |"
            .to_owned(),
        "|---|---|---|---|---|".to_owned(),
    ];
    let ratio = |ours: f64, theirs: Option<f64>, higher_better: bool| match theirs {
        Some(t) if ours > 0.0 && t > 0.0 => {
            if higher_better {
                format!("{:.1}x ours", ours / t)
            } else {
                format!("{:.1}x", t / ours)
            }
        }
        _ => "-".to_owned(),
    };
    let cases: Vec<(usize, VectorSource)> = sizes
        .iter()
        .flat_map(|&n| sources.iter().map(move |&s| (n, s)))
        .collect();
    for (n, source) in cases {
        let src = source.name();
        let dir = work.path().join(format!("n{n}-{src}"));
        eprintln!("aios-bench: writing the {n}-document corpus ({src} vectors)");
        write_corpus(&dir, n, source)?;
        eprintln!("aios-bench: our side at {n} ({src})");
        let mut c = Command::new(&exe);
        c.arg("chroma-ours").arg(&dir);
        let ours = run_json(c)?;
        let theirs = match &python {
            Some(py) => {
                // Our side's index is gone by now (`ours` removes it), so the disks hold one
                // engine's files at a time.
                eprintln!("aios-bench: ChromaDB side at {n} ({src})");
                let mut c = Command::new(py);
                c.arg(script()).arg("corpus").arg(&dir);
                Some(run_json(c)?)
            }
            None => None,
        };
        let get = |v: &Value, path: &[&str]| -> Option<f64> {
            let mut cur = v;
            for p in path {
                cur = cur.get(*p)?;
            }
            cur.as_f64()
        };
        let o = |path: &[&str]| get(&ours, path).unwrap_or(0.0);
        let t = |path: &[&str]| theirs.as_ref().and_then(|v| get(v, path));
        let show = |x: Option<f64>, f: &dyn Fn(f64) -> String| x.map_or("-".into(), f);
        let ms = |x: f64| format!("{x:.2} ms");
        let mut push = |what: String, ours: String, theirs: String, r: String| {
            rows.push(format!("| {n} {src} | {what} | {ours} | {theirs} | {r} |"));
        };
        push(
            "ingest, vectors given, batches of 1,000 (docs/s)".into(),
            format!("{:.0}", o(&["ingest_docs_s"])),
            show(t(&["ingest_docs_s"]), &|x| format!("{x:.0}")),
            ratio(o(&["ingest_docs_s"]), t(&["ingest_docs_s"]), true),
        );
        // ChromaDB's ingest includes its graph; ours builds it afterwards, off the request
        // path, so both rates are shown.
        let with_graph = match o(&["ingest_docs_s"]) {
            r if r > 0.0 => n as f64 / (n as f64 / r + o(&["graph_build_s"])),
            _ => 0.0,
        };
        push(
            "ingest and then the HNSW graph build (docs/s)".into(),
            format!("{with_graph:.0}"),
            show(t(&["ingest_docs_s"]), &|x| format!("{x:.0}")),
            ratio(with_graph, t(&["ingest_docs_s"]), true),
        );
        push(
            "HNSW graph build after ingest (ours: off the request path)".into(),
            if ours.get("graph").and_then(Value::as_bool) == Some(true) {
                format!("{:.1} s", o(&["graph_build_s"]))
            } else {
                "none (exact scan)".into()
            },
            "(in ingest)".into(),
            "-".into(),
        );
        for (case, label) in [
            (
                "unfiltered_exact",
                "vector query, unfiltered, exact scan (ours before the graph)",
            ),
            ("unfiltered", "vector query, unfiltered, k=10"),
            ("kind", "vector query, `where kind=`"),
            ("kind_time", "vector query, kind + time range"),
            (
                "contains",
                "vector query, `where_document $contains` (whole word = substring here)",
            ),
        ] {
            for p in ["p50_ms", "p99_ms"] {
                push(
                    format!("{label} {}", &p[..3]),
                    ms(o(&[case, p])),
                    show(t(&[case, p]), &ms),
                    ratio(o(&[case, p]), t(&[case, p]), false),
                );
            }
        }
        push(
            "hybrid (word + vector), `where kind=` p50 / p99 (Chroma: none)".into(),
            format!(
                "{} / {}",
                ms(o(&["hybrid_kind", "p50_ms"])),
                ms(o(&["hybrid_kind", "p99_ms"]))
            ),
            "-".into(),
            "-".into(),
        );
        for row in ours
            .get("ef_sweep")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let f = |k: &str| row.get(k).and_then(Value::as_f64).unwrap_or(0.0);
            push(
                format!(
                    "vector query, unfiltered, efSearch {} p50 / p99, recall@10",
                    f("ef_search")
                ),
                format!(
                    "{} / {}, {:.3}",
                    ms(f("p50_ms")),
                    ms(f("p99_ms")),
                    f("recall10")
                ),
                "-".into(),
                "-".into(),
            );
        }
        push(
            "recall@10 of unfiltered vector queries vs exact".into(),
            format!("{:.3}", o(&["recall10"])),
            show(t(&["recall10"]), &|x| format!("{x:.3}")),
            "-".into(),
        );
        push(
            "disk (MB)".into(),
            format!("{:.1}", o(&["disk_bytes"]) / 1e6),
            show(t(&["disk_bytes"]), &|x| format!("{:.1}", x / 1e6)),
            ratio(o(&["disk_bytes"]), t(&["disk_bytes"]), false),
        );
        push(
            "resident memory at the end / peak (MiB; process incl. the corpus it read)".into(),
            format!(
                "{:.0} / {:.0}",
                o(&["rss_kib"]) / 1024.0,
                o(&["hwm_kib"]) / 1024.0
            ),
            match (t(&["rss_kib"]), t(&["hwm_kib"])) {
                (Some(a), Some(b)) => format!("{:.0} / {:.0}", a / 1024.0, b / 1024.0),
                _ => "-".into(),
            },
            ratio(o(&["rss_kib"]), t(&["rss_kib"]), false),
        );
    }
    if let Some((export, [bm25, vector, hybrid])) = eval_export {
        let theirs = match &python {
            Some(py) => {
                let mut c = Command::new(py);
                c.arg(script()).arg("eval").arg(export);
                run_json(c)?.get("ndcg10").and_then(Value::as_f64)
            }
            None => None,
        };
        let f = |x: f64| format!("{x:.3}");
        rows.push(format!(
            "| eval set | nDCG@10 (ours hybrid; BM25 only {}, vectors only {}) | {} | {} (vector query) | {} |",
            f(bm25),
            f(vector),
            f(hybrid),
            theirs.map_or("-".into(), f),
            ratio(hybrid, theirs, true)
        ));
    }
    Ok(rows)
}
