//! The systemd back-end of the `service.*` tools against a FAKE
//! `systemctl`: systemd cannot run in CI, so a shell script stands in for
//! it. The fake records every call's arguments (one line each in `calls`),
//! keeps the state of one unit, `nginx.service`, in two files, and prints
//! `show` output in systemd's format. `app.service` requires nginx and is
//! running. Every test here is about the tools' use of `systemctl`, not
//! about systemd.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::*;
use crate::{Access, Identity, OutputSink, Registry, ToolErrorKind};

const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
# FAKE systemctl for aios-catalog tests (not systemd).
D=$(dirname "$0")
echo "$*" >> "$D/calls"
for a; do last=$a; done
active=$(cat "$D/nginx.active")
enabled=$(cat "$D/nginx.enabled")
case "$1" in
show)
  case "$2" in
  --property=RequiredBy,BoundBy,RequisiteOf)
    printf 'RequiredBy=app.service\nBoundBy=\nRequisiteOf=\n' ;;
  --property=Id,ActiveState)
    printf 'Id=app.service\nActiveState=active\n' ;;
  *)
    if [ "$last" = nginx.service ] || [ "$last" = nginx ]; then
      if [ "$active" = active ]; then sub=running; pid=4242; else sub=dead; pid=0; fi
      printf 'Id=nginx.service\nDescription=A high performance web server\nLoadState=loaded\n'
      printf 'ActiveState=%s\nSubState=%s\nUnitFileState=%s\nMainPID=%s\n' "$active" "$sub" "$enabled" "$pid"
    else
      printf 'Id=%s\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\nMainPID=0\n' "$last"
    fi ;;
  esac ;;
start) echo active > "$D/nginx.active" ;;
stop) echo inactive > "$D/nginx.active" ;;
restart) echo active > "$D/nginx.active" ;;
enable) echo enabled > "$D/nginx.enabled" ;;
disable) echo disabled > "$D/nginx.enabled" ;;
list-units)
  echo 'nginx.service loaded '"$active"' running A high performance web server'
  echo 'app.service loaded active running The app'
  echo '● broken.service loaded failed failed Always breaks' ;;
list-unit-files)
  echo "nginx.service $enabled enabled"
  echo 'app.service static -' ;;
*) echo "fake systemctl: unexpected $*" >&2; exit 1 ;;
esac
"#;

/// A directory holding the fake `systemctl`, with nginx in the given state.
struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new(active: &str, enabled: &str) -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("systemctl");
        std::fs::write(&script, FAKE_SYSTEMCTL).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.path().join("nginx.active"), format!("{active}\n")).unwrap();
        std::fs::write(dir.path().join("nginx.enabled"), format!("{enabled}\n")).unwrap();
        Fake { dir }
    }

    fn host(&self) -> Host {
        Host {
            bin: Some(self.dir.path().to_path_buf()),
            systemd: Some(true),
            journald: Some(false),
            ..Host::default()
        }
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

fn registry(fake: &Fake) -> Registry {
    let mut b = Registry::builder()
        .register(super::super::ServiceList::with_host(fake.host()))
        .register(super::super::ServiceFailed::with_host(fake.host()));
    for a in [
        ServiceAction::Start,
        ServiceAction::Stop,
        ServiceAction::Restart,
        ServiceAction::Enable,
        ServiceAction::Disable,
    ] {
        b = b.register(ServiceChange::with_host(a, fake.host()));
    }
    b.build()
}

fn need_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    eprintln!("skipped: the systemctl run path needs root (CI runs as root)");
    false
}

#[tokio::test]
async fn fake_systemctl_stop_previews_dependents_runs_and_records_start_as_undo() {
    if !need_root() {
        return;
    }
    let fake = Fake::new("active", "enabled");
    let r = registry(&fake);
    let p = r
        .prepare("service.stop", json!({"name": "nginx.service"}))
        .unwrap();
    let ctx = ToolCtx::local();
    let a = p.assess(&ctx).await.unwrap();
    assert_eq!(a.effect, Risk::Change);
    assert!(
        a.preview.summary.starts_with(
            "nginx.service: active (running) → stopped; 1 running unit needs it: app.service"
        ),
        "{}",
        a.preview.summary
    );
    assert!(
        a.resources
            .contains(&Resource::Service("app.service".into()))
    );
    // The preview changed nothing.
    assert!(!fake.calls().iter().any(|c| c.starts_with("stop")));
    let v = p.run(ctx.clone()).await.unwrap();
    assert_eq!(v["after"]["active"], "inactive", "{v}");
    assert_eq!(v["dependents"], json!(["app.service"]));
    assert_eq!(
        v["summary"],
        "nginx.service: active (running) → inactive (dead)"
    );
    // Names go after `--`, never where an option could be.
    assert!(
        fake.calls()
            .contains(&"stop --no-pager -- nginx.service".to_string()),
        "{:?}",
        fake.calls()
    );
    let undo = ctx.take_undo().unwrap();
    assert_eq!(undo.tool, "service.start");
    assert_eq!(undo.args, json!({"name": "nginx.service"}));
}

