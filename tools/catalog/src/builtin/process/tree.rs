//! `process.tree`: the parent/child tree of processes, depth first, from
//! one root pid or from every root, capped in nodes and depth.

use std::collections::HashMap;
use std::path::Path;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Proc, all_stats, cmdline_of, must_exist, uid_of};
use crate::procfs::UserNames;
use crate::util::truncate;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `process.tree`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessTree;

fn default_limit() -> usize {
    200
}

fn default_depth() -> usize {
    16
}

/// Arguments of `process.tree`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessTreeArgs {
    /// Root the tree at this pid; null for the whole table.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Most processes to return (default 200, at most 2000).
    #[serde(default = "default_limit")]
    pub limit: usize,
    /// Deepest level to descend to below the root (default 16, at most 64).
    #[serde(default = "default_depth")]
    pub max_depth: usize,
    /// Include kernel threads (default false).
    #[serde(default)]
    pub kernel_threads: bool,
}

/// One node, in depth-first order.
#[derive(Debug, Clone, Serialize)]
pub struct Node {
    /// Process id.
    pub pid: u32,
    /// Parent pid.
    pub ppid: u32,
    /// Depth below the root (0 for roots).
    pub depth: usize,
    /// Short name.
    pub name: String,
    /// Owner's login name.
    pub user: String,
    /// Command line (truncated).
    pub cmdline: String,
    /// Children in all (some may be past `limit` or `max_depth`).
    pub children: usize,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Tree {
    /// One line for a human.
    pub summary: String,
    /// Nodes, depth first; `depth` gives the indentation.
    pub nodes: Vec<Node>,
    /// Processes in the (sub)tree.
    pub total: usize,
    /// Whether `limit` or `max_depth` cut the tree.
    pub truncated: bool,
    /// The tree as indented text, one process per line.
    pub text: String,
}

fn tree(args: &ProcessTreeArgs) -> Result<Tree, ToolError> {
    if let Some(pid) = args.pid {
        must_exist(pid)?;
    }
    let stats: HashMap<u32, Proc> = all_stats()
        .into_iter()
        .filter(|(_, p)| args.kernel_threads || !p.is_kernel_thread())
        .collect();
    let mut kids: HashMap<u32, Vec<u32>> = HashMap::new();
    for p in stats.values() {
        kids.entry(p.ppid).or_default().push(p.pid);
    }
    for v in kids.values_mut() {
        v.sort_unstable();
    }
    let mut roots: Vec<u32> = match args.pid {
        Some(pid) => vec![pid],
        // A root is a process whose parent is not in the table (pid 1,
        // kthreadd, or a parent outside our pid namespace).
        None => stats
            .values()
            .filter(|p| !stats.contains_key(&p.ppid))
            .map(|p| p.pid)
            .collect(),
    };
    roots.sort_unstable();
    let mut names = UserNames::default();
    let mut nodes = Vec::new();
    let mut total = 0;
    let mut cut = false;
    let mut stack: Vec<(u32, usize)> = roots.into_iter().rev().map(|r| (r, 0)).collect();
    while let Some((pid, depth)) = stack.pop() {
        total += 1;
        let children = kids.get(&pid).map_or(&[][..], Vec::as_slice);
        if depth < args.max_depth {
            stack.extend(children.iter().rev().map(|c| (*c, depth + 1)));
        } else if !children.is_empty() {
            cut = true;
        }
        if nodes.len() >= args.limit {
            cut = true;
            continue;
        }
        let Some(p) = stats.get(&pid) else {
            // The root asked for is a kernel thread hidden by the filter.
            continue;
        };
        let cmd = cmdline_of(pid);
        nodes.push(Node {
            pid,
            ppid: p.ppid,
            depth,
            name: p.comm.clone(),
            user: uid_of(pid).map_or_else(|| "?".into(), |u| names.name(u)),
            cmdline: if cmd.is_empty() {
                format!("[{}]", p.comm)
            } else {
                truncate(&cmd, 120)
            },
            children: children.len(),
        });
    }
    let text = nodes
        .iter()
        .map(|n| format!("{}{} {} ({})", "  ".repeat(n.depth), n.pid, n.name, n.user))
        .collect::<Vec<_>>()
        .join("\n");
    let summary = format!(
        "{total} process(es){}{}",
        args.pid
            .map(|p| format!(" under pid {p}"))
            .unwrap_or_default(),
        if cut {
            format!(", {} shown", nodes.len())
        } else {
            String::new()
        }
    );
    Ok(Tree {
        summary,
        nodes,
        total,
        truncated: cut,
        text,
    })
}

impl Tool for ProcessTree {
    type Args = ProcessTreeArgs;

