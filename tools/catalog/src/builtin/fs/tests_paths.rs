//! The `fs` tools that act on paths rather than content, through the
//! registry against real temporary directories: copy, move, chmod, chown,
//! mkdir (effects, previews, the change, undo, refusals).

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use aios_domain::{PreviewDetail, Risk};
use serde_json::{Value, json};

use super::tests::{assess, call, ctx_with_state};
use crate::{Access, Assessment, Identity, OutputSink, ToolCtx, ToolErrorKind};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

async fn undo(ctx: &ToolCtx) -> Value {
    let u = ctx.take_undo().expect("the change left an undo record");
    call(ctx, &u.tool, u.args).await.unwrap()
}

fn affected(a: &Assessment) -> (&[String], Option<u64>) {
    match &a.preview.detail {
        PreviewDetail::Affected { items, bytes } => (items, *bytes),
        other => panic!("expected affected items, got {other:?}"),
    }
}

#[tokio::test]
async fn copy_is_a_change_to_a_new_path_and_destructive_over_a_file() {
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ctx = ctx_with_state(state.path());
    let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
    std::fs::write(&src, "payload").unwrap();
    std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o750)).unwrap();
    let args = json!({"source": &src, "destination": &dst});
    let a = assess(&ctx, "fs.copy", args.clone()).await.unwrap();
    assert_eq!(a.effect, Risk::Change);
    assert_eq!(a.resources.len(), 2);
    assert_eq!(affected(&a).1, Some(7));
    call(&ctx, "fs.copy", args.clone()).await.unwrap();
    assert_eq!(std::fs::read_to_string(&dst).unwrap(), "payload");
    assert_eq!(mode(&dst), 0o750, "a new copy has the source's mode");

    std::fs::write(&dst, "older").unwrap();
    std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600)).unwrap();
    let a = assess(&ctx, "fs.copy", args.clone()).await.unwrap();
    assert_eq!(a.effect, Risk::Destructive);
    assert!(
        affected(&a).0.iter().any(|i| i.starts_with("overwrites ")),
        "{a:?}"
    );
    let v = call(&ctx, "fs.copy", args).await.unwrap();
    assert_eq!(std::fs::read_to_string(&dst).unwrap(), "payload");
    assert_eq!(mode(&dst), 0o600, "an overwritten file keeps its mode");
    assert_eq!(v["previous_bytes"], 5);
    undo(&ctx).await;
    assert_eq!(std::fs::read_to_string(&dst).unwrap(), "older");

    let e = call(
        &ctx,
        "fs.copy",
        json!({"source": dir.path(), "destination": dir.path().join("x")}),
    )
    .await
    .unwrap_err();
    assert!(e.message().contains("is a directory"), "{e}");
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let e = call(
        &ctx,
        "fs.copy",
        json!({"source": &src, "destination": &sub}),
    )
    .await
    .unwrap_err();
    assert!(
        e.message().contains("give the full destination path"),
        "{e}"
    );
}

#[tokio::test]
async fn move_renames_undoes_by_moving_back_and_snapshots_what_it_replaces() {
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ctx = ctx_with_state(state.path());
    let (a_path, b_path) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(&a_path, "A").unwrap();
    let args = json!({"source": &a_path, "destination": &b_path});
    assert_eq!(
        assess(&ctx, "fs.move", args.clone()).await.unwrap().effect,
        Risk::Change
    );
    call(&ctx, "fs.move", args.clone()).await.unwrap();
    assert!(!a_path.exists());
    assert_eq!(std::fs::read_to_string(&b_path).unwrap(), "A");
    undo(&ctx).await;
    assert_eq!(std::fs::read_to_string(&a_path).unwrap(), "A");
    assert!(!b_path.exists());

    std::fs::write(&b_path, "B").unwrap();
    assert_eq!(
        assess(&ctx, "fs.move", args.clone()).await.unwrap().effect,
        Risk::Destructive
    );
    let v = call(&ctx, "fs.move", args).await.unwrap();
    assert_eq!(std::fs::read_to_string(&b_path).unwrap(), "A");
    assert!(v["undo"].is_null(), "{v}");
    let snap = v["snapshot"].as_str().unwrap();
    assert!(v["undo_note"].as_str().unwrap().contains(snap), "{v}");
    // Directories move to a free name.
    let d = dir.path().join("d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("inner"), "i").unwrap();
    call(
        &ctx,
        "fs.move",
        json!({"source": &d, "destination": dir.path().join("e")}),
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("e/inner")).unwrap(),
        "i"
    );
}

