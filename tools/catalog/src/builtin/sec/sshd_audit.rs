//! `sec.sshd_audit`: the SSH server's effective settings and what is weak
//! about them. With root and `sshd` present, `sshd -T` reports exactly
//! what the server would use; otherwise the configuration is parsed
//! (first value wins, `Include` followed, `Match` blocks noted but not
//! evaluated) with OpenSSH's defaults for what is unset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sshd_config::{Parsed, parse_dump, parse_text};
use crate::command::run_command;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `sec.sshd_audit`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecSshdAudit;

/// Arguments of `sec.sshd_audit`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SshdAuditArgs {
    /// The server configuration file. Default /etc/ssh/sshd_config.
    #[serde(default = "default_config")]
    pub config_path: String,
}

fn default_config() -> String {
    "/etc/ssh/sshd_config".into()
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing.
    Low,
    /// Weakens the server.
    Medium,
    /// Invites compromise.
    High,
    /// Fix now.
    Critical,
}

impl Severity {
    /// The lower-case name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One effective setting and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    /// The value, as sshd reads it.
    pub value: String,
    /// `file:line`, `sshd -T`, or `default`.
    pub source: String,
}

/// One weakness.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// The keyword, lower-case.
    pub setting: String,
    /// Its effective value.
    pub value: String,
    /// Where that value comes from.
    pub source: String,
    /// What is wrong.
    pub issue: String,
    /// The line to write instead.
    pub fix: String,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct SshdAudit {
    /// One line for people.
    pub summary: String,
    /// The file audited.
    pub config_path: String,
    /// `sshd -T` or `parsed`.
    pub method: &'static str,
    /// Findings, worst first.
    pub findings: Vec<Finding>,
    /// The audited settings' effective values.
    pub settings: BTreeMap<String, Setting>,
    /// What the audit could not see.
    pub notes: Vec<String>,
}

/// OpenSSH's defaults (9.x) for the keywords audited.
const DEFAULTS: &[(&str, &str)] = &[
    ("permitrootlogin", "prohibit-password"),
    ("passwordauthentication", "yes"),
    ("permitemptypasswords", "no"),
    ("x11forwarding", "no"),
    ("maxauthtries", "6"),
    ("permituserenvironment", "no"),
    ("hostbasedauthentication", "no"),
    ("ignorerhosts", "yes"),
    ("protocol", "2"),
];

/// Keywords audited besides the defaults (no safe default to show).
const LISTS: &[&str] = &["ciphers", "macs", "kexalgorithms"];

/// Algorithm names in a list value that match any weak pattern. A list
/// starting with `-` removes algorithms; nothing it names is enabled.
fn weak_algorithms(value: &str, patterns: &[&str]) -> Vec<String> {
    if value.starts_with('-') {
        return Vec::new();
    }
    value
        .trim_start_matches(['+', '^'])
        .split(',')
        .map(str::trim)
        .filter(|a| patterns.iter().any(|p| a.contains(p)))
        .map(str::to_string)
        .collect()
}

