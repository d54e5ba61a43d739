//! Carrying out the `/` commands that ask a daemon or read the model
//! directory, as text. Both front ends use this; the text is the CLI
//! subcommand's own (the same functions produce it), so `/audit` reads
//! like `aios audit log`.

use aios_config::{Config, Paths};
use aios_proto::AuditQuery;

use super::Request;
use crate::exit::Failure;
use crate::{audit, model, oneshot, policy, tools};

/// The answer to `req`, or `None` for the commands each front end
/// carries out itself (help, clear, theme, undo, quit).
pub async fn text(
    config: &Config,
    paths: &Paths,
    req: &Request,
) -> Option<Result<String, Failure>> {
    Some(match req {
        Request::Model(None) => model::list_for(config),
        Request::Model(Some(name)) => model::info_for(name),
        Request::Policy { tool, args } => {
            policy::check_text(paths, tool.clone(), args, None, false).await
        }
        Request::Grants { revoke } => policy::grants_text(paths, revoke.clone(), false).await,
        Request::Audit { limit } => {
            let query = AuditQuery {
                since_unix_ms: None,
                tool: None,
                user: None,
                session_id: None,
                limit: *limit,
            };
            audit::log_text(paths, query, false).await
        }
        Request::Why(id) => audit::why_text(paths, *id, false).await,
        Request::Tools { describe } => match tools::specs(paths).await {
            Ok(specs) => match describe {
                None => Ok(tools::list_text(&specs)),
                Some(name) => tools::describe_text(&specs, name, false),
            },
            Err(f) => Err(f),
        },
        Request::Sessions => oneshot::sessions_text(paths, false).await.map(|t| {
            if t.is_empty() {
                "no sessions\n".into()
            } else {
                t
            }
        }),
        Request::Help
        | Request::Clear
        | Request::Theme(_)
        | Request::Undo(_)
        | Request::Quit
        | Request::Attach(_)
        | Request::Detach
        | Request::Copy => {
            return None;
        }
    })
}

/// The tool names, for completing `/tools describe` and `/policy`.
pub async fn tool_names(paths: &Paths) -> Vec<String> {
    match tools::specs(paths).await {
        Ok(specs) => specs.into_iter().map(|s| s.name).collect(),
        Err(_) => Vec::new(),
    }
}
