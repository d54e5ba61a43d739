//! `aios policy check TOOL 'ARGS'` and `aios policy grants [--revoke ID]`:
//! the executor's policy as toolsd answers about it (`Tools.Policy`), for
//! the calling user. `check` runs the tool's own assessment (effect,
//! resources, preview) without running the call.

use aios_config::{Daemon, Paths};
use aios_proto::{PolicyQuestion, ToolsClient};
use serde_json::Value;

use crate::cli::{Cli, PolicyAction};
use crate::exit::{Exit, Failure};
use crate::sanitize::to_json;
use crate::{launch, printer};

/// Run `aios policy …`.
pub async fn run(cli: &Cli, action: PolicyAction) -> Result<Exit, Failure> {
    let config = aios_config::load(&cli.overrides())?;
    let paths = Paths::resolve(&config);
    launch::ensure_running(cli, &config, &paths).await?;
    let channel = aios_proto::connect(&paths.socket(Daemon::Toolsd))
        .await
        .map_err(|e| Failure::daemon(format!("toolsd is not reachable: {e}")))?;
    let mut c = ToolsClient::new(channel);
    let mut out = printer::stdout();
    match action {
        PolicyAction::Check { tool, args, json } => {
            let args: Value = serde_json::from_str(&args).map_err(|e| {
                Failure::usage(format!(
                    "the arguments are not valid JSON ({e}); give an object such as '{{\"path\": \"/etc/motd\"}}'"
                ))
            })?;
            if !args.is_object() {
                return Err(Failure::usage(
                    "the arguments must be a JSON object, such as '{\"path\": \"/etc/motd\"}'",
                ));
            }
            let v = c
                .policy(PolicyQuestion::Check { tool, args })
                .await
                .map_err(|e| match e.kind {
                    aios_proto::ApiErrorKind::InvalidArgument => Failure::usage(e.message),
                    _ => Failure::daemon(format!("toolsd could not check the call: {}", e.message)),
                })?;
            if json || cli.json {
                let line = to_json(&v).map_err(|e| Failure::new(Exit::Failed, e.to_string()))?;
                let _ = writeln!(out, "{line}");
                return Ok(Exit::Success);
            }
            let d = &v["decision"];
            let call = &v["call"];
            let _ = writeln!(
                out,
                "{}: {} {}",
                d["verdict"].as_str().unwrap_or("?"),
                call["tool"].as_str().unwrap_or("?"),
                call["args"]
            );
            let _ = writeln!(out, "  effect:  {}", call["effect"].as_str().unwrap_or("?"));
            if let Some(rs) = call["resources"].as_array().filter(|r| !r.is_empty()) {
                let list: Vec<&str> = rs.iter().filter_map(Value::as_str).collect();
                let _ = writeln!(out, "  touches: {}", list.join(", "));
            }
            let _ = writeln!(
                out,
                "  rule:    {} ({})",
                d["rule"].as_str().unwrap_or("?"),
                d["source"].as_str().unwrap_or("?")
            );
            let _ = writeln!(out, "  why:     {}", d["reason"].as_str().unwrap_or(""));
            if let Some(c) = d["confirm"].as_str() {
                let _ = writeln!(out, "  approving needs the name typed: {c}");
            }
            if let Some(p) = call["preview"]["summary"].as_str() {
                let _ = writeln!(out, "  will:    {p}");
            }
            if let Some(m) = v["matched"].as_array().filter(|m| !m.is_empty()) {
                let _ = writeln!(out, "  rules that matched:");
                for r in m {
                    let _ = writeln!(out, "    {r}");
                }
            }
            Ok(Exit::Success)
        }
        PolicyAction::Grants { revoke, json } => {
            let v = match revoke {
                Some(id) => c.policy(PolicyQuestion::Revoke(id)).await,
                None => c.policy(PolicyQuestion::Grants).await,
            }
            .map_err(|e| Failure::daemon(format!("toolsd could not answer: {}", e.message)))?;
            if json || cli.json {
                let line = to_json(&v).map_err(|e| Failure::new(Exit::Failed, e.to_string()))?;
                let _ = writeln!(out, "{line}");
            } else if let Some(gone) = v["revoked"].as_bool() {
                let id = v["id"].as_str().unwrap_or("?");
                if gone {
                    let _ = writeln!(out, "revoked grant {id}");
                } else {
                    return Err(Failure::usage(format!(
                        "no saved grant {id}; `aios policy grants` lists them"
                    )));
                }
            } else {
                match v.as_array() {
                    Some(a) if !a.is_empty() => {
                        for g in a {
                            let _ = writeln!(out, "{g}");
                        }
                    }
                    _ => {
                        let _ = writeln!(out, "no saved grants");
                    }
                }
            }
            Ok(Exit::Success)
        }
    }
}
