//! The embedded demo "model": what a new user meets before configuring a
//! real provider. Pure functions of the request, no I/O.
//!
//! - When the last message is the user's, it picks read-only tools by
//!   keywords (only tools the request offers), and says what it will do.
//! - When the conversation ends with tool results, it summarises them
//!   generically (top-level scalars, the first rows of arrays), clearly
//!   labelled as the demo provider.
//!
//! It is deliberately simple and says so; it exists so the whole pipeline
//! (plan, tool cards, results, explanation) can be seen with no model.

use aios_proto::{ChatMessage, CompletionRequest, Role};
use serde_json::{Map, Value, json};

/// The label every demo answer carries.
pub const DEMO_NOTE: &str = "(demo provider, not a language model — the default is the local model: provider local, or anthropic|openai)";

/// At most this many tools per request.
const MAX_CALLS: usize = 4;
/// Rows of an array shown in a summary.
const MAX_ROWS: usize = 5;
/// Scalar fields shown per object.
const MAX_FIELDS: usize = 10;
/// Longest rendered value.
const MAX_VALUE_CHARS: usize = 160;

/// What the demo model answers.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoReply {
    /// Text to stream.
    pub text: String,
    /// Tool calls (dotted name, arguments), in order.
    pub tool_calls: Vec<(String, Value)>,
}

/// Services the demo recognises by name (lower-case spelling → unit name).
const SERVICES: &[(&str, &str)] = &[
    ("nginx", "nginx"),
    ("apache", "apache2"),
    ("apache2", "apache2"),
    ("httpd", "httpd"),
    ("ssh", "ssh"),
    ("sshd", "sshd"),
    ("cron", "cron"),
    ("crond", "crond"),
    ("docker", "docker"),
    ("containerd", "containerd"),
    ("postgres", "postgresql"),
    ("postgresql", "postgresql"),
    ("mysql", "mysql"),
    ("mariadb", "mariadb"),
    ("redis", "redis-server"),
    ("redis-server", "redis-server"),
    ("memcached", "memcached"),
    ("haproxy", "haproxy"),
    ("caddy", "caddy"),
    ("php-fpm", "php-fpm"),
    ("rsyslog", "rsyslog"),
    ("journald", "systemd-journald"),
    ("systemd-journald", "systemd-journald"),
    ("networkmanager", "NetworkManager"),
    ("ufw", "ufw"),
    ("firewalld", "firewalld"),
    ("fail2ban", "fail2ban"),
    ("chrony", "chrony"),
    ("chronyd", "chronyd"),
    ("ntp", "ntp"),
    ("cups", "cups"),
    ("bluetooth", "bluetooth"),
    ("postfix", "postfix"),
    ("dovecot", "dovecot"),
    ("dnsmasq", "dnsmasq"),
    ("bind9", "bind9"),
    ("named", "named"),
    ("smbd", "smbd"),
    ("nfs-server", "nfs-server"),
    ("kubelet", "kubelet"),
    ("mongod", "mongod"),
    ("snapd", "snapd"),
    ("dbus", "dbus"),
];

/// The demo's answer to `req`.
pub fn reply(req: &CompletionRequest) -> DemoReply {
    match req.messages.last() {
        Some(m) if m.role == Role::User => plan(&m.content, &offered(req)),
        Some(m) if m.role == Role::Tool => summarise(&req.messages),
        Some(_) => DemoReply {
            text: format!("Nothing more to add. {DEMO_NOTE}"),
            tool_calls: vec![],
        },
        None => DemoReply {
            text: format!(
                "Hello! Ask me about this system, e.g. \"why is the disk full?\" {DEMO_NOTE}"
            ),
            tool_calls: vec![],
        },
    }
}

