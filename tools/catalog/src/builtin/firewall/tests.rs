//! The firewall tools against real `nft`, inside a network namespace each
//! test creates (`ip netns add`), so the host's own rule set is never
//! touched. Skipped, with the reason printed, when not root or when `nft`
//! or `ip` is missing.

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::json;

use super::*;
use aios_domain::{PreviewDetail, Risk};

use crate::{Access, Identity, OutputSink, Registry, Resource, ToolErrorKind};

/// A throwaway network namespace, deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Option<Netns> {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: network namespaces need root (CI runs as root)");
            return None;
        }
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "aios-fw-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let ok = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: `ip netns add` failed (is iproute2 installed?)");
            return None;
        }
        let ns = Netns(name);
        let nft = std::process::Command::new("ip")
            .args(["netns", "exec", &ns.0, "nft", "list", "ruleset"])
            .output();
        if !nft.is_ok_and(|o| o.status.success()) {
            eprintln!("skipped: nft does not run (apt-get install nftables)");
            return None;
        }
        Some(ns)
    }

    fn host(&self) -> Host {
        Host {
            netns: Some(self.0.clone()),
            ..Host::default()
        }
    }

    fn nft(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.0, "nft"])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

fn registry(host: &Host) -> Registry {
    Registry::builder()
        .register(FirewallList::with_host(host.clone()))
        .register(FirewallAdd::with_host(true, host.clone()))
        .register(FirewallAdd::with_host(false, host.clone()))
        .register(FirewallDelete::with_host(host.clone()))
        .build()
}

