//! `aios doctor`: what is configured, which daemons answer, which
//! providers are reachable. It starts nothing.

use aios_config::{Daemon, Paths};
use aios_proto::ModelClient;

use crate::cli::Cli;
use crate::exit::{Exit, Failure};
use crate::printer;
use crate::probe::ping;

/// Run the checks and print a report; exit 4 when a daemon is down.
pub async fn run(cli: &Cli) -> Result<Exit, Failure> {
    let config = aios_config::load(&cli.overrides())?;
    let paths = Paths::resolve(&config);
    let mut report = String::new();
    let line = |r: &mut String, s: String| {
        r.push_str(&s);
        r.push('\n');
    };
    line(&mut report, "configuration".into());
    line(
        &mut report,
        format!(
            "  provider      {}{}",
            config.model.provider,
            config
                .model
                .model
                .as_deref()
                .map(|m| format!(" (model {m})"))
                .unwrap_or_default()
        ),
    );
    let sources = aios_config::Sources::default();
    for f in [
        Some(sources.system_file),
        sources.user_file,
        cli.config.clone(),
    ]
    .into_iter()
    .flatten()
    {
        let state = if f.exists() { "loaded" } else { "absent" };
        line(
            &mut report,
            format!("  config file   {} ({state})", f.display()),
        );
    }
    line(
        &mut report,
        format!("  runtime dir   {}", paths.runtime_dir.display()),
    );
    line(
        &mut report,
        format!("  state dir     {}", paths.state_dir.display()),
    );
    line(
        &mut report,
        format!("  logs          {}", paths.log_dir().display()),
    );
    line(&mut report, "daemons".into());
    let mut all_up = true;
    for d in Daemon::ALL {
        match ping(&paths.socket(d)).await {
            Ok(p) => line(
                &mut report,
                format!(
                    "  {:<9} up    pid {} v{} uptime {}s (sees you as uid {}{})",
                    d.name(),
                    p.pid,
                    p.version,
                    p.uptime_ms / 1000,
                    p.caller_uid,
                    if p.caller_admin { ", admin" } else { "" }
                ),
            ),
            Err(_) => {
                all_up = false;
                line(
                    &mut report,
                    format!(
                        "  {:<9} down  (no answer on {})",
                        d.name(),
                        paths.socket(d).display()
                    ),
                );
            }
        }
    }
    line(&mut report, "providers".into());
    match aios_proto::connect(&paths.socket(Daemon::Gatewayd)).await {
        Ok(ch) => match ModelClient::new(ch).providers(true).await {
            Ok(list) => {
                for p in list {
                    let state = match (p.configured, p.reachable) {
                        (false, _) => "not configured",
                        (true, true) => "reachable",
                        (true, false) => "unreachable",
                    };
                    line(
                        &mut report,
                        format!(
                            "  {:<10}{} {:<15} {} {}{}",
                            p.name,
                            if p.is_default { "*" } else { " " },
                            state,
                            p.model,
                            p.base_url,
                            if p.detail.is_empty() {
                                String::new()
                            } else {
                                format!(" — {}", p.detail)
                            }
                        ),
                    );
                }
            }
            Err(e) => line(
                &mut report,
                format!("  cannot ask the gateway: {}", e.message),
            ),
        },
        Err(_) => line(
            &mut report,
            "  unknown: gatewayd is down (start the daemons with `aios daemons start`)".into(),
        ),
    }
    let _ = write!(printer::stdout(), "{report}");
    Ok(if all_up {
        Exit::Success
    } else {
        Exit::DaemonUnavailable
    })
}
