//! `Policy::decide` on a realistic load: a 50-rule system file and a
//! 10-rule user file, over an `fs.write` and a `service.restart` call.
//! Gate: ≤ 20 µs per decision (target ≤ 2 µs).

use std::hint::black_box;

use aios_domain::{Caller, HostFacts, PolicyInput, Resource, Risk, SessionKind};
use aios_policy::Policy;
use criterion::{Criterion, criterion_group, criterion_main};

fn system_file() -> String {
    let mut s = String::new();
    for i in 0..50 {
        let body = match i % 5 {
            0 => format!(
                "action = \"allow\"\ntools = [\"service.restart\", \"service.status\"]\nservices = [\"app{i}-*\"]\n"
            ),
            1 => format!(
                "action = \"ask\"\ntools = [\"fs.*\"]\npaths = [\"/srv/site{i}/**\", \"/opt/app{i}/*.conf\"]\n"
            ),
            2 => format!(
                "action = \"deny\"\ntools = [\"firewall.*\"]\nports = [\"{}\", \"9000-9099\"]\ncidrs = [\"10.{i}.0.0/16\"]\n",
                1000 + i
            ),
            3 => format!(
                "action = \"allow\"\ntools = [\"pkg.install\"]\npackages = [\"lib{i}*\"]\nprincipals = [\"group:dev{i}\"]\n"
            ),
            _ => format!(
                "action = \"ask\"\ntools = [\"user.*\", \"cron.*\"]\nusers = [\"svc{i}\"]\nsessions = [\"interactive\"]\n"
            ),
        };
        s.push_str(&format!(
            "[[rule]]\nid = \"sys-{i}\"\n{body}reason = \"bench rule {i}\"\n\n"
        ));
    }
    s
}

fn user_file() -> String {
    let mut s = String::new();
    for i in 0..10 {
        s.push_str(&format!(
            "[[rule]]\nid = \"grant-bench-{i}\"\naction = \"allow\"\ntools = [\"fs.write\"]\neffect = [\"change\"]\npaths = [\"~/project{i}/**\"]\n\n"
        ));
    }
    s
}

fn input(tool: &str, resources: Vec<Resource>) -> PolicyInput {
    PolicyInput {
        tool: tool.into(),
        args: serde_json::json!({}),
        effect: Risk::Change,
        resources,
        caller: Caller {
            uid: 1000,
            user: "alice".into(),
            groups: vec!["alice".into(), "sudo".into()],
            admin: true,
            home: "/home/alice".into(),
            session_kind: SessionKind::Interactive,
        },
        host: HostFacts {
            ssh_ports: vec![22],
            mounted_devices: vec!["/dev/sda1".into()],
            ledger_path: "/var/lib/aios/audit/ledger.db".into(),
            kernel_release: "6.1.0-bench".into(),
        },
    }
}

fn bench(c: &mut Criterion) {
    let policy = match Policy::from_toml(&system_file(), &user_file()) {
        Ok(p) => p,
        Err(e) => panic!("bench policy does not load: {e}"),
    };
    let write = input(
        "fs.write",
        vec![Resource::Path("/home/alice/project7/src/main.rs".into())],
    );
    let restart = input(
        "service.restart",
        vec![Resource::Service("app45-web".into())],
    );
    c.bench_function("decide fs.write (50+10 rules)", |b| {
        b.iter(|| policy.decide(black_box(&write)))
    });
    c.bench_function("decide service.restart (50+10 rules)", |b| {
        b.iter(|| policy.decide(black_box(&restart)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
