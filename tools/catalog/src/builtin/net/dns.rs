//! `net.dns`: the resolver configuration (`/etc/resolv.conf`, and the
//! upstream servers of systemd-resolved when it runs), plus an optional
//! lookup of one name through the system resolver, with a timeout.

use std::path::Path;
use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `net.dns`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetDns;

fn default_timeout() -> u64 {
    3000
}

/// Arguments of `net.dns`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetDnsArgs {
    /// A host name to look up through the system resolver (`example.com`); null to show the configuration only.
    #[serde(default)]
    pub name: Option<String>,
    /// How long the lookup may take, in milliseconds (default 3000, 100 to 10000).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

/// One resolver configuration file.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// The file.
    pub path: String,
    /// `nameserver` lines, in order.
    pub nameservers: Vec<String>,
    /// `search` (or `domain`) suffixes.
    pub search: Vec<String>,
    /// `options` words.
    pub options: Vec<String>,
}

/// The result of a lookup.
#[derive(Debug, Clone, Serialize)]
pub struct Lookup {
    /// The name asked.
    pub name: String,
    /// Addresses found (empty when it failed).
    pub addresses: Vec<String>,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub elapsed_ms: u64,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Dns {
    /// One line for a human.
    pub summary: String,
    /// `/etc/resolv.conf`.
    pub resolv_conf: ResolvConf,
    /// Whether systemd-resolved is running (its stub answers on 127.0.0.53).
    pub systemd_resolved: bool,
    /// systemd-resolved's upstream servers, when it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<ResolvConf>,
    /// The lookup of `name`, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookup: Option<Lookup>,
}

/// Parse resolv.conf text. Comments start with `#` or `;`.
pub fn parse_resolv_conf(path: &str, text: &str) -> ResolvConf {
    let mut rc = ResolvConf {
        path: path.to_string(),
        ..ResolvConf::default()
    };
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => rc.nameservers.extend(words.next().map(str::to_string)),
            Some("search" | "domain") => rc.search = words.map(str::to_string).collect(),
            Some("options") => rc.options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    rc
}

/// A host name fit for a lookup: 1 to 253 bytes of letters, digits, `-`,
/// `_` and `.`, not starting with `-` or `.`; or an IP address.
pub(crate) fn check_hostname(field: &str, name: &str) -> Result<(), ToolError> {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let ok = !name.is_empty()
        && name.len() <= 253
        && !name.starts_with(['-', '.'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "field `{field}`: {name:?} is not a host name or IP address (letters, digits, `-`, `_`, `.`; at most 253)"
        )))
    }
}

