//! Running the evaluation and the figures it reports.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Case, Choice, Chooser, Expected, args_match};
use crate::{Intent, Router};

/// A case the router (or the chooser) got wrong, for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Miss {
    /// Line in the evaluation file.
    pub line: usize,
    /// The request.
    pub request: String,
    /// What was expected (`fs.usage`, `no tool`, `refuse`).
    pub expected: String,
    /// What happened (the top candidates, or the gate's verdict, or the choice).
    pub got: String,
}

/// The figures of one run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Candidates asked of the router.
    pub k: usize,
    /// Cases expecting a tool.
    pub tool_cases: usize,
    /// Of those, the expected tool ranked first / in the top 3 / in the top k.
    pub hits_at_1: usize,
    /// See `hits_at_1`.
    pub hits_at_3: usize,
    /// See `hits_at_1`.
    pub hits_at_k: usize,
    /// Tool cases the gate wrongly took away (no tool, or refuse).
    pub gated_wrongly: usize,
    /// Cases expecting no tool, and how many the gate spotted.
    pub no_tool_cases: usize,
    /// See `no_tool_cases`.
    pub no_tool_spotted: usize,
    /// Cases expecting a refusal, and how many the gate refused.
    pub refuse_cases: usize,
    /// See `refuse_cases`.
    pub refused: usize,
    /// Time of each `Router::decide`, in request order.
    pub routing: Vec<Duration>,
    /// The chooser's label, when one ran.
    pub chooser: Option<String>,
    /// Tool cases whose chosen tool was acceptable.
    pub tool_correct: usize,
    /// Tool cases whose tool was acceptable and whose expected args matched.
    pub args_correct: usize,
    /// No-tool and refuse cases the chooser (or the gate before it) handled right.
    pub non_tool_correct: usize,
    /// Tool cases where both rankings agreed on the first tool, and how
    /// many of those it was right.
    pub agreed: usize,
    /// See `agreed`.
    pub agreed_right: usize,
    /// Time of each chooser call.
    pub choosing: Vec<Duration>,
    /// Of those, the calls offered the agreed tool alone.
    pub choosing_agreed: Vec<Duration>,
    /// Tool cases offered the agreed tool alone whose call was right.
    pub agreed_tool_correct: usize,
    /// Retrieval misses at k (and gate mistakes).
    pub routing_misses: Vec<Miss>,
    /// Chooser mistakes.
    pub choice_misses: Vec<Miss>,
}

/// Route every case (and, with a chooser, choose), collecting the figures.
pub fn run(router: &Router, cases: &[Case], k: usize, chooser: Option<&mut dyn Chooser>) -> Report {
    run_with(
        &mut |request, k| router.decide(request, k),
        cases,
        k,
        chooser,
    )
}

/// [`run`] with any routing (the hybrid one, [`Router::decide_with`]): the
/// time of `route` is the routing time reported.
pub fn run_with(
    route: &mut dyn FnMut(&str, usize) -> crate::Routing,
    cases: &[Case],
    k: usize,
    mut chooser: Option<&mut dyn Chooser>,
) -> Report {
    let mut r = Report {
        k,
        chooser: chooser.as_ref().map(|c| c.label()),
        ..Report::default()
    };
    for case in cases {
        let start = Instant::now();
        let routing = route(&case.request, k);
        r.routing.push(start.elapsed());
        let names: Vec<&str> = routing.candidates.iter().map(|c| c.name.as_str()).collect();
        let got = match &routing.intent {
            Intent::Tool => format!(
                "[{}]",
                names.iter().take(3).copied().collect::<Vec<_>>().join(", ")
            ),
            Intent::NoTool { reason } => format!("no tool ({reason})"),
            Intent::Refuse { reason } => format!("refuse ({reason})"),
        };
        let miss = |expected: String, got: String| Miss {
            line: case.line,
            request: case.request.clone(),
            expected,
            got,
        };
        match &case.expected {
            exp @ Expected::Tool { tool, .. } => {
                r.tool_cases += 1;
                if routing.intent != Intent::Tool {
                    r.gated_wrongly += 1;
                }
                let rank = names.iter().position(|n| exp.accepts(n));
                if routing.agreed {
                    r.agreed += 1;
                    r.agreed_right += usize::from(rank == Some(0));
                }
                r.hits_at_1 += usize::from(rank.is_some_and(|p| p < 1));
                r.hits_at_3 += usize::from(rank.is_some_and(|p| p < 3));
                r.hits_at_k += usize::from(rank.is_some());
                if rank.is_none() {
                    r.routing_misses.push(miss(tool.clone(), got.clone()));
                }
            }
            Expected::NoTool => {
                r.no_tool_cases += 1;
                if matches!(routing.intent, Intent::NoTool { .. }) {
                    r.no_tool_spotted += 1;
                } else {
                    r.routing_misses.push(miss("no tool".into(), got.clone()));
                }
            }
            Expected::Refuse => {
                r.refuse_cases += 1;
                if matches!(routing.intent, Intent::Refuse { .. }) {
                    r.refused += 1;
                } else {
                    r.routing_misses.push(miss("refuse".into(), got.clone()));
                }
            }
        }
        let Some(chooser) = chooser.as_deref_mut() else {
            continue;
        };
        // The gate's verdict stands for non-tool intents; the model is
        // asked only when the router offers candidates.
        let choice = match &routing.intent {
            Intent::NoTool { .. } => Choice::NoTool,
            Intent::Refuse { .. } => Choice::Refuse,
            Intent::Tool => {
                let start = Instant::now();
                let c = chooser.choose(&case.request, routing.offered());
                r.choosing.push(start.elapsed());
                if routing.agreed {
                    r.choosing_agreed.push(start.elapsed());
                }
                c
            }
        };
        let right = match (&case.expected, &choice) {
            (exp @ Expected::Tool { args, .. }, Choice::Tool { name, args: got }) => {
                let tool_ok = exp.accepts(name);
                r.tool_correct += usize::from(tool_ok);
                r.agreed_tool_correct += usize::from(tool_ok && routing.agreed);
                let args_ok = tool_ok && args_match(args, got);
                r.args_correct += usize::from(args_ok);
                args_ok
            }
            (Expected::NoTool, Choice::NoTool) | (Expected::Refuse, Choice::Refuse) => {
                r.non_tool_correct += 1;
                true
            }
            _ => false,
        };
        if !right {
            let expected = match &case.expected {
                Expected::Tool { tool, args, .. } => {
                    format!("{tool} {}", Value::Object(args.clone()))
                }
                Expected::NoTool => "no tool".into(),
                Expected::Refuse => "refuse".into(),
            };
            let got = match choice {
                Choice::Tool { name, args } => format!("{name} {args}"),
                Choice::NoTool => "no tool".into(),
                Choice::Refuse => "refuse".into(),
                Choice::Clarify { question } => format!("clarify: {question}"),
            };
            r.choice_misses.push(miss(expected, got));
        }
    }
    r
}

fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

/// The `p`-th percentile (0–100) of `samples`, nearest rank.
fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut s = samples.to_vec();
    s.sort_unstable();
    if s.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

impl Report {
    /// Recall of the expected tool at rank 1.
    pub fn recall_at_1(&self) -> f64 {
        ratio(self.hits_at_1, self.tool_cases)
    }
    /// Recall of the expected tool in the top 3.
    pub fn recall_at_3(&self) -> f64 {
        ratio(self.hits_at_3, self.tool_cases)
    }
    /// Recall of the expected tool in the top k.
    pub fn recall_at_k(&self) -> f64 {
        ratio(self.hits_at_k, self.tool_cases)
    }
    /// Median routing time.
    pub fn routing_p50(&self) -> Duration {
        percentile(&self.routing, 50.0)
    }
    /// 95th-percentile routing time.
    pub fn routing_p95(&self) -> Duration {
        percentile(&self.routing, 95.0)
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> Value {
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let mut v = json!({
            "k": self.k,
            "tool_cases": self.tool_cases,
            "recall_at_1": self.recall_at_1(),
            "recall_at_3": self.recall_at_3(),
            "recall_at_k": self.recall_at_k(),
            "gated_wrongly": self.gated_wrongly,
            "agreed": {"cases": self.agreed, "right": self.agreed_right},
            "no_tool": {"cases": self.no_tool_cases, "spotted": self.no_tool_spotted},
            "refuse": {"cases": self.refuse_cases, "refused": self.refused},
            "routing_us": {"p50": us(self.routing_p50()), "p95": us(self.routing_p95())},
            "routing_misses": self.routing_misses.iter().map(miss_json).collect::<Vec<_>>(),
        });
        if let (Some(label), Some(obj)) = (&self.chooser, v.as_object_mut()) {
            obj.insert(
                "chooser".into(),
                json!({
                    "label": label,
                    "tool_accuracy": ratio(self.tool_correct, self.tool_cases),
                    "argument_accuracy": ratio(self.args_correct, self.tool_cases),
                    "non_tool_accuracy": ratio(self.non_tool_correct, self.no_tool_cases + self.refuse_cases),
                    "choose_ms": {
                        "p50": percentile(&self.choosing, 50.0).as_secs_f64() * 1e3,
                        "p95": percentile(&self.choosing, 95.0).as_secs_f64() * 1e3,
                    },
                    "agreed": {
                        "tool_accuracy": ratio(self.agreed_tool_correct, self.agreed),
                        "choose_ms_p50": percentile(&self.choosing_agreed, 50.0).as_secs_f64() * 1e3,
                    },
                    "misses": self.choice_misses.iter().map(miss_json).collect::<Vec<_>>(),
                }),
            );
        }
        v
    }

    /// The report as text for a terminal.
    pub fn to_text(&self) -> String {
        let pct = |n: usize, d: usize| format!("{:5.1} % ({n}/{d})", 100.0 * ratio(n, d));
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!("router, k = {}", self.k));
        line(format!(
            "  recall@1   {}",
            pct(self.hits_at_1, self.tool_cases)
        ));
        line(format!(
            "  recall@3   {}",
            pct(self.hits_at_3, self.tool_cases)
        ));
        line(format!(
            "  recall@{:<3} {}",
            self.k,
            pct(self.hits_at_k, self.tool_cases)
        ));
        line(format!(
            "  agreed     {} of tool cases, right {}",
            pct(self.agreed, self.tool_cases),
            pct(self.agreed_right, self.agreed)
        ));
        line(format!(
            "  no tool    {}",
            pct(self.no_tool_spotted, self.no_tool_cases)
        ));
        line(format!(
            "  refused    {}",
            pct(self.refused, self.refuse_cases)
        ));
        line(format!(
            "  tool cases gated away wrongly: {}",
            self.gated_wrongly
        ));
        line(format!(
            "  routing    p50 {:.1} µs, p95 {:.1} µs ({} requests)",
            self.routing_p50().as_secs_f64() * 1e6,
            self.routing_p95().as_secs_f64() * 1e6,
            self.routing.len()
        ));
        if let Some(label) = &self.chooser {
            line(format!("chooser: {label}"));
            line(format!(
                "  tool accuracy      {}",
                pct(self.tool_correct, self.tool_cases)
            ));
            line(format!(
                "  argument accuracy  {}",
                pct(self.args_correct, self.tool_cases)
            ));
            line(format!(
                "  no tool / refuse   {}",
                pct(
                    self.non_tool_correct,
                    self.no_tool_cases + self.refuse_cases
                )
            ));
            line(format!(
                "  choose     p50 {:.0} ms, p95 {:.0} ms",
                percentile(&self.choosing, 50.0).as_secs_f64() * 1e3,
                percentile(&self.choosing, 95.0).as_secs_f64() * 1e3
            ));
            if !self.choosing_agreed.is_empty() {
                line(format!(
                    "  agreed     tool accuracy {}, choose p50 {:.0} ms (one tool offered)",
                    pct(self.agreed_tool_correct, self.agreed),
                    percentile(&self.choosing_agreed, 50.0).as_secs_f64() * 1e3
                ));
            }
        }
        if !self.routing_misses.is_empty() {
            line(format!("routing misses ({}):", self.routing_misses.len()));
            for m in &self.routing_misses {
                line(format!(
                    "  l{:<4} {:<50} want {:<18} got {}",
                    m.line, m.request, m.expected, m.got
                ));
            }
        }
        if !self.choice_misses.is_empty() {
            line(format!("choice misses ({}):", self.choice_misses.len()));
            for m in &self.choice_misses {
                line(format!(
                    "  l{:<4} {:<50} want {} got {}",
                    m.line, m.request, m.expected, m.got
                ));
            }
        }
        out
    }
}