#[tokio::test]
async fn chmod_previews_old_and_new_and_undoes() {
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ctx = ctx_with_state(state.path());
    let f = dir.path().join("script");
    std::fs::write(&f, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    let a = assess(&ctx, "fs.chmod", json!({"path": &f, "mode": "755"}))
        .await
        .unwrap();
    assert_eq!(
        affected(&a).0,
        [format!(
            "{}: 0644 (rw-r--r--) → 0755 (rwxr-xr-x)",
            f.display()
        )]
    );
    call(&ctx, "fs.chmod", json!({"path": &f, "mode": "755"}))
        .await
        .unwrap();
    assert_eq!(mode(&f), 0o755);
    undo(&ctx).await;
    assert_eq!(mode(&f), 0o644);
    let link = dir.path().join("l");
    symlink(&f, &link).unwrap();
    let e = call(&ctx, "fs.chmod", json!({"path": &link, "mode": "777"}))
        .await
        .unwrap_err();
    assert!(e.message().contains("symbolic link"), "{e}");
    assert_eq!(mode(&f), 0o644);
    let e = call(&ctx, "fs.chmod", json!({"path": &f, "mode": "rwx"}))
        .await
        .unwrap_err();
    assert!(e.message().contains("octal"), "{e}");
}

#[tokio::test]
async fn chown_needs_root_to_give_a_file_away_and_undoes() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to change owners and to act as uid 65534");
        return;
    }
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ctx = ctx_with_state(state.path());
    let f = dir.path().join("owned");
    std::fs::write(&f, "x").unwrap();
    let a = assess(&ctx, "fs.chown", json!({"path": &f, "owner": "65534"}))
        .await
        .unwrap();
    assert!(affected(&a).0[0].contains("root:root → "), "{a:?}");
    call(&ctx, "fs.chown", json!({"path": &f, "owner": "65534"}))
        .await
        .unwrap();
    assert_eq!(std::fs::metadata(&f).unwrap().uid(), 65534);
    // nobody owns it now, and may not give it back to root.
    let nobody = ToolCtx::new(
        Default::default(),
        OutputSink::discard(),
        Access::as_user(Identity::lookup(65534)),
    );
    let a = assess(&nobody, "fs.chown", json!({"path": &f, "owner": "root"}))
        .await
        .unwrap();
    assert!(a.preview.summary.contains("needs root"), "{:?}", a.preview);
    let e = call(&nobody, "fs.chown", json!({"path": &f, "owner": "root"}))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ToolErrorKind::PermissionDenied, "{e}");
    assert!(e.message().contains("needs root"), "{e}");
    undo(&ctx).await;
    assert_eq!(std::fs::metadata(&f).unwrap().uid(), 0);
    let e = call(
        &ctx,
        "fs.chown",
        json!({"path": &f, "owner": "no-such-user-xyz"}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ToolErrorKind::NotFound, "{e}");
    let e = call(&ctx, "fs.chown", json!({"path": &f, "owner": "a b"}))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ToolErrorKind::InvalidArgs, "{e}");
}

#[tokio::test]
async fn mkdir_creates_parents_on_request_and_undo_deletes_them() {
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ctx = ctx_with_state(state.path());
    let one = dir.path().join("one");
    call(&ctx, "fs.mkdir", json!({"path": &one, "mode": "700"}))
        .await
        .unwrap();
    assert_eq!(mode(&one), 0o700);
    let e = call(&ctx, "fs.mkdir", json!({"path": &one}))
        .await
        .unwrap_err();
    assert!(e.message().contains("already exists"), "{e}");
    let deep = dir.path().join("a/b/c");
    let e = call(&ctx, "fs.mkdir", json!({"path": &deep}))
        .await
        .unwrap_err();
    assert!(e.message().contains("parents: true"), "{e}");
    let a = assess(&ctx, "fs.mkdir", json!({"path": &deep, "parents": true}))
        .await
        .unwrap();
    assert_eq!(affected(&a).0.len(), 3);
    assert!(!dir.path().join("a").exists(), "assess changes nothing");
    let v = call(&ctx, "fs.mkdir", json!({"path": &deep, "parents": true}))
        .await
        .unwrap();
    assert!(deep.is_dir());
    assert_eq!(v["created"].as_array().unwrap().len(), 3);
    undo(&ctx).await;
    assert!(!dir.path().join("a").exists());
}