/// The findings for a set of effective settings.
pub fn audit(settings: &BTreeMap<String, Setting>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut flag = |key: &str, severity: Severity, issue: String, fix: &str| {
        if let Some(s) = settings.get(key) {
            out.push(Finding {
                severity,
                setting: key.to_string(),
                value: s.value.clone(),
                source: s.source.clone(),
                issue,
                fix: fix.to_string(),
            });
        }
    };
    let val = |k: &str| {
        settings
            .get(k)
            .map(|s| s.value.to_ascii_lowercase())
            .unwrap_or_default()
    };
    if val("permitrootlogin") == "yes" {
        flag(
            "permitrootlogin",
            Severity::High,
            "root may log in with a password".into(),
            "PermitRootLogin prohibit-password (or no)",
        );
    }
    if val("permitemptypasswords") == "yes" {
        flag(
            "permitemptypasswords",
            Severity::Critical,
            "accounts without a password may log in".into(),
            "PermitEmptyPasswords no",
        );
    }
    if val("passwordauthentication") == "yes" {
        flag(
            "passwordauthentication",
            Severity::Medium,
            "passwords are accepted, so the server can be brute-forced".into(),
            "PasswordAuthentication no (once every user logs in with a key)",
        );
    }
    if val("protocol").split(',').any(|p| p.trim() == "1") {
        flag(
            "protocol",
            Severity::High,
            "SSH protocol 1 is broken".into(),
            "Protocol 2 (or remove the line)",
        );
    }
    let ciphers = weak_algorithms(
        &val("ciphers"),
        &["cbc", "3des", "arcfour", "blowfish", "cast128", "rijndael"],
    );
    if !ciphers.is_empty() {
        flag(
            "ciphers",
            Severity::Medium,
            format!("weak ciphers enabled: {}", ciphers.join(", ")),
            "Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes128-ctr",
        );
    }
    let macs = weak_algorithms(
        &val("macs"),
        &["md5", "-96", "umac-64", "hmac-sha1", "ripemd"],
    );
    if !macs.is_empty() {
        flag(
            "macs",
            Severity::Medium,
            format!("weak MACs enabled: {}", macs.join(", ")),
            "MACs hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,umac-128-etm@openssh.com",
        );
    }
    let kex = weak_algorithms(
        &val("kexalgorithms"),
        &["group1-sha1", "group14-sha1", "exchange-sha1", "gex-sha1"],
    );
    if !kex.is_empty() {
        flag(
            "kexalgorithms",
            Severity::Medium,
            format!("weak key exchanges enabled: {}", kex.join(", ")),
            "KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org",
        );
    }
    if val("permituserenvironment") == "yes" {
        flag(
            "permituserenvironment",
            Severity::Medium,
            "users can set environment variables (LD_PRELOAD) for sshd's session".into(),
            "PermitUserEnvironment no",
        );
    }
    if val("hostbasedauthentication") == "yes" {
        flag(
            "hostbasedauthentication",
            Severity::Medium,
            "host-based trust lets one compromised host log in to this one".into(),
            "HostbasedAuthentication no",
        );
    }
    if val("ignorerhosts") == "no" {
        flag(
            "ignorerhosts",
            Severity::Medium,
            ".rhosts files are honoured".into(),
            "IgnoreRhosts yes",
        );
    }
    if val("x11forwarding") == "yes" {
        flag(
            "x11forwarding",
            Severity::Low,
            "X11 forwarding exposes the client's display to the server's users".into(),
            "X11Forwarding no (unless you need it)",
        );
    }
    if val("maxauthtries").parse::<u32>().is_ok_and(|n| n > 6) {
        flag(
            "maxauthtries",
            Severity::Low,
            "many attempts per connection help password guessing".into(),
            "MaxAuthTries 3",
        );
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.setting.cmp(&b.setting))
    });
    out
}