async fn lookup(ctx: &ToolCtx, name: &str, timeout: Duration) -> Result<Lookup, ToolError> {
    let t0 = std::time::Instant::now();
    let res = tokio::select! {
        r = tokio::time::timeout(timeout, tokio::net::lookup_host((name, 0))) => r,
        _ = ctx.cancelled() => return Err(ToolError::cancelled()),
    };
    let (addresses, error) = match res {
        Ok(Ok(it)) => {
            let mut a: Vec<String> = it.map(|sa| sa.ip().to_string()).collect();
            a.sort();
            a.dedup();
            (a, None)
        }
        Ok(Err(e)) => (Vec::new(), Some(e.to_string())),
        Err(_) => (
            Vec::new(),
            Some(format!("no answer within {} ms", timeout.as_millis())),
        ),
    };
    Ok(Lookup {
        name: name.to_string(),
        addresses,
        error,
        elapsed_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

impl Tool for NetDns {
    type Args = NetDnsArgs;

    fn name(&self) -> &'static str {
        "net.dns"
    }

    fn description(&self) -> &'static str {
        "Show the DNS resolver configuration (nameservers, search domains, options from /etc/resolv.conf; \
         systemd-resolved's upstream servers when it runs) and optionally resolve a host name through the \
         system resolver with a timeout. Answers 'which DNS server do I use' and 'does example.com resolve'."
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
                request: "which DNS servers am I using?",
                args: r#"{}"#,
            },
            Example {
                request: "does debian.org resolve",
                args: r#"{"name": "debian.org"}"#,
            },
            Example {
                request: "look up the address of example.com",
                args: r#"{"name": "example.com", "timeout_ms": 5000}"#,
            },
        ]
    }

    fn canonicalize(&self, args: &mut NetDnsArgs, _home: Option<&Path>) -> Result<(), ToolError> {
        if !(100..=10_000).contains(&args.timeout_ms) {
            return Err(ToolError::invalid(format!(
                "net.dns: field `timeout_ms` must be 100..=10000, got {}",
                args.timeout_ms
            )));
        }
        if let Some(n) = &mut args.name {
            *n = n.trim().trim_end_matches('.').to_ascii_lowercase();
            check_hostname("name", n)?;
        }
        Ok(())
    }

    fn resources(&self, _args: &NetDnsArgs) -> Vec<Resource> {
        vec![Resource::Network]
    }

    fn preview(&self, args: &NetDnsArgs) -> String {
        match &args.name {
            Some(n) => format!("show the DNS configuration and look up {n}"),
            None => "show the DNS configuration".into(),
        }
    }

    async fn run(&self, ctx: ToolCtx, args: NetDnsArgs) -> Result<Value, ToolError> {
        let (resolv_conf, upstream, resolved) = ctx
            .blocking(|_| {
                let rc = parse_resolv_conf(
                    "/etc/resolv.conf",
                    &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
                );
                let resolved = Path::new("/run/systemd/resolve/io.systemd.Resolve").exists()
                    || Path::new("/run/systemd/resolve/stub-resolv.conf").exists();
                let up = "/run/systemd/resolve/resolv.conf";
                let upstream = resolved
                    .then(|| std::fs::read_to_string(up).ok())
                    .flatten()
                    .map(|t| parse_resolv_conf(up, &t));
                Ok((rc, upstream, resolved))
            })
            .await?;
        let lookup = match &args.name {
            Some(n) => Some(lookup(&ctx, n, Duration::from_millis(args.timeout_ms)).await?),
            None => None,
        };
        let servers = upstream
            .as_ref()
            .filter(|u| !u.nameservers.is_empty())
            .unwrap_or(&resolv_conf)
            .nameservers
            .join(", ");
        let mut summary = format!(
            "nameservers: {}{}",
            if servers.is_empty() {
                "none configured"
            } else {
                &servers
            },
            if resolved {
                " (through systemd-resolved)"
            } else {
                ""
            }
        );
        if let Some(l) = &lookup {
            summary.push_str(&match &l.error {
                None => format!("; {} → {}", l.name, l.addresses.join(", ")),
                Some(e) => format!("; {} did not resolve: {e}", l.name),
            });
        }
        crate::builtin::to_value(&Dns {
            summary,
            resolv_conf,
            systemd_resolved: resolved,
            upstream,
            lookup,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    async fn call(args: Value) -> Result<Value, ToolError> {
        Registry::builtin()
            .prepare("net.dns", args)?
            .run(ToolCtx::local())
            .await
    }

    #[test]
    fn resolv_conf_parses_with_comments() {
        let rc = parse_resolv_conf(
            "/x",
            "# generated\nnameserver 10.0.0.1\nnameserver ::1 ; local\nsearch a.example b.example\noptions edns0 trust-ad\n",
        );
        assert_eq!(rc.nameservers, ["10.0.0.1", "::1"]);
        assert_eq!(rc.search, ["a.example", "b.example"]);
        assert_eq!(rc.options, ["edns0", "trust-ad"]);
    }

    #[tokio::test]
    async fn localhost_resolves_and_config_matches_the_file() {
        let v = call(serde_json::json!({"name": "LOCALHOST."}))
            .await
            .unwrap();
        assert_eq!(v["lookup"]["name"], "localhost");
        let addrs = v["lookup"]["addresses"].as_array().unwrap();
        assert!(addrs.iter().any(|a| a == "127.0.0.1" || a == "::1"), "{v}");
        let want = parse_resolv_conf(
            "/etc/resolv.conf",
            &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        );
        assert_eq!(
            v["resolv_conf"]["nameservers"],
            serde_json::json!(want.nameservers)
        );
        assert!(
            v["summary"].as_str().unwrap().contains("localhost →"),
            "{v}"
        );
    }

    #[tokio::test]
    async fn a_name_that_cannot_exist_fails_inside_the_result() {
        // `.invalid` is reserved (RFC 2606): never resolves.
        let v = call(serde_json::json!({"name": "aios-test.invalid", "timeout_ms": 2000}))
            .await
            .unwrap();
        assert!(v["lookup"]["addresses"].as_array().unwrap().is_empty());
        assert!(v["lookup"]["error"].is_string(), "{v}");
    }

    #[tokio::test]
    async fn bad_names_and_timeouts_are_refused() {
        for bad in ["-rf", "a b", "x;ls", ""] {
            let e = call(serde_json::json!({"name": bad})).await.unwrap_err();
            assert!(e.message().contains("`name`"), "{bad}: {e}");
        }
        let e = call(serde_json::json!({"timeout_ms": 60000}))
            .await
            .unwrap_err();
        assert!(e.message().contains("`timeout_ms`"), "{e}");
    }
}
