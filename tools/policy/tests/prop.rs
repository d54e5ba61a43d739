//! Property tests: over generated rule files and calls, nothing that
//! changes the system is allowed unless an allow rule matches it and no
//! ask or deny rule does; a matching deny always denies; background
//! sessions never get `ask`; built-in denials hold whatever the rules.
//!
//! Rule matching is checked against an oracle written independently here
//! from the documented semantics (for the small pattern vocabulary the
//! generator uses), not against the engine's own matcher.
// Test helpers outside #[test] fns panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aios_domain::{PolicyInput, Resource, Risk, RuleSource, SessionKind, Verdict};
use aios_policy::{Policy, PortSpec, RuleSpec};
use common::*;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

const TOOLS: &[&str] = &[
    "fs.write",
    "fs.delete",
    "fs.read",
    "service.restart",
    "service.stop",
    "pkg.install",
    "firewall.allow",
    "net.ping",
];
const TOOL_PATTERNS: &[&str] = &[
    "*",
    "fs.*",
    "service.*",
    "pkg.*",
    "fs.write",
    "service.restart",
    "net.ping",
];
const RESOURCES: &[&str] = &[
    "path:/srv/www/a",
    "path:/srv",
    "path:/etc/hosts",
    "path:/home/alice/notes",
    "path:/home/alicex/notes",
    "service:nginx",
    "service:nginx-debug",
    "service:postgres",
    "port:22",
    "port:8080",
    "package:htop",
    "cidr:10.1.0.0/16",
    "cidr:2001:db8::/32",
    "process:1",
    "system",
];
const PATHS: &[&str] = &["/**", "/srv/**", "~/**", "/etc/hosts"];
const SERVICES: &[&str] = &["*", "nginx*", "postgres"];
const PORTS: &[&str] = &["22", "1-1024"];

#[derive(Debug, Clone)]
struct Gen {
    action: Verdict,
    tools: Vec<&'static str>,
    effect: Vec<Risk>,
    paths: Option<Vec<&'static str>>,
    services: Option<Vec<&'static str>>,
    ports: Option<Vec<&'static str>>,
    cidr_all_v4: bool,
    sessions: Vec<SessionKind>,
}

fn some_of(items: &'static [&'static str]) -> impl Strategy<Value = Option<Vec<&'static str>>> {
    prop::option::weighted(0.3, subsequence(items, 1..=items.len().min(2)))
}

fn gen_rule() -> impl Strategy<Value = Gen> {
    (
        select(vec![
            Verdict::Allow,
            Verdict::Allow,
            Verdict::Ask,
            Verdict::Deny,
        ]),
        subsequence(TOOL_PATTERNS, 1..=2),
        subsequence(vec![Risk::Read, Risk::Change, Risk::Destructive], 0..=2),
        some_of(PATHS),
        some_of(SERVICES),
        some_of(PORTS),
        prop::bool::weighted(0.15),
        subsequence(
            vec![
                SessionKind::Interactive,
                SessionKind::OneShot,
                SessionKind::Background,
            ],
            0..=2,
        ),
    )
        .prop_map(
            |(action, tools, effect, paths, services, ports, cidr_all_v4, sessions)| Gen {
                action,
                tools,
                effect,
                paths,
                services,
                ports,
                cidr_all_v4,
                sessions,
            },
        )
}

fn to_toml(rules: &[Gen], prefix: &str) -> String {
    #[derive(serde::Serialize)]
    struct File {
        rule: Vec<RuleSpec>,
    }
    let rule = rules
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let own = |l: &Option<Vec<&str>>| {
                l.as_ref()
                    .map(|v| v.iter().map(|s| s.to_string()).collect())
            };
            let mut s = RuleSpec::new(
                format!("{prefix}{i}"),
                g.action,
                g.tools.iter().map(|t| t.to_string()).collect(),
            );
            s.effect = g.effect.clone();
            s.paths = own(&g.paths);
            s.services = own(&g.services);
            s.ports = g
                .ports
                .as_ref()
                .map(|v| v.iter().map(|p| PortSpec::Text(p.to_string())).collect());
            s.cidrs = g.cidr_all_v4.then(|| vec!["0.0.0.0/0".to_string()]);
            s.sessions = g.sessions.clone();
            s
        })
        .collect();
    toml::to_string(&File { rule }).unwrap()
}

/// Quantifies as documented: allow needs every resource of the kind to
/// match, ask/deny any; none of the kind never matches.
fn quant<T>(items: Vec<T>, all: bool, pred: impl Fn(&T) -> bool) -> bool {
    !items.is_empty()
        && if all {
            items.iter().all(pred)
        } else {
            items.iter().any(pred)
        }
}