fn miss_json(m: &Miss) -> Value {
    json!({"line": m.line, "request": m.request, "expected": m.expected, "got": m.got})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ToolDoc;
    use crate::eval::parse_cases;
    use std::collections::HashSet;

    struct Fixed;
    impl Chooser for Fixed {
        fn label(&self) -> String {
            "first candidate, path /".into()
        }
        fn choose(&mut self, _request: &str, candidates: &[crate::Candidate]) -> Choice {
            match candidates.first() {
                Some(c) => Choice::Tool {
                    name: c.name.clone(),
                    args: json!({"path": "/"}),
                },
                None => Choice::NoTool,
            }
        }
    }

    #[test]
    fn counts_recall_gate_and_choices() {
        let tools = vec![
            ToolDoc {
                name: "fs.usage".into(),
                description: "disk space of a filesystem".into(),
                examples: vec![],
            },
            ToolDoc {
                name: "hw.memory".into(),
                description: "memory and swap".into(),
                examples: vec![],
            },
        ];
        let known: HashSet<&str> = ["fs.usage", "hw.memory"].into_iter().collect();
        let cases = parse_cases(
            r#"{"request": "disk space", "tool": "fs.usage", "args": {"path": "/"}}
{"request": "swap", "tool": "hw.memory", "args": {"x": 1}}
{"request": "zebra", "tool": "hw.memory"}
{"request": "hello", "tool": null}
{"request": "rm -rf /", "refuse": true}"#,
            &known,
        )
        .unwrap();
        let router = Router::new(&tools).unwrap();
        let mut chooser = Fixed;
        let r = run(&router, &cases, 3, Some(&mut chooser));
        assert_eq!((r.tool_cases, r.hits_at_1, r.hits_at_k), (3, 2, 2));
        assert_eq!((r.no_tool_spotted, r.refused), (1, 1));
        assert_eq!(r.routing_misses.len(), 1);
        assert_eq!(r.tool_correct, 2);
        assert_eq!(r.args_correct, 1);
        assert_eq!(r.non_tool_correct, 2);
        assert_eq!(r.routing.len(), 5);
        assert!(r.to_text().contains("recall@1"));
        assert_eq!(r.to_json()["chooser"]["tool_accuracy"], json!(2.0 / 3.0));
    }
}
