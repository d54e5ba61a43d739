//! `aios-eval`: the tool-choice evaluation of issue #9, run by
//! `cargo xtask eval tools [--subset N] [--k K] [--json] [--ablate]
//! [--local [--model FILE.gguf] [--cold | --group]]`.
//!
//! Routes every request of `tests/eval/tools.jsonl` over the real
//! catalogue and prints recall@1/@3/@k of the expected tool, how well the
//! gate spots no-tool and refused requests, routing latency p50/p95 and the
//! router's build time. With `--local` the real local model chooses among
//! the candidates ([`local::LocalChooser`], a real `runtimed`), and the
//! report adds tool accuracy, argument accuracy and request → call latency.
//!
//! `--ablate` reruns retrieval with each of the router's aids switched off,
//! to show what each one buys.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aios_router::eval::{Chooser, parse_cases, run, run_with, subset};
use aios_router::{Router, RouterOptions, ToolDoc};
use anyhow::{Context, bail};

mod local;

const BUILD_RUNS: usize = 50;

struct Flags {
    subset: Option<usize>,
    k: usize,
    json: bool,
    ablate: bool,
    file: PathBuf,
    local: bool,
    model: Option<PathBuf>,
    /// Send no catalogue: the prompt lists only the candidates.
    cold: bool,
    /// List the best candidate's whole group, its prompt saved while idle.
    group: bool,
    /// Route by BM25 alone, without the semantic side.
    lexical: bool,
    /// Offer every candidate even when both rankings agree on the first.
    no_agree: bool,
    /// Ask instead of calling below this name confidence.
    clarify_below: f32,
}

fn parse_flags(args: &[String]) -> anyhow::Result<Flags> {
    let mut flags = Flags {
        subset: None,
        k: 6,
        json: false,
        ablate: false,
        file: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("eval/tools.jsonl"),
        local: false,
        model: None,
        cold: false,
        group: false,
        lexical: false,
        no_agree: false,
        clarify_below: aios_router::CLARIFY_BELOW,
    };
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("tools") => {}
        other => bail!(
            "usage: aios-eval tools [--subset N] [--k K] [--json] [--ablate] [--file PATH] [--lexical] [--no-agree] [--clarify-below C] [--local [--model FILE.gguf] [--cold | --group]] (got {other:?})"
        ),
    }
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--subset" => {
                flags.subset = Some(
                    value("--subset")?
                        .parse()
                        .context("--subset: a number of cases")?,
                )
            }
            "--k" => {
                flags.k = value("--k")?
                    .parse()
                    .context("--k: a number of candidates")?
            }
            "--file" => flags.file = PathBuf::from(value("--file")?),
            "--json" => flags.json = true,
            "--ablate" => flags.ablate = true,
            "--local" => flags.local = true,
            "--cold" => flags.cold = true,
            "--group" => flags.group = true,
            "--lexical" => flags.lexical = true,
            "--no-agree" => flags.no_agree = true,
            "--clarify-below" => {
                flags.clarify_below = value("--clarify-below")?
                    .parse()
                    .context("--clarify-below: a confidence, 0 to 1 (above 1: always ask)")?
            }
            "--model" => flags.model = Some(PathBuf::from(value("--model")?)),
            other => bail!("unknown flag {other:?}"),
        }
    }
    if flags.k == 0 {
        bail!("--k must be at least 1");
    }
    if (flags.cold || flags.group) && !flags.local {
        bail!("--cold and --group are about the local model's prompt: give --local too");
    }
    if flags.cold && flags.group {
        bail!("--cold lists the candidates, --group their group: give one");
    }
    if flags.model.is_some() && !flags.local {
        bail!("--model chooses the local model's file: give --local too");
    }
    Ok(flags)
}

