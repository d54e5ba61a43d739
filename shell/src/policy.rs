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
    let text = match action {
        PolicyAction::Check {
            tool,
            args,
            kind,
            json,
        } => check_text(&paths, tool, &args, kind.map(Into::into), json || cli.json).await?,
        PolicyAction::Grants { revoke, json } => {
            grants_text(&paths, revoke, json || cli.json).await?
        }
    };
    let _ = write!(printer::stdout(), "{text}");
    Ok(Exit::Success)
}

async fn client(paths: &Paths) -> Result<ToolsClient, Failure> {
    let channel = aios_proto::connect(&paths.socket(Daemon::Toolsd))
        .await
        .map_err(|e| Failure::daemon(format!("toolsd is not reachable: {e}")))?;
    Ok(ToolsClient::new(channel))
}

/// How the call `tool` with `args` (a JSON object's text) would be
/// decided: verdict, rule, reason and preview (or the answer as JSON).
pub async fn check_text(
    paths: &Paths,
    tool: String,
    args: &str,
    session_kind: Option<aios_proto::SessionKind>,
    json: bool,
) -> Result<String, Failure> {
    let args: Value = serde_json::from_str(args).map_err(|e| {
        Failure::usage(format!(
            "the arguments are not valid JSON ({e}); give an object such as '{{\"path\": \"/etc/motd\"}}'"
        ))
    })?;
    if !args.is_object() {
        return Err(Failure::usage(
            "the arguments must be a JSON object, such as '{\"path\": \"/etc/motd\"}'",
        ));
    }
    let v = client(paths)
        .await?
        .policy(PolicyQuestion::Check {
            tool,
            args,
            session_kind,
        })
        .await
        .map_err(|e| match e.kind {
            aios_proto::ApiErrorKind::InvalidArgument => Failure::usage(e.message),
            _ => Failure::daemon(format!("toolsd could not check the call: {}", e.message)),
        })?;
    if json {
        let line = to_json(&v).map_err(|e| Failure::new(Exit::Failed, e.to_string()))?;
        return Ok(format!("{line}\n"));
    }
    let mut out = String::new();
    let mut line = |l: String| {
        out.push_str(&l);
        out.push('\n');
    };
    let d = &v["decision"];
    let call = &v["call"];
    line(format!(
        "{}: {} {}",
        d["verdict"].as_str().unwrap_or("?"),
        call["tool"].as_str().unwrap_or("?"),
        call["args"]
    ));
    line(format!(
        "  effect:  {}",
        call["effect"].as_str().unwrap_or("?")
    ));
    line(format!(
        "  session: {}",
        v["session_kind"].as_str().unwrap_or("interactive")
    ));
    if let Some(rs) = call["resources"].as_array().filter(|r| !r.is_empty()) {
        let list: Vec<&str> = rs.iter().filter_map(Value::as_str).collect();
        line(format!("  touches: {}", list.join(", ")));
    }
    line(format!(
        "  rule:    {} ({})",
        d["rule"].as_str().unwrap_or("?"),
        d["source"].as_str().unwrap_or("?")
    ));
    line(format!("  why:     {}", d["reason"].as_str().unwrap_or("")));
    if let Some(c) = d["confirm"].as_str() {
        line(format!("  approving needs the name typed: {c}"));
    }
    if let Some(p) = call["preview"]["summary"].as_str() {
        line(format!("  will:    {p}"));
    }
    if let Some(m) = v["matched"].as_array().filter(|m| !m.is_empty()) {
        line("  rules that matched:".to_string());
        for r in m {
            line(format!("    {r}"));
        }
    }
    Ok(out)
}

/// The saved grants, or the outcome of revoking one (or the answer as
/// JSON). Revoking a grant that does not exist is a usage error.
pub async fn grants_text(
    paths: &Paths,
    revoke: Option<String>,
    json: bool,
) -> Result<String, Failure> {
    let mut c = client(paths).await?;
    let v = match revoke {
        Some(id) => c.policy(PolicyQuestion::Revoke(id)).await,
        None => c.policy(PolicyQuestion::Grants).await,
    }
    .map_err(|e| Failure::daemon(format!("toolsd could not answer: {}", e.message)))?;
    if json {
        let line = to_json(&v).map_err(|e| Failure::new(Exit::Failed, e.to_string()))?;
        return Ok(format!("{line}\n"));
    }
    if let Some(gone) = v["revoked"].as_bool() {
        let id = v["id"].as_str().unwrap_or("?");
        return if gone {
            Ok(format!("revoked grant {id}\n"))
        } else {
            Err(Failure::usage(format!(
                "no saved grant {id}; `aios policy grants` lists them"
            )))
        };
    }
    Ok(match v.as_array() {
        Some(a) if !a.is_empty() => a.iter().map(|g| format!("{g}\n")).collect(),
        _ => "no saved grants\n".to_string(),
    })
}