#[tokio::test]
async fn fake_systemctl_stopping_a_stopped_unit_leaves_no_undo() {
    if !need_root() {
        return;
    }
    let fake = Fake::new("inactive", "enabled");
    let r = registry(&fake);
    let p = r.prepare("service.stop", json!({"name": "nginx"})).unwrap();
    let ctx = ToolCtx::local();
    let a = p.assess(&ctx).await.unwrap();
    assert!(
        a.preview.summary.contains("already inactive (dead)"),
        "{}",
        a.preview.summary
    );
    p.run(ctx.clone()).await.unwrap();
    assert!(ctx.take_undo().is_none());
}

#[tokio::test]
async fn fake_systemctl_start_restart_enable_disable() {
    if !need_root() {
        return;
    }
    let fake = Fake::new("inactive", "disabled");
    let r = registry(&fake);
    let ctx = ToolCtx::local();
    let v = r
        .prepare("service.start", json!({"name": "nginx"}))
        .unwrap()
        .run(ctx.clone())
        .await
        .unwrap();
    assert_eq!(v["after"]["active"], "active");
    assert_eq!(ctx.take_undo().unwrap().tool, "service.stop");

    let v = r
        .prepare("service.restart", json!({"name": "nginx"}))
        .unwrap()
        .run(ctx.clone())
        .await
        .unwrap();
    assert_eq!(v["action"], "restart");
    assert!(ctx.take_undo().is_none(), "restart has no undo");

    let p = r
        .prepare("service.enable", json!({"name": "nginx"}))
        .unwrap();
    let a = p.assess(&ctx).await.unwrap();
    assert_eq!(
        a.preview.summary,
        "nginx: disabled at boot → enabled at boot"
    );
    let v = p.run(ctx.clone()).await.unwrap();
    assert_eq!(v["after"]["enabled"], "enabled");
    assert_eq!(ctx.take_undo().unwrap().tool, "service.disable");

    let v = r
        .prepare("service.disable", json!({"name": "nginx"}))
        .unwrap()
        .run(ctx.clone())
        .await
        .unwrap();
    assert_eq!(v["summary"], "nginx: enabled at boot → disabled at boot");
    assert_eq!(ctx.take_undo().unwrap().tool, "service.enable");
    let verbs: Vec<String> = fake
        .calls()
        .iter()
        .filter(|c| !c.starts_with("show"))
        .cloned()
        .collect();
    assert_eq!(
        verbs,
        [
            "start --no-pager -- nginx",
            "restart --no-pager -- nginx",
            "enable --no-pager -- nginx",
            "disable --no-pager -- nginx"
        ]
    );
}

#[tokio::test]
async fn fake_systemctl_unknown_unit_is_not_found() {
    let fake = Fake::new("active", "enabled");
    let r = registry(&fake);
    let e = r
        .prepare("service.start", json!({"name": "nope"}))
        .unwrap()
        .run(ToolCtx::local())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ToolErrorKind::NotFound);
    assert!(e.message().contains("service.list"), "{e}");
}

#[tokio::test]
async fn fake_systemctl_list_and_failed() {
    let fake = Fake::new("active", "enabled");
    let r = registry(&fake);
    let v = r
        .prepare("service.list", json!({}))
        .unwrap()
        .run(ToolCtx::local())
        .await
        .unwrap();
    assert_eq!(v["total"], 3, "{v}");
    assert_eq!(v["manager"], "systemd");
    assert_eq!(v["summary"], "3 services (systemd), 2 running");
    assert_eq!(v["services"][2]["name"], "nginx.service");
    assert_eq!(v["services"][2]["enabled"], "enabled");
    let v = r
        .prepare("service.list", json!({"limit": 1}))
        .unwrap()
        .run(ToolCtx::local())
        .await
        .unwrap();
    assert_eq!(v["truncated"], true);
    assert_eq!(v["services"].as_array().unwrap().len(), 1);
    let v = r
        .prepare("service.failed", json!({}))
        .unwrap()
        .run(ToolCtx::local())
        .await
        .unwrap();
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(v["services"][0]["name"], "broken.service");
    assert!(
        fake.calls().iter().any(|c| c.contains("--state=failed")),
        "{:?}",
        fake.calls()
    );
}

#[tokio::test]
async fn fake_systemctl_change_without_root_is_denied_but_previews() {
    if !need_root() {
        return;
    }
    let fake = Fake::new("active", "enabled");
    // nobody must reach the fake: open up the temporary directory.
    std::fs::set_permissions(fake.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    for f in ["calls", "nginx.active", "nginx.enabled"] {
        let p = fake.path().join(f);
        if !Path::new(&p).exists() {
            std::fs::write(&p, "").unwrap();
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
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
    let r = registry(&fake);
    let p = r.prepare("service.stop", json!({"name": "nginx"})).unwrap();
    let a = p.assess(&ctx).await.unwrap();
    assert!(
        a.preview.summary.ends_with("(the real run needs root)"),
        "{}",
        a.preview.summary
    );
    let e = p.run(ctx).await.unwrap_err();
    assert_eq!(e.kind(), ToolErrorKind::PermissionDenied);
    assert!(e.message().contains("needs root"), "{e}");
    assert!(!fake.calls().iter().any(|c| c.starts_with("stop")));
}
