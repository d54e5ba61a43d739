//! The `pkg` tools: simulations and queries against the real apt and dpkg
//! of this host (`apt-get -s`, `apt-cache`, `dpkg-query`; never
//! `apt-get update`, never a real install), and the install/remove run
//! path against FAKE `apt-get`, `apt-cache` and `dpkg-query` scripts that
//! keep a pretend dpkg database in a text file.

use std::os::unix::fs::PermissionsExt;

use aios_domain::{PreviewDetail, Risk};
use serde_json::json;

use super::*;
use crate::{Registry, ToolErrorKind};

fn call_sync_reg() -> Registry {
    Registry::builtin()
}

/// Whether apt can simulate installing `hello` here (package lists present
/// and `hello` not installed).
fn hello_available() -> bool {
    let out = std::process::Command::new("apt-cache")
        .args(["policy", "hello"])
        .output();
    let ok = out.is_ok_and(|o| {
        let t = String::from_utf8_lossy(&o.stdout).into_owned();
        t.contains("Candidate:")
            && !t.contains("Candidate: (none)")
            && t.contains("Installed: (none)")
    });
    if !ok {
        eprintln!(
            "skipped: apt cannot simulate installing `hello` here (empty package lists, or it is installed); \
             tests never run apt-get update"
        );
    }
    ok
}

#[test]
fn simulation_output_parses() {
    let text = "NOTE: This is only a simulation!\n\
        Inst libfoo1 (1.2-1 Debian:12/stable [amd64])\n\
        Inst apt [2.6.1] (2.6.1+deb12u1 Debian-Security:12/stable-security [amd64])\n\
        Remv oldthing [0.9]\n\
        Conf libfoo1 (1.2-1 Debian:12/stable [amd64])\n";
    let sim = parse_simulation(text);
    assert_eq!(
        sim.install,
        [PackageMove {
            name: "libfoo1".into(),
            from: None,
            to: Some("1.2-1".into())
        }]
    );
    assert_eq!(sim.upgrade[0].from.as_deref(), Some("2.6.1"));
    assert_eq!(sim.upgrade[0].to.as_deref(), Some("2.6.1+deb12u1"));
    assert_eq!(sim.remove[0].name, "oldthing");
    assert_eq!(sim.remove[0].from.as_deref(), Some("0.9"));
    assert_eq!(
        sim.items(),
        [
            "install libfoo1 1.2-1",
            "upgrade apt 2.6.1 → 2.6.1+deb12u1",
            "remove oldthing 0.9"
        ]
    );
}

#[test]
fn package_names_are_validated_at_the_boundary() {
    let r = call_sync_reg();
    for bad in [
        json!({"packages": ["-y"]}),
        json!({"packages": ["a; rm -rf /"]}),
        json!({"packages": []}),
    ] {
        let e = r.prepare("pkg.install", bad.clone()).unwrap_err();
        assert_eq!(e.kind(), ToolErrorKind::InvalidArgs, "{bad}");
        assert!(e.message().contains("packages"), "{e}");
    }
    let e = r
        .prepare("pkg.info", json!({"name": "--help"}))
        .unwrap_err();
    assert!(e.message().contains("Debian package name"), "{e}");
    // Canonical: sorted, without duplicates; upgrade with no names is everything.
    let p = r
        .prepare("pkg.remove", json!({"packages": ["zsh", "bash", "zsh"]}))
        .unwrap();
    assert_eq!(p.canonical, json!({"packages": ["bash", "zsh"]}));
    let p = r.prepare("pkg.upgrade", json!({})).unwrap();
    assert_eq!(p.resources, [Resource::Package("*".into())]);
    let e = r
        .prepare("pkg.installed", json!({"pattern": "$(x)"}))
        .unwrap_err();
    assert!(e.message().contains("`pattern`"), "{e}");
}

use crate::Resource;