fn oracle_matches(g: &Gen, input: &PolicyInput) -> bool {
    let tool_ok = g.tools.iter().any(|p| match *p {
        "*" => true,
        p if p.ends_with(".*") => input.tool.starts_with(&p[..p.len() - 1]),
        p => input.tool == p,
    });
    if !tool_ok
        || !(g.effect.is_empty() || g.effect.contains(&input.effect))
        || !(g.sessions.is_empty() || g.sessions.contains(&input.caller.session_kind))
    {
        return false;
    }
    let all = g.action == Verdict::Allow;
    let of = |f: fn(&Resource) -> Option<String>| -> Vec<String> {
        input.resources.iter().filter_map(f).collect()
    };
    if let Some(pats) = &g.paths {
        let paths = of(|r| {
            if let Resource::Path(p) = r {
                Some(p.clone())
            } else {
                None
            }
        });
        let hit = |p: &String| {
            pats.iter().any(|pat| match *pat {
                "/**" => true,
                "/srv/**" => p == "/srv" || p.starts_with("/srv/"),
                "~/**" => p == "/home/alice" || p.starts_with("/home/alice/"),
                exact => p == exact,
            })
        };
        if !quant(paths, all, hit) {
            return false;
        }
    }
    if let Some(pats) = &g.services {
        let units = of(|r| {
            if let Resource::Service(s) = r {
                Some(s.clone())
            } else {
                None
            }
        });
        let hit = |u: &String| {
            pats.iter().any(|pat| match *pat {
                "*" => true,
                "nginx*" => u.starts_with("nginx"),
                exact => u == exact,
            })
        };
        if !quant(units, all, hit) {
            return false;
        }
    }
    if let Some(pats) = &g.ports {
        let ports = of(|r| {
            if let Resource::Port(p) = r {
                Some(p.to_string())
            } else {
                None
            }
        });
        let hit = |p: &String| {
            let n: u16 = p.parse().unwrap();
            pats.iter().any(|pat| match *pat {
                "22" => n == 22,
                _ => (1..=1024).contains(&n),
            })
        };
        if !quant(ports, all, hit) {
            return false;
        }
    }
    if g.cidr_all_v4 {
        let nets = of(|r| {
            if let Resource::Cidr(c) = r {
                Some(c.clone())
            } else {
                None
            }
        });
        if !quant(nets, all, |c| !c.contains(':')) {
            return false;
        }
    }
    true
}

fn gen_input() -> impl Strategy<Value = PolicyInput> {
    (
        select(TOOLS),
        select(vec![Risk::Read, Risk::Change, Risk::Destructive]),
        subsequence(RESOURCES, 0..=3),
        any::<bool>(),
        select(vec![
            SessionKind::Interactive,
            SessionKind::OneShot,
            SessionKind::Background,
        ]),
    )
        .prop_map(|(tool, effect, res, admin_flag, session)| {
            let mut input = call(&format!("{tool} read {}", res.join(" ")));
            input.effect = effect;
            input.caller.admin = admin_flag;
            input.caller.session_kind = session;
            input
        })
}

fn own_home_only(input: &PolicyInput) -> bool {
    !input.resources.is_empty()
        && input.resources.iter().all(|r| {
            matches!(r, Resource::Path(p) if p == "/home/alice" || p.starts_with("/home/alice/"))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_change_is_allowed_without_an_allow_rule(
        sys in prop::collection::vec(gen_rule(), 0..6),
        user in prop::collection::vec(gen_rule(), 0..4),
        input in gen_input(),
    ) {
        let policy = Policy::from_toml(&to_toml(&sys, "s"), &to_toml(&user, "u")).unwrap();
        let d = policy.decide(&input);
        let rules: Vec<&Gen> = sys.iter().chain(&user).collect();
        let matching = |v: Verdict| rules.iter().any(|g| g.action == v && oracle_matches(g, &input));
        if d.verdict == Verdict::Allow && input.effect != Risk::Read {
            prop_assert!(input.caller.admin || own_home_only(&input), "non-admin allowed: {d:?}");
            prop_assert!(matching(Verdict::Allow), "allowed with no allow rule: {d:?}");
            prop_assert!(!matching(Verdict::Ask) && !matching(Verdict::Deny), "allowed over an ask/deny: {d:?}");
            prop_assert!(matches!(d.source, RuleSource::System | RuleSource::User));
        }
        if matching(Verdict::Deny) {
            prop_assert_eq!(d.verdict, Verdict::Deny, "{:?}", d);
        }
        if input.caller.session_kind == SessionKind::Background {
            prop_assert_ne!(d.verdict, Verdict::Ask);
        }
        if d.verdict == Verdict::Ask && input.effect == Risk::Destructive {
            prop_assert!(d.confirm.is_some());
        }
    }

    #[test]
    fn builtin_denials_hold_whatever_the_rules(
        sys in prop::collection::vec(gen_rule(), 0..6),
        user in prop::collection::vec(gen_rule(), 0..4),
        case in select(vec![
            "fs.delete destructive path:/etc",
            "fs.delete destructive path:/",
            "disk.format destructive device:/dev/sda1",
            "pkg.remove change package:systemd",
            "service.stop change service:sshd",
            "firewall.deny change firewall port:22",
            "fs.write change path:/var/lib/aios/audit/ledger.db",
        ]),
        admin_flag in any::<bool>(),
        session in select(vec![SessionKind::Interactive, SessionKind::OneShot, SessionKind::Background]),
    ) {
        // Always an allow-everything rule, for both files, among the rest.
        let everything = Gen {
            action: Verdict::Allow,
            tools: vec!["*"],
            effect: Vec::new(),
            paths: None,
            services: None,
            ports: None,
            cidr_all_v4: false,
            sessions: Vec::new(),
        };
        let (mut sys, mut user) = (sys, user);
        sys.push(everything.clone());
        user.insert(0, everything);
        let policy = Policy::from_toml(&to_toml(&sys, "s"), &to_toml(&user, "u")).unwrap();
        let mut input = call(case);
        input.caller.admin = admin_flag;
        input.caller.session_kind = session;
        let d = policy.decide(&input);
        prop_assert_eq!(d.verdict, Verdict::Deny);
        prop_assert_eq!(d.source, RuleSource::Builtin);
    }
}
