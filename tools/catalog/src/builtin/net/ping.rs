//! `net.ping`: send a few ICMP echo requests with `ping` (iputils) and
//! report loss and round-trip times. Reads nothing local but does touch the
//! network, so it names `network` among its resources.

use std::path::Path;
use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::dns::check_hostname;
use crate::command::run_command;
use crate::util::truncate;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError, ToolErrorKind};

/// `net.ping`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetPing;

fn default_count() -> u32 {
    3
}

fn default_timeout() -> u32 {
    5
}

/// Arguments of `net.ping`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetPingArgs {
    /// Host name or IP address to ping.
    pub host: String,
    /// Echo requests to send (default 3, 1 to 10).
    #[serde(default = "default_count")]
    pub count: u32,
    /// Give up after this many seconds in all (default 5, 1 to 30).
    #[serde(default = "default_timeout")]
    pub timeout_secs: u32,
}

/// The result.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PingResult {
    /// One line for a human.
    pub summary: String,
    /// The host asked.
    pub host: String,
    /// The address pinged, as `ping` resolved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Requests sent.
    pub transmitted: u32,
    /// Replies received.
    pub received: u32,
    /// Percent lost.
    pub loss_percent: f64,
    /// Fastest round trip, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_min_ms: Option<f64>,
    /// Mean round trip, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_avg_ms: Option<f64>,
    /// Slowest round trip, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_max_ms: Option<f64>,
}

