//! `aios service ...`: the initctl-style front end of the supervisor's
//! control API (`initd.sock`: `/run/aios` on the image, the runtime
//! directory in development mode). The supervisor checks the caller's
//! rights from its peer credentials; this module only asks and prints.

use aios_config::Paths;
use aios_proto::{ApiErrorKind, ServiceState, ServiceVerb, SupervisorClient};

use crate::cli::{Cli, ServiceAction};
use crate::exit::{Exit, Failure};
use crate::printer;

/// Run one `aios service` action.
pub async fn run(cli: &Cli, action: ServiceAction) -> Result<Exit, Failure> {
    let config = aios_config::load(&cli.overrides())?;
    let paths = Paths::resolve(&config);
    let socket = paths.runtime_dir.join("initd.sock");
    let channel = aios_proto::connect(&socket).await.map_err(|e| {
        Failure::daemon(format!(
            "the supervisor is not reachable ({e}); on a development machine start it with `aios daemons start`"
        ))
    })?;
    let mut sup = SupervisorClient::new(channel);
    let mut out = printer::stdout();
    let verb = match &action {
        ServiceAction::List => {
            let list = sup.list().await.map_err(api_failure)?;
            let _ = writeln!(out, "{}", header());
            for s in &list {
                let _ = writeln!(out, "{}", row(s));
            }
            return Ok(Exit::Success);
        }
        ServiceAction::Logs { name, lines } => {
            for line in sup.logs(name, *lines).await.map_err(api_failure)? {
                let _ = writeln!(out, "{line}");
            }
            return Ok(Exit::Success);
        }
        ServiceAction::Status { name } => (name, ServiceVerb::Status),
        ServiceAction::Start { name } => (name, ServiceVerb::Start),
        ServiceAction::Stop { name } => (name, ServiceVerb::Stop),
        ServiceAction::Restart { name } => (name, ServiceVerb::Restart),
        ServiceAction::Enable { name } => (name, ServiceVerb::Enable),
        ServiceAction::Disable { name } => (name, ServiceVerb::Disable),
    };
    let state = sup.act(verb.0, verb.1).await.map_err(api_failure)?;
    let _ = writeln!(out, "{}", header());
    let _ = writeln!(out, "{}", row(&state));
    Ok(match (verb.1, state.state.as_str()) {
        (ServiceVerb::Start | ServiceVerb::Restart, s) if s != "running" => Exit::Failed,
        _ => Exit::Success,
    })
}

fn api_failure(e: aios_proto::ApiError) -> Failure {
    match e.kind {
        ApiErrorKind::PermissionDenied => Failure::new(Exit::Refused, e.message),
        ApiErrorKind::NotFound | ApiErrorKind::InvalidArgument => Failure::usage(e.message),
        ApiErrorKind::Transport | ApiErrorKind::Unavailable => Failure::daemon(e.message),
        _ => Failure::new(Exit::Failed, e.message),
    }
}

fn header() -> String {
    format!(
        "{:<14} {:<9} {:>7} {:>8} {:>8}  {}",
        "SERVICE", "STATE", "PID", "ENABLED", "RESTARTS", "STATUS"
    )
}

/// One line of the service table.
pub fn row(s: &ServiceState) -> String {
    format!(
        "{:<14} {:<9} {:>7} {:>8} {:>8}  {}",
        s.name,
        s.state,
        if s.pid == 0 {
            "-".to_string()
        } else {
            s.pid.to_string()
        },
        if s.enabled { "yes" } else { "no" },
        s.restarts,
        s.status_text
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_line_up_under_the_header() {
        let s = ServiceState {
            name: "aiosd".into(),
            state: "running".into(),
            pid: 42,
            enabled: true,
            restarts: 1,
            status_text: "ready".into(),
            last_exit_code: 0,
            since_unix_ms: 0,
        };
        insta::assert_snapshot!(format!("{}\n{}", header(), row(&s)), @r"
        SERVICE        STATE         PID  ENABLED RESTARTS  STATUS
        aiosd          running        42      yes        1  ready
        ");
    }
}