    fn name(&self) -> &'static str {
        "process.tree"
    }

    fn description(&self) -> &'static str {
        "Show processes as a parent/child tree (depth first, with indentation), for the whole system or rooted \
         at one pid; capped by limit and max_depth. Answers 'what did this process start' and 'what runs under \
         sshd'."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Processes]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "show me the process tree",
                args: r#"{}"#,
            },
            Example {
                request: "what processes did pid 880 start",
                args: r#"{"pid": 880}"#,
            },
            Example {
                request: "process tree including kernel threads, two levels deep",
                args: r#"{"kernel_threads": true, "max_depth": 2}"#,
            },
        ]
    }

    fn canonicalize(
        &self,
        args: &mut ProcessTreeArgs,
        _home: Option<&Path>,
    ) -> Result<(), ToolError> {
        if args.limit == 0 || args.limit > 2000 {
            return Err(ToolError::invalid(format!(
                "process.tree: field `limit` must be 1..=2000, got {}",
                args.limit
            )));
        }
        if args.max_depth > 64 {
            return Err(ToolError::invalid(format!(
                "process.tree: field `max_depth` must be 0..=64, got {}",
                args.max_depth
            )));
        }
        Ok(())
    }

    fn resources(&self, args: &ProcessTreeArgs) -> Vec<Resource> {
        match args.pid {
            Some(p) => vec![Resource::Process(p)],
            None => vec![Resource::Processes],
        }
    }

    fn preview(&self, args: &ProcessTreeArgs) -> String {
        match args.pid {
            Some(p) => format!("show the process tree under pid {p}"),
            None => "show the process tree".into(),
        }
    }

    async fn run(&self, ctx: ToolCtx, args: ProcessTreeArgs) -> Result<Value, ToolError> {
        ctx.blocking(move |_| crate::builtin::to_value(&tree(&args)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::testchild::Sleeper;
    use super::*;
    use crate::Registry;

    async fn call(args: Value) -> Result<Value, ToolError> {
        Registry::builtin()
            .prepare("process.tree", args)?
            .run(ToolCtx::local())
            .await
    }

    #[tokio::test]
    async fn subtree_of_a_child_with_grandchildren() {
        let s = Sleeper::start(3);
        let v = call(serde_json::json!({"pid": s.pid()})).await.unwrap();
        let nodes = v["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 4, "{v}");
        assert_eq!(nodes[0]["pid"], s.pid());
        assert_eq!(nodes[0]["children"], 3);
        assert!(
            nodes[1..]
                .iter()
                .all(|n| n["depth"] == 1 && n["name"] == "sleep")
        );
        assert!(v["text"].as_str().unwrap().contains("\n  "), "{v}");
        let v = call(serde_json::json!({"pid": s.pid(), "max_depth": 0}))
            .await
            .unwrap();
        assert_eq!(v["nodes"].as_array().unwrap().len(), 1);
        assert_eq!(v["truncated"], true);
        let v = call(serde_json::json!({"pid": s.pid(), "limit": 2}))
            .await
            .unwrap();
        assert_eq!(v["total"], 4);
        assert_eq!(v["truncated"], true);
    }

    #[tokio::test]
    async fn whole_tree_contains_us_under_our_parent() {
        let v = call(serde_json::json!({"limit": 2000})).await.unwrap();
        let nodes = v["nodes"].as_array().unwrap();
        let me = nodes
            .iter()
            .position(|n| n["pid"] == std::process::id())
            .unwrap();
        let parent = nodes[me]["ppid"].clone();
        let pi = nodes.iter().position(|n| n["pid"] == parent).unwrap();
        assert!(pi < me, "parents come before children");
        assert_eq!(
            nodes[pi]["depth"].as_u64().unwrap() + 1,
            nodes[me]["depth"].as_u64().unwrap()
        );
        let e = call(serde_json::json!({"limit": 0})).await.unwrap_err();
        assert!(e.message().contains("`limit`"), "{e}");
    }
}