async fn effective(
    ctx: &ToolCtx,
    path: &str,
) -> Result<(BTreeMap<String, Setting>, &'static str, Vec<String>), ToolError> {
    let mut notes = Vec::new();
    if super::super::user::runs_as_root(ctx) {
        match run_command(
            ctx,
            "sshd",
            &["-T", "-f", path],
            Duration::from_secs(10),
            256 * 1024,
        )
        .await
        {
            Ok(out) if out.code == Some(0) && !out.stdout.trim().is_empty() => {
                let mut settings = parse_dump(&out.stdout);
                settings.retain(|k, _| {
                    DEFAULTS.iter().any(|(d, _)| d == k) || LISTS.contains(&k.as_str())
                });
                return Ok((settings, "sshd -T", notes));
            }
            Ok(out) => notes.push(format!(
                "sshd -T failed ({}); parsed the file instead",
                crate::util::truncate(out.stderr.trim(), 300)
            )),
            Err(e) => notes.push(format!("sshd -T not used: {e}; parsed the file instead")),
        }
    } else {
        notes.push(
            "sshd -T needs root; parsed the file instead (Match blocks are not evaluated)".into(),
        );
    }
    let p = PathBuf::from(path);
    let mut parsed = ctx
        .blocking(move |ctx| {
            let mut parsed = Parsed::default();
            let text =
                std::fs::read_to_string(&p).map_err(|e| ctx.access().io_error(&p, "read", &e))?;
            let base = PathBuf::from("/etc/ssh");
            parse_text(&text, &p.display().to_string(), &base, 0, &mut parsed)?;
            Ok(parsed)
        })
        .await?;
    if parsed.match_blocks > 0 {
        notes.push(format!(
            "{} Match block(s) override settings for some users or addresses; they are not evaluated here",
            parsed.match_blocks
        ));
    }
    notes.append(&mut parsed.notes);
    let mut settings: BTreeMap<String, Setting> = BTreeMap::new();
    for (k, d) in DEFAULTS {
        let s = parsed.values.remove(*k).unwrap_or_else(|| Setting {
            value: (*d).to_string(),
            source: "default".into(),
        });
        settings.insert((*k).to_string(), s);
    }
    for k in LISTS {
        if let Some(s) = parsed.values.remove(*k) {
            settings.insert((*k).to_string(), s);
        }
    }
    Ok((settings, "parsed", notes))
}

impl Tool for SecSshdAudit {
    type Args = SshdAuditArgs;

