//! `aios tools [--json]` and `aios tools describe NAME [--json]`: the tools
//! the running executor offers, as it reports them (`Tools.List`). The text
//! comes from each tool's one definition (`ToolSpec::help`, the same text
//! `docs/TOOLS.md` is generated from); JSON is the specs themselves.

use aios_config::{Daemon, Paths};
use aios_proto::{ToolSpec, ToolsClient};

use crate::cli::{Cli, ToolsAction};
use crate::exit::{Exit, Failure};
use crate::{launch, printer, sanitize};

/// Run `aios tools`.
pub async fn run(cli: &Cli, json: bool, action: Option<ToolsAction>) -> Result<Exit, Failure> {
    let config = aios_config::load(&cli.overrides())?;
    let paths = Paths::resolve(&config);
    launch::ensure_running(cli, &config, &paths).await?;
    let specs = specs(&paths).await?;
    let text = match action {
        None if json || cli.json => format!("{}\n", json_text(&specs_json(&specs))?),
        None => list_text(&specs),
        Some(ToolsAction::Describe {
            name,
            json: one_json,
        }) => describe_text(&specs, &name, one_json || json || cli.json)?,
    };
    let _ = write!(printer::stdout(), "{text}");
    Ok(Exit::Success)
}

/// The tools toolsd offers (`Tools.List`).
pub async fn specs(paths: &Paths) -> Result<Vec<ToolSpec>, Failure> {
    let channel = aios_proto::connect(&paths.socket(Daemon::Toolsd))
        .await
        .map_err(|e| Failure::daemon(format!("toolsd is not reachable: {e}")))?;
    ToolsClient::new(channel)
        .list()
        .await
        .map_err(|e| Failure::daemon(format!("toolsd could not list its tools: {e}")))
}

/// One line per tool: name, effect, summary.
pub fn list_text(specs: &[ToolSpec]) -> String {
    let width = specs.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for s in specs {
        out.push_str(&format!(
            "{:<width$}  {:<18}  {}\n",
            s.name,
            s.effect.describe(),
            s.summary()
        ));
    }
    out
}

/// One tool's help (or its spec as JSON); an unknown name suggests the
/// closest.
pub fn describe_text(specs: &[ToolSpec], name: &str, json: bool) -> Result<String, Failure> {
    let Some(spec) = specs.iter().find(|s| s.name == name) else {
        return Err(Failure::usage(format!(
            "no tool named {name:?}{}; `aios tools` lists them",
            closest(name, specs)
                .map(|n| format!(" (did you mean {n}?)"))
                .unwrap_or_default()
        )));
    };
    if json {
        let v = specs_json(std::slice::from_ref(spec));
        let one = v.get(0).cloned().unwrap_or_default();
        Ok(format!("{}\n", json_text(&one)?))
    } else {
        Ok(spec.help())
    }
}

fn json_text(v: &serde_json::Value) -> Result<String, Failure> {
    sanitize::to_json(v).map_err(|e| Failure::new(Exit::Failed, format!("cannot write JSON: {e}")))
}

/// The specs as JSON: what the model and policy see.
fn specs_json(specs: &[ToolSpec]) -> serde_json::Value {
    serde_json::Value::Array(
        specs
            .iter()
            .map(|s| {
                serde_json::json!({
                    "name": s.name,
                    "description": s.description,
                    "effect": s.effect,
                    "resources": s.resources,
                    "args_schema": s.args_schema,
                })
            })
            .collect(),
    )
}

/// The known name closest to `wanted` by edit distance, when it is close
/// (at most a third of the name differs) or shares its namespace or verb.
fn closest<'a>(wanted: &str, specs: &'a [ToolSpec]) -> Option<&'a str> {
    let (ns, verb) = wanted.split_once('.').unwrap_or((wanted, ""));
    specs
        .iter()
        .map(|s| s.name.as_str())
        .map(|n| (edit_distance(wanted, n), n))
        .filter(|(d, n)| {
            let (n_ns, n_verb) = n.split_once('.').unwrap_or((n, ""));
            *d <= wanted.len().max(3) / 3 || n_ns == ns || (!verb.is_empty() && n_verb == verb)
        })
        .min()
        .map(|(_, n)| n)
}

/// Levenshtein distance over characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: "d".into(),
            args_schema: serde_json::json!({"type": "object"}),
            effect: aios_proto::Risk::Read,
            resources: vec![],
            examples: vec![],
        }
    }

    #[test]
    fn an_unknown_name_suggests_one_from_the_same_namespace_or_verb() {
        let specs = [spec("fs.largest"), spec("fs.read"), spec("log.tail")];
        assert_eq!(closest("fs.reed", &specs), Some("fs.read"));
        assert_eq!(closest("journal.tail", &specs), Some("log.tail"));
        assert_eq!(closest("zz.top", &specs), None);
    }
}
