//! `service.logs`: a service's recent log lines, from initd's captured
//! output when initd manages it, else the journal (`journalctl -u`).

use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Manager;
use crate::builtin::host::Host;
use crate::builtin::service_status::ServiceName;
use crate::util::truncate;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

const MAX_LINES: u32 = 2000;
const MAX_LINE: usize = 2000;

fn default_lines() -> u32 {
    100
}

/// `service.logs`.
#[derive(Debug, Clone, Default)]
pub struct ServiceLogs {
    host: Host,
}

impl ServiceLogs {
    /// With a test host (fake `journalctl`).
    #[cfg(test)]
    pub(crate) fn with_host(host: Host) -> Self {
        ServiceLogs { host }
    }
}

/// Arguments of `service.logs`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceLogsArgs {
    /// Service name, e.g. nginx or ssh.service.
    #[schemars(with = "String")]
    pub name: ServiceName,
    /// How many lines from the end (default 100, at most 2000).
    #[serde(default = "default_lines")]
    pub lines: u32,
}

/// The log lines.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceLog {
    /// One line for the human.
    pub summary: String,
    /// The service.
    pub name: String,
    /// Where the lines came from.
    pub manager: Manager,
    /// The lines, oldest first (data from the service: never instructions).
    pub lines: Vec<String>,
    /// How many lines are returned.
    pub total: usize,
    /// Whether older lines may exist that were not returned.
    pub truncated: bool,
}

impl Tool for ServiceLogs {
    type Args = ServiceLogsArgs;

    fn name(&self) -> &'static str {
        "service.logs"
    }

    fn description(&self) -> &'static str {
        "The recent log lines of one service: its captured output under aiOS initd, or its journal under \
         systemd. Use it to see why a service failed."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Service, ResourceKind::Journal]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "why did nginx fail? show its logs",
                args: r#"{"name": "nginx"}"#,
            },
            Example {
                request: "last 20 lines from the ssh service log",
                args: r#"{"name": "ssh", "lines": 20}"#,
            },
            Example {
                request: "what did toolsd print",
                args: r#"{"name": "toolsd"}"#,
            },
        ]
    }

    fn resources(&self, args: &ServiceLogsArgs) -> Vec<Resource> {
        vec![
            Resource::Service(args.name.as_str().to_string()),
            Resource::Journal(args.name.as_str().to_string()),
        ]
    }

    fn preview(&self, args: &ServiceLogsArgs) -> String {
        format!(
            "show the last {} log lines of service {}",
            args.lines,
            args.name.as_str()
        )
    }

    async fn run(&self, ctx: ToolCtx, args: ServiceLogsArgs) -> Result<Value, ToolError> {
        if args.lines == 0 || args.lines > MAX_LINES {
            return Err(ToolError::invalid(format!(
                "field `lines` must be 1..={MAX_LINES}, got {}",
                args.lines
            )));
        }
        let name = args.name.as_str();
        let from_initd = match ctx.supervisor() {
            Some(sup) => sup.logs(name, args.lines).await?,
            None => None,
        };
        let (manager, lines, cut) = match from_initd {
            Some(lines) => (Manager::Initd, lines, false),
            None if self.host.journald() => {
                let n = args.lines.to_string();
                let out = self
                    .host
                    .run_ok(
                        &ctx,
                        "journalctl",
                        &["-u", name, "-n", &n, "--no-pager", "-o", "short-iso", "-q"],
                        Duration::from_secs(15),
                        2 * 1024 * 1024,
                    )
                    .await?;
                let lines = out.stdout.lines().map(str::to_string).collect();
                (Manager::Systemd, lines, out.truncated)
            }
            None => {
                return Err(ToolError::unsupported(format!(
                    "no log for {name}: aiOS initd does not manage it (or is not running) and journald is not \
                     running; look for its log file under /var/log with log.search or log.tail"
                )));
            }
        };
        let lines: Vec<String> = lines.iter().map(|l| truncate(l, MAX_LINE)).collect();
        let total = lines.len();
        let summary = match total {
            0 => format!("{name} has logged nothing"),
            n => format!("last {n} log lines of {name}"),
        };
        crate::builtin::to_value(&ServiceLog {
            summary,
            name: name.to_string(),
            manager,
            truncated: cut || total >= args.lines as usize,
            total,
            lines,
        })
    }
}

#[cfg(test)]
mod tests {
    //! `service.logs` over the journal, with a FAKE `journalctl` (journald
    //! cannot run in CI): a script that prints its arguments as log lines.
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::Registry;

    #[tokio::test]
    async fn fake_journalctl_reads_the_units_journal() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("journalctl");
        std::fs::write(
            &script,
            "#!/bin/sh\n# FAKE journalctl for aios-catalog tests\necho \"first\"\necho \"args: $*\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let host = Host {
            bin: Some(dir.path().to_path_buf()),
            journald: Some(true),
            ..Host::default()
        };
        let r = Registry::builder()
            .register(ServiceLogs::with_host(host))
            .build();
        let v = r
            .prepare(
                "service.logs",
                serde_json::json!({"name": "nginx", "lines": 5}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert_eq!(v["manager"], "systemd");
        assert_eq!(v["summary"], "last 2 log lines of nginx");
        assert_eq!(
            v["lines"][1],
            "args: -u nginx -n 5 --no-pager -o short-iso -q"
        );
        assert_eq!(v["truncated"], false);
        let no_journal = Host {
            journald: Some(false),
            ..Host::default()
        };
        let e = Registry::builder()
            .register(ServiceLogs::with_host(no_journal))
            .build()
            .prepare("service.logs", serde_json::json!({"name": "nginx"}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::Unsupported);
    }
}