#[tokio::test]
async fn real_apt_simulates_installing_hello() {
    if !hello_available() {
        return;
    }
    let p = call_sync_reg()
        .prepare("pkg.install", json!({"packages": ["hello"]}))
        .unwrap();
    let a = p.assess(&ToolCtx::local()).await.unwrap();
    assert_eq!(a.effect, Risk::Change);
    assert!(
        a.preview
            .summary
            .starts_with("install hello: 1 to install, 0 to upgrade, 0 to remove, "),
        "{}",
        a.preview.summary
    );
    assert!(
        a.preview.summary.contains("KiB to download"),
        "{}",
        a.preview.summary
    );
    match &a.preview.detail {
        PreviewDetail::DryRun { command, output } => {
            assert_eq!(command, "apt-get -s -q install -- hello");
            assert!(output.starts_with("install hello "), "{output}");
        }
        other => panic!("{other:?}"),
    }
    // Nothing was installed by the preview.
    let set = installed_set(&ToolCtx::local(), &Host::default())
        .await
        .unwrap();
    assert!(!set.contains_key("hello"));
}

#[tokio::test]
async fn real_apt_refuses_an_unknown_package_clearly() {
    if !hello_available() {
        return;
    }
    let e = call_sync_reg()
        .prepare("pkg.install", json!({"packages": ["no-such-package-aios"]}))
        .unwrap()
        .assess(&ToolCtx::local())
        .await
        .unwrap_err();
    assert!(e.message().contains("no-such-package-aios"), "{e}");
    assert!(
        e.message()
            .contains("apt-get -s -q install -- no-such-package-aios"),
        "{e}"
    );
}

#[tokio::test]
async fn real_dpkg_lists_installed_packages_and_info() {
    let r = call_sync_reg();
    let v = r
        .prepare("pkg.installed", json!({"pattern": "dpkg"}))
        .unwrap()
        .run(ToolCtx::local())
        .await
        .unwrap();
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(v["packages"][0]["name"], "dpkg");
    assert_eq!(v["summary"], "1 installed package match dpkg");
    let v = r
        .prepare("pkg.installed", json!({"limit": 3}))
        .unwrap()
        .run(ToolCtx::local())
        .await
        .unwrap();
    assert_eq!(v["packages"].as_array().unwrap().len(), 3);
    assert_eq!(v["truncated"], true);
    let v = r
        .prepare("pkg.info", json!({"name": "dpkg"}))
        .unwrap()
        .run(ToolCtx::local())
        .await
        .unwrap();
    assert!(v["installed"].is_string(), "{v}");
    assert!(v["summary"].as_str().unwrap().starts_with("dpkg "), "{v}");
    let e = r
        .prepare("pkg.info", json!({"name": "no-such-package-aios"}))
        .unwrap()
        .run(ToolCtx::local())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ToolErrorKind::NotFound);
}

#[tokio::test]
async fn real_apt_search_and_updates() {
    if !hello_available() {
        return;
    }
    let r = call_sync_reg();
    let v = r
        .prepare(
            "pkg.search",
            json!({"query": "hello", "names_only": true, "limit": 500}),
        )
        .unwrap()
        .run(ToolCtx::local())
        .await
        .unwrap();
    let names: Vec<&str> = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"hello"), "{v}");
    let v = r
        .prepare("pkg.updates", json!({"limit": 1}))
        .unwrap()
        .run(ToolCtx::local())
        .await
        .unwrap();
    let total = v["total"].as_u64().unwrap();
    assert_eq!(v["truncated"], total > 1, "{v}");
}

const FAKE_APT_GET: &str = r#"#!/bin/sh
# FAKE apt-get for aios-catalog tests: simulates and "installs" into a text
# database that the fake dpkg-query reads. Not apt.
D=$(dirname "$0")
echo "$*" >> "$D/calls"
sim=no; verb=; pkgs=; seen=no; skip=no
for a; do
  if [ $skip = yes ]; then skip=no; continue; fi
  case "$a" in
  -s) sim=yes ;;
  -o) skip=yes ;;
  --) seen=yes ;;
  -*) ;;
  *) if [ $seen = yes ]; then pkgs="$pkgs $a"; elif [ -z "$verb" ]; then verb=$a; fi ;;
  esac
done
for p in $pkgs; do
  case "$verb" in
  install)
    if [ $sim = yes ]; then echo "Inst $p (1.0 Fake:1 [amd64])"; echo "Inst $p-data (1.0 Fake:1 [all])";
    else printf '%s\t1.0\tii \n%s-data\t1.0\tii \n' "$p" "$p" >> "$D/db"; fi ;;
  remove)
    if [ $sim = yes ]; then echo "Remv $p [1.0]";
    else grep -v "^$p	" "$D/db" > "$D/db.new"; mv "$D/db.new" "$D/db"; fi ;;
  esac