/// Parse iputils `ping` output (the `PING` header and the statistics).
pub fn parse_ping(host: &str, text: &str) -> Option<PingResult> {
    let address = text
        .lines()
        .find_map(|l| l.strip_prefix("PING "))
        .and_then(|l| {
            l.split_once('(')?
                .1
                .split_once(')')
                .map(|(a, _)| a.to_string())
        });
    let stats = text.lines().find(|l| l.contains("packets transmitted"))?;
    let mut parts = stats.split(',').map(str::trim);
    let transmitted = parts.next()?.split_whitespace().next()?.parse().ok()?;
    let received = parts.next()?.split_whitespace().next()?.parse().ok()?;
    let loss_percent = stats
        .split(',')
        .find(|p| p.contains("packet loss"))
        .and_then(|p| p.trim().split('%').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(100.0);
    let rtt: Vec<f64> = text
        .lines()
        .find(|l| l.starts_with("rtt ") || l.starts_with("round-trip"))
        .and_then(|l| l.split_once('=').map(|(_, v)| v))
        .map(|v| {
            v.trim()
                .trim_end_matches("ms")
                .split('/')
                .filter_map(|x| x.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    Some(PingResult {
        summary: String::new(),
        host: host.to_string(),
        address,
        transmitted,
        received,
        loss_percent,
        rtt_min_ms: rtt.first().copied(),
        rtt_avg_ms: rtt.get(1).copied(),
        rtt_max_ms: rtt.get(2).copied(),
    })
}

impl Tool for NetPing {
    type Args = NetPingArgs;

    fn name(&self) -> &'static str {
        "net.ping"
    }

    fn description(&self) -> &'static str {
        "Ping a host (ICMP echo, up to 10 requests, with an overall timeout) and report packet loss and \
         round-trip times. Answers 'is host X reachable' and 'is my internet working'. Needs `ping` (iputils)."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Network]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "can you reach 1.1.1.1?",
                args: r#"{"host": "1.1.1.1"}"#,
            },
            Example {
                request: "is my internet working",
                args: r#"{"host": "debian.org", "count": 3}"#,
            },
            Example {
                request: "ping the router 10 times",
                args: r#"{"host": "192.168.1.1", "count": 10, "timeout_secs": 15}"#,
            },
        ]
    }

    fn canonicalize(&self, args: &mut NetPingArgs, _home: Option<&Path>) -> Result<(), ToolError> {
        args.host = args.host.trim().trim_end_matches('.').to_ascii_lowercase();
        check_hostname("host", &args.host)?;
        if !(1..=10).contains(&args.count) {
            return Err(ToolError::invalid(format!(
                "net.ping: field `count` must be 1..=10, got {}",
                args.count
            )));
        }
        if !(1..=30).contains(&args.timeout_secs) {
            return Err(ToolError::invalid(format!(
                "net.ping: field `timeout_secs` must be 1..=30, got {}",
                args.timeout_secs
            )));
        }
        Ok(())
    }

    fn resources(&self, args: &NetPingArgs) -> Vec<Resource> {
        let mut r = vec![Resource::Network];
        if args.host.parse::<std::net::IpAddr>().is_ok() {
            r.push(Resource::Cidr(args.host.clone()));
        }
        r
    }

    fn preview(&self, args: &NetPingArgs) -> String {
        format!("ping {} {} time(s)", args.host, args.count)
    }

    async fn run(&self, ctx: ToolCtx, args: NetPingArgs) -> Result<Value, ToolError> {
        let (count, deadline) = (args.count.to_string(), args.timeout_secs.to_string());
        // -n: no reverse lookups; -i 0.2: the shortest interval iputils
        // allows an ordinary user; -w: an overall deadline.
        let argv = [
            "-n", "-c", &count, "-i", "0.2", "-w", &deadline, "--", &args.host,
        ];
        let out = run_command(
            &ctx,
            "ping",
            &argv,
            Duration::from_secs(u64::from(args.timeout_secs) + 5),
            64 * 1024,
        )
        .await
        .map_err(|e| match e.kind() {
            ToolErrorKind::Unsupported => ToolError::unsupported(
                "ping is not installed (apt-get install iputils-ping); net.dns can still check name resolution",
            ),
            _ => e,
        })?;
        let Some(mut r) = parse_ping(&args.host, &out.stdout) else {
            return Err(ToolError::failed(format!(
                "ping {}: {}",
                args.host,
                truncate(
                    if out.stderr.trim().is_empty() {
                        out.stdout.trim()
                    } else {
                        out.stderr.trim()
                    },
                    500
                )
            )));
        };
        r.summary = match r.rtt_avg_ms {
            Some(avg) if r.received > 0 => format!(
                "{} replied to {}/{} ping(s), {}% loss, average {avg:.1} ms",
                args.host, r.received, r.transmitted, r.loss_percent
            ),
            _ => format!(
                "{} did not reply: {}/{} ping(s) lost",
                args.host, r.transmitted, r.transmitted
            ),
        };
        crate::builtin::to_value(&r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    const OUT: &str = "PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.
64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.031 ms
64 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.045 ms

--- 127.0.0.1 ping statistics ---
2 packets transmitted, 2 received, 0% packet loss, time 1001ms
rtt min/avg/max/mdev = 0.031/0.038/0.045/0.007 ms
";

    #[test]
    fn parses_iputils_statistics() {
        let r = parse_ping("127.0.0.1", OUT).unwrap();
        assert_eq!(r.address.as_deref(), Some("127.0.0.1"));
        assert_eq!((r.transmitted, r.received), (2, 2));
        assert_eq!(r.loss_percent, 0.0);
        assert_eq!(r.rtt_avg_ms, Some(0.038));
        let lost = "PING 192.0.2.1 (192.0.2.1) 56(84) bytes of data.\n\n--- 192.0.2.1 ping statistics ---\n3 packets transmitted, 0 received, 100% packet loss, time 2040ms\n";
        let r = parse_ping("192.0.2.1", lost).unwrap();
        assert_eq!(r.received, 0);
        assert_eq!(r.loss_percent, 100.0);
        assert_eq!(r.rtt_avg_ms, None);
        assert!(parse_ping("x", "ping: x: Name or service not known").is_none());
    }

    #[tokio::test]
    async fn pings_loopback() {
        if which("ping").is_none() {
            eprintln!("skipped: ping (iputils-ping) is not installed");
            return;
        }
        let v = Registry::builtin()
            .prepare(
                "net.ping",
                serde_json::json!({"host": "127.0.0.1", "count": 2}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert_eq!(v["received"], 2, "{v}");
        assert!(
            v["summary"].as_str().unwrap().contains("replied to 2/2"),
            "{v}"
        );
    }

    #[tokio::test]
    async fn arguments_are_bounded_and_checked() {
        let r = Registry::builtin();
        for (args, field) in [
            (serde_json::json!({"host": "-f"}), "`host`"),
            (serde_json::json!({"host": "a;b"}), "`host`"),
            (serde_json::json!({"host": "x", "count": 11}), "`count`"),
            (
                serde_json::json!({"host": "x", "timeout_secs": 0}),
                "`timeout_secs`",
            ),
        ] {
            let e = r.prepare("net.ping", args).unwrap_err();
            assert!(e.message().contains(field), "{e}");
        }
    }

    fn which(p: &str) -> Option<std::path::PathBuf> {
        ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
            .iter()
            .map(|d| Path::new(d).join(p))
            .find(|p| p.exists())
    }
}