    fn name(&self) -> &'static str {
        "sec.sshd_audit"
    }

    fn description(&self) -> &'static str {
        "Audit the SSH server configuration: root login, password and empty-password logins, weak ciphers, MACs \
         and key exchanges, old protocol, X11 forwarding and more, each finding with a severity and the line that \
         fixes it. Uses sshd -T (the exact effective settings) when run as root, else parses sshd_config and its \
         Include files with OpenSSH's defaults."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Path, ResourceKind::Service]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "is my ssh server configured securely?",
                args: r#"{}"#,
            },
            Example {
                request: "can root log in over ssh",
                args: r#"{}"#,
            },
            Example {
                request: "audit the sshd config in /srv/ssh/sshd_config",
                args: r#"{"config_path": "/srv/ssh/sshd_config"}"#,
            },
        ]
    }

    fn canonicalize(&self, args: &mut SshdAuditArgs, home: Option<&Path>) -> Result<(), ToolError> {
        crate::access::normalize_in_place(&mut args.config_path, home)
    }

    fn resources(&self, args: &SshdAuditArgs) -> Vec<Resource> {
        vec![
            Resource::Path(args.config_path.clone()),
            Resource::Service("ssh".into()),
        ]
    }

    fn preview(&self, args: &SshdAuditArgs) -> String {
        format!("audit the SSH server configuration {}", args.config_path)
    }

    async fn run(&self, ctx: ToolCtx, args: SshdAuditArgs) -> Result<Value, ToolError> {
        let (settings, method, notes) = effective(&ctx, &args.config_path).await?;
        let findings = audit(&settings);
        let worst = findings.first().map(|f| f.severity);
        let summary = match worst {
            None => format!("no weaknesses found in {} ({method})", args.config_path),
            Some(w) => format!(
                "{} finding(s) in {} ({method}), worst {}: {}",
                findings.len(),
                args.config_path,
                w.as_str(),
                findings
                    .iter()
                    .map(|f| f.setting.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        super::super::to_value(&SshdAudit {
            summary,
            config_path: args.config_path,
            method,
            findings,
            settings,
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::sshd_config::wildcard;
    use super::*;
    use crate::Registry;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn first_value_wins_includes_are_followed_and_match_is_skipped() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("conf.d")).unwrap();
        write(
            &t.path().join("conf.d"),
            "10-root.conf",
            "PermitRootLogin yes\n",
        );
        write(
            &t.path().join("conf.d"),
            "ignored.txt",
            "PermitEmptyPasswords yes\n",
        );
        let text = format!(
            "# comment\nInclude {}/conf.d/*.conf\nPermitRootLogin no\nPasswordAuthentication=no\nCiphers aes128-cbc,aes256-gcm@openssh.com\nMACs -hmac-sha1\nMatch User bob\n  PasswordAuthentication yes\n",
            t.path().display()
        );
        let mut parsed = Parsed::default();
        parse_text(&text, "cfg", t.path(), 0, &mut parsed).unwrap();
        assert_eq!(parsed.values["permitrootlogin"].value, "yes");
        assert!(
            parsed.values["permitrootlogin"]
                .source
                .ends_with("10-root.conf:1")
        );
        assert_eq!(parsed.values["passwordauthentication"].value, "no");
        assert_eq!(parsed.values["passwordauthentication"].source, "cfg:4");
        assert!(!parsed.values.contains_key("permitemptypasswords"));
        assert_eq!(parsed.match_blocks, 1);
        let f = audit(&parsed.values);
        assert_eq!(f[0].setting, "permitrootlogin");
        assert_eq!(f[0].severity, Severity::High);
        assert!(f.iter().any(|x| x.setting == "ciphers"
            && x.issue.contains("aes128-cbc")
            && !x.issue.contains("gcm")));
        // A removal list enables nothing.
        assert!(!f.iter().any(|x| x.setting == "macs"));
        assert!(wildcard(b"*.conf", b"a.conf") && !wildcard(b"*.conf", b"a.conff"));
    }

    #[tokio::test]
    async fn audits_a_written_config_with_defaults_and_fixes() {
        let t = tempfile::tempdir().unwrap();
        let cfg = write(
            t.path(),
            "sshd_config",
            "PermitEmptyPasswords yes\nX11Forwarding yes\nMACs hmac-md5,hmac-sha2-256\nKexAlgorithms diffie-hellman-group1-sha1\nMaxAuthTries 10\n",
        );
        // As an unprivileged user, sshd -T is never tried: the file is parsed.
        let nobody = crate::ToolCtx::new(
            tokio_util::sync::CancellationToken::new(),
            crate::OutputSink::discard(),
            crate::Access::as_user(crate::Identity::lookup(65534)),
        );
        let ctx = if nix::unistd::geteuid().is_root() {
            std::fs::set_permissions(
                t.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .unwrap();
            nobody
        } else {
            ToolCtx::local()
        };
        let v = Registry::builtin()
            .prepare("sec.sshd_audit", serde_json::json!({"config_path": cfg}))
            .unwrap()
            .run(ctx)
            .await
            .unwrap();
        assert_eq!(v["method"], "parsed");
        let f = v["findings"].as_array().unwrap();
        assert_eq!(f[0]["severity"], "critical", "{v}");
        assert_eq!(f[0]["setting"], "permitemptypasswords");
        assert_eq!(f[0]["source"], format!("{}:1", cfg.display()));
        assert_eq!(f[0]["fix"], "PermitEmptyPasswords no");
        let settings: Vec<&str> = f.iter().map(|x| x["setting"].as_str().unwrap()).collect();
        for s in [
            "passwordauthentication",
            "macs",
            "kexalgorithms",
            "x11forwarding",
            "maxauthtries",
        ] {
            assert!(settings.contains(&s), "{s} not flagged: {v}");
        }
        // Password authentication is flagged from OpenSSH's default.
        assert_eq!(v["settings"]["passwordauthentication"]["source"], "default");
        assert_eq!(
            v["settings"]["permitrootlogin"]["value"],
            "prohibit-password"
        );
        assert!(!settings.contains(&"permitrootlogin"));
        assert!(
            v["summary"].as_str().unwrap().contains("worst critical"),
            "{v}"
        );
    }

    #[tokio::test]
    async fn a_missing_config_says_which_file() {
        let e = Registry::builtin()
            .prepare(
                "sec.sshd_audit",
                serde_json::json!({"config_path": "/nonexistent/sshd_config"}),
            )
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap_err();
        assert!(e.message().contains("/nonexistent/sshd_config"), "{e}");
    }
}