done
"#;

const FAKE_DPKG_QUERY: &str =
    "#!/bin/sh\n# FAKE dpkg-query for aios-catalog tests\ncat \"$(dirname \"$0\")/db\"\n";
const FAKE_APT_CACHE: &str = "#!/bin/sh\n# FAKE apt-cache for aios-catalog tests\nfor a; do case \"$a\" in -*|show) ;; *) echo \"Package: $a\"; echo 'Size: 1024'; echo;; esac; done\n";

fn fakes() -> (tempfile::TempDir, Host) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("apt-get", FAKE_APT_GET),
        ("dpkg-query", FAKE_DPKG_QUERY),
        ("apt-cache", FAKE_APT_CACHE),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(dir.path().join("db"), "base-files\t12\tii \n").unwrap();
    let host = Host {
        bin: Some(dir.path().to_path_buf()),
        ..Host::default()
    };
    (dir, host)
}

#[tokio::test]
async fn fake_apt_install_records_the_newly_installed_packages_as_undo() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: the install run path needs root (CI runs as root)");
        return;
    }
    let (dir, host) = fakes();
    let r = Registry::builder()
        .register(PkgChange::install().on(host.clone()))
        .register(PkgChange::remove().on(host.clone()))
        .build();
    let ctx = ToolCtx::local();
    let p = r
        .prepare("pkg.install", json!({"packages": ["hello"]}))
        .unwrap();
    let a = p.assess(&ctx).await.unwrap();
    assert_eq!(
        a.preview.summary,
        "install hello: 2 to install, 0 to upgrade, 0 to remove, 2.0 KiB to download"
    );
    assert!(
        a.resources
            .contains(&Resource::Package("hello-data".into()))
    );
    let v = p.run(ctx.clone()).await.unwrap();
    assert_eq!(v["installed"], json!(["hello", "hello-data"]), "{v}");
    assert_eq!(
        v["summary"],
        "install hello: 2 installed, 0 upgraded, 0 removed"
    );
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    assert!(
        calls.contains("-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install -- hello"),
        "{calls}"
    );
    let undo = ctx.take_undo().unwrap();
    assert_eq!(undo.tool, "pkg.remove");
    assert_eq!(undo.args, json!({"packages": ["hello", "hello-data"]}));

    // The undo itself: a removal, previewed as destructive, whose own undo
    // installs the packages back.
    let p = r.prepare(&undo.tool, undo.args).unwrap();
    let a = p.assess(&ctx).await.unwrap();
    assert_eq!(a.effect, Risk::Destructive);
    let v = p.run(ctx.clone()).await.unwrap();
    assert_eq!(v["removed"], json!(["hello", "hello-data"]), "{v}");
    let undo = ctx.take_undo().unwrap();
    assert_eq!(undo.tool, "pkg.install");
    assert_eq!(undo.args, json!({"packages": ["hello", "hello-data"]}));
    // base-files was there before and is untouched.
    let db = std::fs::read_to_string(dir.path().join("db")).unwrap();
    assert_eq!(db, "base-files\t12\tii \n");
}

#[tokio::test]
async fn without_root_installing_is_denied_but_simulated() {
    if !nix::unistd::geteuid().is_root() || !hello_available() {
        return;
    }
    let nobody = crate::Identity {
        uid: 65534,
        gid: 65534,
        groups: vec![65534],
        name: Some("nobody".into()),
        home: None,
    };
    let ctx = ToolCtx::new(
        tokio_util::sync::CancellationToken::new(),
        crate::OutputSink::discard(),
        crate::Access::as_user(nobody),
    );
    let p = call_sync_reg()
        .prepare("pkg.install", json!({"packages": ["hello"]}))
        .unwrap();
    let a = p.assess(&ctx).await.unwrap();
    assert!(
        a.preview.summary.ends_with("(the real run needs root)"),
        "{}",
        a.preview.summary
    );
    let e = p.run(ctx).await.unwrap_err();
    assert_eq!(e.kind(), ToolErrorKind::PermissionDenied);
    assert!(e.message().contains("needs root"), "{e}");
}