fn offered(req: &CompletionRequest) -> Vec<&str> {
    req.tools.iter().map(|t| t.name.as_str()).collect()
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A token that looks like a path: `/x`, `~/x`, `./x`, `../x`.
fn path_token(text: &str) -> Option<String> {
    text.split_whitespace()
        .map(|t| {
            t.trim_matches(|c: char| {
                matches!(c, '"' | '\'' | '`' | '(' | ')' | ',' | ';' | '?' | '!')
            })
        })
        .map(|t| {
            if t.len() > 1 {
                t.trim_end_matches(['.', ':'])
            } else {
                t
            }
        })
        .find(|t| {
            t.starts_with('/') || t.starts_with("~/") || t.starts_with("./") || t.starts_with("../")
        })
        .map(str::to_string)
}

fn service_name(text: &str) -> Option<String> {
    for raw in text.split_whitespace() {
        let t =
            raw.trim_matches(|c: char| !(c.is_alphanumeric() || c == '-' || c == '.' || c == '@'));
        if let Some(unit) = t.strip_suffix(".service").filter(|u| !u.is_empty()) {
            return Some(unit.to_string());
        }
        let lower = t.to_lowercase();
        if let Some((_, unit)) = SERVICES.iter().find(|(k, _)| *k == lower) {
            return Some((*unit).to_string());
        }
    }
    None
}

fn any(words: &[String], keys: &[&str]) -> bool {
    words.iter().any(|w| keys.iter().any(|k| w == k))
}

fn describe(tool: &str, args: &Value) -> String {
    let arg = |k: &str| {
        args.get(k)
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    match tool {
        "fs.usage" => format!("disk usage of `{}` (`fs.usage`)", arg("path")),
        "sys.overview" => {
            "the system overview: CPU, memory, load and uptime (`sys.overview`)".into()
        }
        "process.list" => "the top processes (`process.list`)".into(),
        "net.listening" => "the listening ports (`net.listening`)".into(),
        "service.status" => format!("the status of `{}` (`service.status`)", arg("name")),
        "log.tail" => "the most recent log lines (`log.tail`)".into(),
        "fs.list" => format!("what is in `{}` (`fs.list`)", arg("path")),
        other => format!("`{other}`"),
    }
}

/// Choose tools for a user request by keywords.
fn plan(text: &str, offered: &[&str]) -> DemoReply {
    let w = words(text);
    let path = path_token(text);
    let mut wanted: Vec<(&str, Value)> = Vec::new();
    let mut path_used = false;
    if any(
        &w,
        &[
            "disk",
            "disks",
            "space",
            "full",
            "storage",
            "df",
            "du",
            "filesystem",
            "partition",
        ],
    ) {
        path_used = path.is_some();
        wanted.push((
            "fs.usage",
            json!({"path": path.clone().unwrap_or_else(|| "/".into())}),
        ));
    }
    if any(
        &w,
        &[
            "memory", "mem", "ram", "swap", "cpu", "cpus", "load", "uptime", "overview", "system",
            "health", "slow",
        ],
    ) {
        wanted.push(("sys.overview", json!({})));
    }
    if w.iter().any(|x| x.starts_with("process"))
        || any(&w, &["running", "top", "pid", "pids", "hogging"])
    {
        wanted.push(("process.list", json!({"limit": 10})));
    }
    if any(
        &w,
        &[
            "port",
            "ports",
            "listen",
            "listening",
            "listens",
            "network",
            "networking",
            "socket",
            "sockets",
            "connections",
        ],
    ) {
        wanted.push(("net.listening", json!({})));
    }
    let service = service_name(text);
    if let Some(name) = &service {
        wanted.push(("service.status", json!({"name": name})));
    } else if any(
        &w,
        &["service", "services", "daemon", "daemons", "unit", "units"],
    ) {
        // No name to ask about: the overview is the honest next best thing.
        wanted.push(("sys.overview", json!({})));
    }
    if any(
        &w,
        &[
            "log",
            "logs",
            "journal",
            "journalctl",
            "syslog",
            "dmesg",
            "error",
            "errors",
            "failed",
            "failing",
            "crash",
            "crashed",
        ],
    ) {
        wanted.push(("log.tail", json!({"lines": 20})));
    }
    if let (Some(p), false) = (&path, path_used) {
        wanted.push(("fs.list", json!({"path": p})));
    }
    if wanted.is_empty() {
        wanted.push(("sys.overview", json!({})));
    }
    let mut calls: Vec<(String, Value)> = Vec::new();
    let mut missing: Vec<&str> = Vec::new();
    for (tool, args) in wanted {
        if calls.iter().any(|(t, _)| t == tool) {
            continue;
        }
        if offered.contains(&tool) {
            if calls.len() < MAX_CALLS {
                calls.push((tool.to_string(), args));
            }
        } else if !missing.contains(&tool) {
            missing.push(tool);
        }
    }
    if calls.is_empty() {
        let why = if missing.is_empty() {
            String::new()
        } else {
            format!(
                " (I would have used {}, which this session does not offer)",
                missing.join(", ")
            )
        };
        return DemoReply {
            text: format!("I can't look into that with the tools available here{why}. {DEMO_NOTE}"),
            tool_calls: vec![],
        };
    }
    let parts: Vec<String> = calls.iter().map(|(t, a)| describe(t, a)).collect();
    let text = format!("I'll check {}.\n", join_and(&parts));
    DemoReply {
        text,
        tool_calls: calls,
    }
}

fn join_and(parts: &[String]) -> String {
    match parts {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// Summarise the trailing tool results.
fn summarise(messages: &[ChatMessage]) -> DemoReply {
    let start = messages
        .iter()
        .rposition(|m| m.role != Role::Tool)
        .map_or(0, |i| i + 1);
    let results = messages.get(start..).unwrap_or_default();
    let mut text = String::from("Here is what I found:\n");
    for r in results {
        let id = r.tool_call_id.as_deref().unwrap_or_default();
        let tool = messages[..start]
            .iter()
            .rev()
            .flat_map(|m| m.tool_calls.iter())
            .find(|c| c.id == id)
            .map_or_else(|| "tool".to_string(), |c| c.name.clone());
        text.push_str(&format!("\n{tool}:\n"));
        text.push_str(&render_result(&r.content));
    }
    text.push_str(&format!("\n{DEMO_NOTE}\n"));
    DemoReply {
        text,
        tool_calls: vec![],
    }
}

/// Render one tool result: JSON objects by their key facts, anything else
/// by its first lines.
pub fn render_result(content: &str) -> String {
    let mut out = String::new();
    match serde_json::from_str::<Value>(content) {
        Ok(Value::Object(map)) => render_object(&map, &mut out),
        Ok(Value::Array(rows)) => render_rows("items", &rows, &mut out),
        Ok(Value::String(s)) => render_text(&s, &mut out),
        Ok(other) => out.push_str(&format!("- {}\n", scalar(&other))),
        Err(_) => render_text(content, &mut out),
    }
    if out.is_empty() {
        out.push_str("- (empty result)\n");
    }
    out
}

fn render_text(s: &str, out: &mut String) {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    for l in lines.iter().take(8) {
        out.push_str(&format!("  {}\n", truncate(l.trim_end())));
    }
    if lines.len() > 8 {
        out.push_str(&format!("  … ({} more lines)\n", lines.len() - 8));
    }
}

fn render_object(map: &Map<String, Value>, out: &mut String) {
    let mut shown = 0;
    for (k, v) in map {
        match v {
            Value::Array(rows) => render_rows(k, rows, out),
            Value::Object(inner) => {
                let fields = row_fields(inner);
                if !fields.is_empty() {
                    out.push_str(&format!("- {k}: {}\n", truncate(&fields)));
                }
            }
            v if shown < MAX_FIELDS => {
                shown += 1;
                out.push_str(&format!("- {k}: {}\n", with_unit(k, v)));
            }
            _ => {}
        }
    }
}

fn render_rows(name: &str, rows: &[Value], out: &mut String) {
    out.push_str(&format!(
        "- {name} ({} {}):\n",
        rows.len(),
        if rows.len() == 1 { "item" } else { "items" }
    ));
    for row in rows.iter().take(MAX_ROWS) {
        let line = match row {
            Value::Object(m) => row_fields(m),
            other => scalar(other),
        };
        out.push_str(&format!("  - {}\n", truncate(&line)));
    }
    if rows.len() > MAX_ROWS {
        out.push_str(&format!("  - … and {} more\n", rows.len() - MAX_ROWS));
    }
}

fn row_fields(m: &Map<String, Value>) -> String {
    m.iter()
        .filter(|(_, v)| !v.is_array() && !v.is_object())
        .take(6)
        .map(|(k, v)| format!("{k}={}", with_unit(k, v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Byte counts (keys ending in `bytes`) get a human size beside them.
fn with_unit(key: &str, v: &Value) -> String {
    match (key.ends_with("bytes"), v.as_u64()) {
        (true, Some(n)) => format!("{n} ({})", human_bytes(n)),
        _ => scalar(v),
    }
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_VALUE_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aios_proto::{ModelTool, ToolCall};

    const ALL: &[&str] = &[
        "fs.usage",
        "fs.list",
        "sys.overview",
        "process.list",
        "net.listening",
        "service.status",
        "log.tail",
    ];

    fn req(text: &str, tools: &[&str]) -> CompletionRequest {
        CompletionRequest {
            messages: vec![ChatMessage {
                role: Role::User,
                content: text.into(),
                tool_calls: vec![],
                tool_call_id: None,
            }],
            tools: tools
                .iter()
                .map(|n| ModelTool {
                    name: (*n).into(),
                    description: String::new(),
                    schema: json!({}),
                    examples: vec![],
                })
                .collect(),
            ..Default::default()
        }
    }

    fn calls(text: &str) -> Vec<(String, Value)> {
        reply(&req(text, ALL)).tool_calls
    }

    #[test]
    fn keywords_pick_tools() {
        assert_eq!(
            calls("why is the disk almost full?"),
            vec![("fs.usage".into(), json!({"path": "/"}))]
        );
        assert_eq!(
            calls("how much memory is free"),
            vec![("sys.overview".into(), json!({}))]
        );
        assert_eq!(
            calls("what processes are hogging things"),
            vec![("process.list".into(), json!({"limit": 10}))]
        );
        assert_eq!(
            calls("which ports are open"),
            vec![("net.listening".into(), json!({}))]
        );
        assert_eq!(
            calls("show me the journal"),
            vec![("log.tail".into(), json!({"lines": 20}))]
        );
        assert_eq!(
            calls("what's in /etc/nginx?"),
            vec![("fs.list".into(), json!({"path": "/etc/nginx"}))]
        );
        assert_eq!(
            calls("hello there"),
            vec![("sys.overview".into(), json!({}))]
        );
    }

    #[test]
    fn services_only_by_recognisable_name() {
        assert_eq!(
            calls("is nginx ok"),
            vec![("service.status".into(), json!({"name": "nginx"}))]
        );
        assert_eq!(
            calls("check the foo.service unit"),
            vec![("service.status".into(), json!({"name": "foo"}))]
        );
        assert_eq!(
            calls("are my services fine"),
            vec![("sys.overview".into(), json!({}))]
        );
        let c = calls("why is ssh failing");
        assert_eq!(c[0], ("service.status".into(), json!({"name": "ssh"})));
        assert_eq!(c[1], ("log.tail".into(), json!({"lines": 20})));
    }

    #[test]
    fn disk_question_with_path_uses_it_once() {
        assert_eq!(
            calls("why is /var so full?"),
            vec![("fs.usage".into(), json!({"path": "/var"}))]
        );
    }

    #[test]
    fn combined_requests_are_deduplicated_and_capped() {
        let c = calls("disk memory cpu processes ports logs nginx /tmp");
        assert_eq!(c.len(), MAX_CALLS);
        let names: Vec<&str> = c.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["fs.usage", "sys.overview", "process.list", "net.listening"]
        );
    }

    #[test]
    fn only_offered_tools_are_called() {
        let r = reply(&req("why is the disk full", &["sys.overview"]));
        assert!(r.tool_calls.is_empty());
        assert!(
            r.text.contains("fs.usage") && r.text.contains(DEMO_NOTE),
            "{}",
            r.text
        );
        let r = reply(&req("disk and memory", &["sys.overview"]));
        assert_eq!(r.tool_calls, vec![("sys.overview".into(), json!({}))]);
        let r = reply(&req("anything", &[]));
        assert!(
            r.tool_calls.is_empty() && r.text.contains("can't"),
            "{}",
            r.text
        );
    }

    #[test]
    fn plan_sentence_names_the_tools() {
        let r = reply(&req("why is the disk almost full?", ALL));
        assert!(
            r.text
                .starts_with("I'll check disk usage of `/` (`fs.usage`)"),
            "{}",
            r.text
        );
    }

    #[test]
    fn summarises_tool_results_generically() {
        let mut r = req("disk?", ALL);
        r.messages.push(ChatMessage {
            role: Role::Assistant,
            content: "I'll check".into(),
            tool_calls: vec![ToolCall {
                id: "call_0_0".into(),
                name: "fs.usage".into(),
                args: json!({"path": "/"}),
            }],
            tool_call_id: None,
        });
        let result = json!({
            "path": "/",
            "used_bytes": 1610612736u64,
            "percent": 93.5,
            "mounts": [{"mount": "/", "used": "93%"}, {"mount": "/boot", "used": "20%"}],
            "largest": (0..8).map(|i| json!({"path": format!("/var/{i}"), "bytes": i})).collect::<Vec<_>>(),
        });
        r.messages.push(ChatMessage {
            role: Role::Tool,
            content: result.to_string(),
            tool_calls: vec![],
            tool_call_id: Some("call_0_0".into()),
        });
        let out = reply(&r);
        assert!(out.tool_calls.is_empty());
        let t = out.text;
        assert!(t.contains("fs.usage:"), "{t}");
        assert!(t.contains("- used_bytes: 1610612736 (1.5 GiB)"), "{t}");
        assert!(t.contains("- percent: 93.5"), "{t}");
        assert!(
            t.contains("- mounts (2 items):") && t.contains("mount=/boot used=20%"),
            "{t}"
        );
        assert!(t.contains("… and 3 more"), "{t}");
        assert!(t.contains(DEMO_NOTE), "{t}");
    }

    #[test]
    fn summarises_text_and_error_results() {
        assert_eq!(
            render_result("\"permission denied\""),
            "  permission denied\n"
        );
        let many: String = (0..20).map(|i| format!("line {i}\n")).collect();
        let r = render_result(&many);
        assert!(r.contains("line 0") && r.contains("12 more lines"), "{r}");
        assert_eq!(render_result(""), "- (empty result)\n");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