#[test]
fn cidrs_are_checked_and_canonical() {
    assert_eq!(Cidr::parse("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
    assert_eq!(
        Cidr::parse("192.168.1.5").unwrap().to_string(),
        "192.168.1.5"
    );
    assert_eq!(
        Cidr::parse("192.168.1.5/32").unwrap().to_string(),
        "192.168.1.5"
    );
    assert_eq!(Cidr::parse("FD00::/8").unwrap().to_string(), "fd00::/8");
    for bad in [
        "10.0.0.1/8",
        "10.0.0.0/33",
        "300.1.1.1",
        "x",
        "1.2.3.4/-1",
        "; drop",
        "",
    ] {
        assert!(Cidr::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn rule_words_round_trip_through_the_comment() {
    let spec = RuleSpec {
        allow: false,
        protocol: Protocol::Udp,
        port: Some(53),
        source: Some(Cidr::parse("fd00::/8").unwrap()),
    };
    assert_eq!(spec.words(), "deny udp/53 from fd00::/8");
    assert_eq!(
        spec.body(),
        "ip6 saddr fd00::/8 udp dport 53 drop comment \"aios:deny udp/53 from fd00::/8\""
    );
    assert_eq!(
        RuleSpec::from_comment(&format!("aios:{}", spec.words())),
        Some(spec)
    );
    assert_eq!(
        RuleSpec::from_comment("aios:allow tcp/22 from anywhere extra"),
        None
    );
    assert_eq!(RuleSpec::from_comment("someone else's"), None);
}

#[test]
fn bad_arguments_are_refused_before_anything_runs() {
    let r = Registry::builtin();
    let e = r.prepare("firewall.allow", json!({})).unwrap_err();
    assert!(e.message().contains("give `port`, `source` or both"), "{e}");
    let e = r
        .prepare("firewall.deny", json!({"source": "10.0.0.1/8"}))
        .unwrap_err();
    assert!(
        e.message().contains("`source`") && e.message().contains("host bits"),
        "{e}"
    );
    let e = r
        .prepare("firewall.allow", json!({"port": 70000}))
        .unwrap_err();
    assert!(e.message().contains("`port`"), "{e}");
    let e = r
        .prepare("firewall.allow", json!({"port": 22, "protocol": "icmp"}))
        .unwrap_err();
    assert!(e.message().contains("`protocol`"), "{e}");
    // The canonical form shows the normalised network and the default protocol.
    let p = r
        .prepare("firewall.allow", json!({"port": 22, "source": "FD00::/8"}))
        .unwrap();
    assert_eq!(
        p.canonical,
        json!({"port": 22, "protocol": "tcp", "source": "fd00::/8"})
    );
}

#[tokio::test]
async fn allow_checks_adds_lists_deletes_and_undoes_in_a_namespace() {
    let Some(ns) = Netns::new() else { return };
    let r = registry(&ns.host());
    let ctx = ToolCtx::local();

    // Preview: the exact commands and a real `nft --check`, changing nothing.
    let p = r
        .prepare(
            "firewall.allow",
            json!({"port": 22, "source": "10.0.0.0/8"}),
        )
        .unwrap();
    let a = p.assess(&ctx).await.unwrap();
    assert_eq!(
        a.preview.summary,
        "add to inet aios input: allow tcp/22 from 10.0.0.0/8"
    );
    match &a.preview.detail {
        PreviewDetail::DryRun { command, output } => {
            assert!(
                command.starts_with("nft --check:\nadd table inet aios\n"),
                "{command}"
            );
            assert!(
                command.contains("ip saddr 10.0.0.0/8 tcp dport 22 accept"),
                "{command}"
            );
            assert_eq!(output, "ok: nft accepts these commands");
        }
        other => panic!("{other:?}"),
    }
    assert!(a.resources.contains(&Resource::Port(22)));
    assert!(a.resources.contains(&Resource::Cidr("10.0.0.0/8".into())));
    assert!(!ns.nft(&["list", "ruleset"]).contains("aios"));

    // Run: the table appears with the rule, and the undo deletes its handle.
    let v = p.run(ctx.clone()).await.unwrap();
    let handle = v["handle"].as_u64().unwrap();
    assert_eq!(v["added"], true);
    let listing = ns.nft(&["-a", "list", "chain", "inet", "aios", "input"]);
    assert!(
        listing.contains(&format!("ip saddr 10.0.0.0/8 tcp dport 22 accept comment \"aios:allow tcp/22 from 10.0.0.0/8\" # handle {handle}")),
        "{listing}"
    );
    let undo = ctx.take_undo().unwrap();
    assert_eq!(undo.tool, "firewall.delete");
    assert_eq!(undo.args, json!({"handle": handle}));

    // The same rule again adds nothing and leaves no undo.
    let v = r
        .prepare(
            "firewall.allow",
            json!({"port": 22, "source": "10.0.0.0/8"}),
        )
        .unwrap()
        .run(ctx.clone())
        .await
        .unwrap();
    assert_eq!(v["added"], false);
    assert_eq!(v["handle"], handle);
    assert!(ctx.take_undo().is_none());

    // A deny on udp, then the list shows both with handles.
    let v = r
        .prepare("firewall.deny", json!({"port": 161, "protocol": "udp"}))
        .unwrap()
        .run(ctx.clone())
        .await
        .unwrap();
    let deny_handle = v["handle"].as_u64().unwrap();
    let v = r
        .prepare("firewall.list", json!({}))
        .unwrap()
        .run(ctx.clone())
        .await
        .unwrap();
    assert_eq!(
        v["summary"], "1 table, 1 chain, 2 rules; 2 in aiOS's table inet aios",
        "{v}"
    );
    assert_eq!(v["chains"][0]["hook"], "input");
    assert_eq!(v["chains"][0]["policy"], "accept");
    assert_eq!(v["rules"][0]["handle"], handle);
    assert_eq!(
        v["rules"][0]["rule"], "ip saddr 10.0.0.0/8 tcp dport 22 accept",
        "{v}"
    );
    assert_eq!(v["rules"][1]["rule"], "udp dport 161 drop", "{v}");
    let v = r
        .prepare("firewall.list", json!({"limit": 1}))
        .unwrap()
        .run(ctx.clone())
        .await
        .unwrap();
    assert_eq!(
        (v["total"].as_u64(), v["truncated"].as_bool()),
        (Some(2), Some(true))
    );

    // Delete: the preview shows the rule; the undo re-adds the same rule.
    let p = r
        .prepare("firewall.delete", json!({"handle": deny_handle}))
        .unwrap();
    let a = p.assess(&ctx).await.unwrap();
    assert_eq!(a.effect, Risk::Destructive);
    assert_eq!(
        a.preview.summary,
        "delete from inet aios input: deny udp/161 from anywhere"
    );
    p.run(ctx.clone()).await.unwrap();
    assert!(!ns.nft(&["list", "ruleset"]).contains("dport 161"));
    let undo = ctx.take_undo().unwrap();
    assert_eq!(undo.tool, "firewall.deny");
    let v = r
        .prepare(&undo.tool, undo.args.clone())
        .unwrap()
        .run(ctx.clone())
        .await
        .unwrap();
    assert_eq!(v["added"], true);
    assert!(ns.nft(&["list", "ruleset"]).contains("udp dport 161 drop"));

    // A handle that is not aiOS's is refused, naming the ones that are.
    let e = r
        .prepare("firewall.delete", json!({"handle": 9999}))
        .unwrap()
        .run(ctx.clone())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ToolErrorKind::NotFound);
    assert!(e.message().contains("handles ["), "{e}");
}

#[tokio::test]
async fn a_rejected_rule_shows_in_the_dry_run() {
    let Some(ns) = Netns::new() else { return };
    // A clashing definition of aiOS's chain makes nft refuse the script.
    ns.nft(&["add table inet aios"]);
    ns.nft(&["add chain inet aios input { type filter hook output priority 0; }"]);
    let r = registry(&ns.host());
    let a = r
        .prepare("firewall.deny", json!({"port": 23}))
        .unwrap()
        .assess(&ToolCtx::local())
        .await
        .unwrap();
    match &a.preview.detail {
        PreviewDetail::DryRun { output, .. } => {
            assert!(output.starts_with("nft rejects these commands"), "{output}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn without_root_changes_are_denied_and_the_preview_still_checks() {
    let Some(ns) = Netns::new() else { return };
    let nobody = Identity {
        uid: 65534,
        gid: 65534,
        groups: vec![65534],
        name: Some("nobody".into()),
        home: None,
    };
    let ctx = ToolCtx::new(
        tokio_util::sync::CancellationToken::new(),
        OutputSink::discard(),
        Access::as_user(nobody),
    );
    let r = registry(&ns.host());
    let p = r.prepare("firewall.allow", json!({"port": 443})).unwrap();
    let a = p.assess(&ctx).await.unwrap();
    assert!(
        a.preview.summary.ends_with("(the real run needs root)"),
        "{}",
        a.preview.summary
    );
    match &a.preview.detail {
        PreviewDetail::DryRun { command, output } => {
            assert!(command.starts_with("unshare -rn nft --check"), "{command}");
            // Unprivileged user namespaces may be off on some hosts; then
            // the dry run says why instead.
            assert!(
                output.starts_with("ok:") || output.contains("nft rejects"),
                "{output}"
            );
        }
        other => panic!("{other:?}"),
    }
    let e = p.run(ctx.clone()).await.unwrap_err();
    assert_eq!(e.kind(), ToolErrorKind::PermissionDenied);
    assert!(e.message().contains("needs root"), "{e}");
    let e = r
        .prepare("firewall.list", json!({}))
        .unwrap()
        .run(ctx)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ToolErrorKind::PermissionDenied);
}