/// The end-to-end chooser: with `--local`, the real local model in a real
/// `runtimed` (a cloud model could plug in here the same way); `None`
/// evaluates retrieval alone.
fn chooser(
    flags: &Flags,
    specs: &[aios_proto::ToolSpec],
) -> anyhow::Result<Option<local::LocalChooser>> {
    if !flags.local {
        return Ok(None);
    }
    let tools = specs
        .iter()
        .map(|s| aios_proto::ModelTool {
            name: s.name.clone(),
            description: s.description.clone(),
            schema: s.args_schema.clone(),
            examples: s.examples.clone(),
        })
        .collect();
    let listing = if flags.cold {
        local::Listing::Candidates
    } else if flags.group {
        local::Listing::Group
    } else {
        local::Listing::Catalogue
    };
    let c = local::LocalChooser::start(tools, flags.model.as_deref(), listing)?
        .clarify_below(flags.clarify_below);
    Ok(Some(c))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flags = parse_flags(&args)?;
    let specs = aios_catalog::Registry::builtin().specs();
    let tools: Vec<ToolDoc> = specs.iter().map(ToolDoc::from).collect();
    let names: HashSet<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    let text = std::fs::read_to_string(&flags.file)
        .with_context(|| format!("cannot read {}", flags.file.display()))?;
    let mut cases = parse_cases(&text, &names).with_context(|| flags.file.display().to_string())?;
    if let Some(n) = flags.subset {
        cases = subset(&cases, n);
    }

    let mut builds: Vec<Duration> = (0..BUILD_RUNS)
        .map(|_| {
            let start = Instant::now();
            let r = Router::new(&tools);
            let t = start.elapsed();
            drop(r);
            t
        })
        .collect();
    builds.sort_unstable();
    let build_median = builds[BUILD_RUNS / 2];

    let router = Router::new(&tools)?;
    // As gatewayd routes: BM25 fused with all-MiniLM-L6-v2's ranking.
    let semantic = if flags.lexical {
        None
    } else {
        let m = aios_embed::MiniLm::load_default().context(
            "the router's embedding model is missing: run `cargo xtask model fetch all-minilm-l6-v2`, or give --lexical",
        )?;
        let texts: Vec<String> = aios_router::semantic::texts(&tools)
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        let vectors = m.embed_texts(&texts)?;
        Some((m, aios_router::semantic::Semantic::new(&tools, vectors)?))
    };
    let mut chooser = chooser(&flags, &specs)?;
    // The cast shortens the trait object's lifetime to this borrow's
    // (`&mut` is invariant, so `as_deref_mut` alone would demand 'static).
    let chooser_ref = chooser.as_mut().map(|c| -> &mut dyn Chooser { c });
    let mut route = |request: &str, k: usize| match &semantic {
        None => router.decide(request, k),
        Some((m, s)) => {
            let q = m
                .embed_texts(&[request.to_string()])
                .ok()
                .and_then(|mut v| v.pop());
            let mut routing = router.decide_with(request, q.as_deref().map(|q| (s, q)), k);
            // --no-agree: the model chooses among all k every time.
            routing.agreed &= !flags.no_agree;
            routing
        }
    };
    let report = run_with(&mut route, &cases, flags.k, chooser_ref);

    let ablations = if flags.ablate {
        ablate(&tools, &cases, flags.k)?
    } else {
        Vec::new()
    };

    if flags.json {
        let mut v = report.to_json();
        if let Some(o) = v.as_object_mut() {
            o.insert("tools".into(), tools.len().into());
            if let Some(c) = &chooser {
                o.insert("tokens".into(), c.token_json());
            }
            o.insert("cases".into(), cases.len().into());
            o.insert(
                "build_ms_median".into(),
                (build_median.as_secs_f64() * 1e3).into(),
            );
            if !ablations.is_empty() {
                let rows: Vec<serde_json::Value> = ablations
                    .iter()
                    .map(|(name, r1, r3, rk)| {
                        serde_json::json!({"variant": name, "recall_at_1": r1, "recall_at_3": r3, "recall_at_k": rk})
                    })
                    .collect();
                o.insert("ablations".into(), rows.into());
            }
        }
        println!("{v}");
    } else {
        println!(
            "{} cases over {} tools ({})",
            cases.len(),
            tools.len(),
            flags.file.display()
        );
        println!(
            "router build: median {:.3} ms over {BUILD_RUNS} builds; {}",
            build_median.as_secs_f64() * 1e3,
            if semantic.is_some() {
                "hybrid: BM25 fused with all-MiniLM-L6-v2 (request embedding in the routing time)"
            } else {
                "lexical: BM25 only (--lexical)"
            }
        );
        print!("{}", report.to_text());
        if let Some(c) = &chooser {
            print!("{}", c.token_report());
        }
        if !ablations.is_empty() {
            println!("ablations (recall@1 / @3 / @{}):", flags.k);
            for (name, r1, r3, rk) in &ablations {
                println!(
                    "  {name:<28} {:5.1} {:5.1} {:5.1}",
                    r1 * 100.0,
                    r3 * 100.0,
                    rk * 100.0
                );
            }
        }
    }
    Ok(())
}

/// Recall with each aid of the router switched off in turn.
fn ablate(
    tools: &[ToolDoc],
    cases: &[aios_router::eval::Case],
    k: usize,
) -> anyhow::Result<Vec<(&'static str, f64, f64, f64)>> {
    let d = RouterOptions::default();
    let variants: [(&str, RouterOptions); 7] = [
        ("default", d),
        (
            "no synonyms",
            RouterOptions {
                synonyms: false,
                ..d
            },
        ),
        ("no typo correction", RouterOptions { fuzzy: false, ..d }),
        (
            "no command aliases",
            RouterOptions {
                commands: false,
                ..d
            },
        ),
        (
            "neither",
            RouterOptions {
                synonyms: false,
                fuzzy: false,
                ..d
            },
        ),
        (
            "no examples",
            RouterOptions {
                example_weight: 0.0,
                ..d
            },
        ),
        (
            "equal field weights",
            RouterOptions {
                name_weight: 1.0,
                example_weight: 1.0,
                ..d
            },
        ),
    ];
    let mut out = Vec::new();
    for (name, options) in variants {
        let router = Router::with_options(tools, options)?;
        let r = run(&router, cases, k, None);
        out.push((name, r.recall_at_1(), r.recall_at_3(), r.recall_at_k()));
    }
    Ok(out)
}
