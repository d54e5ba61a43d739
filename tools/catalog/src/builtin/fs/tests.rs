//! The changing `fs` tools through the registry, against real temporary
//! directories: effects and previews, the change itself, snapshots and
//! the undo round trip, refusals (links, directories), and the kernel's
//! verdict for an unprivileged caller.

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use aios_domain::{PreviewDetail, Risk};
use serde_json::{Value, json};

use crate::{
    Access, Assessment, Identity, OutputSink, Registry, ToolCtx, ToolError, ToolErrorKind,
};

pub(super) fn ctx_with_state(state: &Path) -> ToolCtx {
    ToolCtx::local().with_state_dir(state.to_path_buf())
}

pub(super) async fn call(ctx: &ToolCtx, tool: &str, args: Value) -> Result<Value, ToolError> {
    Registry::builtin()
        .prepare(tool, args)?
        .run(ctx.clone())
        .await
}

pub(super) async fn assess(
    ctx: &ToolCtx,
    tool: &str,
    args: Value,
) -> Result<Assessment, ToolError> {
    let r = Registry::builtin();
    let p = r.prepare(tool, args)?;
    p.assess(ctx).await
}

fn diff_of(a: &Assessment) -> &str {
    match &a.preview.detail {
        PreviewDetail::Diff { unified, .. } => unified,
        other => panic!("expected a diff, got {other:?}"),
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

/// Run the undo record the last call left, as the executor would.
async fn undo(ctx: &ToolCtx) -> Value {
    let u = ctx.take_undo().expect("the change left an undo record");
    call(ctx, &u.tool, u.args).await.unwrap()
}

#[tokio::test]
async fn write_new_is_a_change_overwrite_is_destructive_with_exact_diffs() {
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ctx = ctx_with_state(state.path());
    let f = dir.path().join("motd");
    let a = assess(&ctx, "fs.write", json!({"path": &f, "content": "hello\n"}))
        .await
        .unwrap();
    assert_eq!(a.effect, Risk::Change);
    let p = f.display();
    assert_eq!(
        diff_of(&a),
        format!("--- /dev/null\n+++ b{p}\n@@ -0,0 +1 @@\n+hello\n")
    );
    let v = call(&ctx, "fs.write", json!({"path": &f, "content": "hello\n"}))
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "hello\n");
    assert_eq!(mode(&f), 0o644);
    assert!(
        v["summary"].as_str().unwrap().starts_with("wrote 6 B to "),
        "{v}"
    );
    assert_eq!(v["undo"]["tool"], "fs.restore");

    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    let a = assess(&ctx, "fs.write", json!({"path": &f, "content": "bye\n"}))
        .await
        .unwrap();
    assert_eq!(a.effect, Risk::Destructive);
    assert_eq!(
        diff_of(&a),
        format!("--- a{p}\n+++ b{p}\n@@ -1 +1 @@\n-hello\n+bye\n")
    );
    let v = call(&ctx, "fs.write", json!({"path": &f, "content": "bye\n"}))
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "bye\n");
    assert_eq!(mode(&f), 0o600, "an overwritten file keeps its mode");
    assert_eq!(v["previous_bytes"], 6);
    // No temporary file is left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[tokio::test]
async fn snapshot_and_restore_round_trip_content_and_mode() {
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ctx = ctx_with_state(state.path());
    let f = dir.path().join("app.conf");
    std::fs::write(&f, "port = 80\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    call(
        &ctx,
        "fs.write",
        json!({"path": &f, "content": "port = 8080\n"}),
    )
    .await
    .unwrap();
    let u = ctx.take_undo().unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
    // The restore's preview is the diff back to the snapshot.
    let a = assess(&ctx, &u.tool, u.args.clone()).await.unwrap();
    assert_eq!(a.effect, Risk::Change);
    assert!(
        diff_of(&a).contains("-port = 8080\n+port = 80\n"),
        "{}",
        diff_of(&a)
    );
    let v = call(&ctx, &u.tool, u.args).await.unwrap();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "port = 80\n");
    assert_eq!(mode(&f), 0o640, "restore puts the snapshot's mode back");
    // The restore is itself undoable.
    assert!(v["undo"]["args"]["snapshot"].is_string(), "{v}");
    undo(&ctx).await;
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "port = 8080\n");
}

#[tokio::test]
async fn restore_of_a_created_file_deletes_it() {
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ctx = ctx_with_state(state.path());
    let f = dir.path().join("new.txt");
    call(&ctx, "fs.write", json!({"path": &f, "content": "x"}))
        .await
        .unwrap();
    let u = ctx.take_undo().unwrap();
    let a = assess(&ctx, &u.tool, u.args.clone()).await.unwrap();
    assert!(a.preview.summary.starts_with("delete "), "{:?}", a.preview);
    let v = call(&ctx, &u.tool, u.args).await.unwrap();
    assert!(!f.exists());
    assert!(v["summary"].as_str().unwrap().contains("deleted it"), "{v}");
}

#[tokio::test]
async fn edit_needs_exactly_one_occurrence_unless_replace_all() {
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ctx = ctx_with_state(state.path());
    let f = dir.path().join("hosts");
    std::fs::write(&f, "a old\nb old\nc new\n").unwrap();
    let e = call(
        &ctx,
        "fs.edit",
        json!({"path": &f, "old": "zzz", "new": "y"}),
    )
    .await
    .unwrap_err();
    assert!(e.message().contains("does not occur"), "{e}");
    let e = call(
        &ctx,
        "fs.edit",
        json!({"path": &f, "old": "old", "new": "y"}),
    )
    .await
    .unwrap_err();
    assert!(e.message().contains("occurs 2 times"), "{e}");
    assert!(e.message().contains("replace_all"), "{e}");
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "a old\nb old\nc new\n"
    );
    let a = assess(
        &ctx,
        "fs.edit",
        json!({"path": &f, "old": "c new", "new": "c newer"}),
    )
    .await
    .unwrap();
    assert_eq!(a.effect, Risk::Change);
    let p = f.display();
    assert_eq!(
        diff_of(&a),
        format!("--- a{p}\n+++ b{p}\n@@ -1,3 +1,3 @@\n a old\n b old\n-c new\n+c newer\n")
    );
    call(
        &ctx,
        "fs.edit",
        json!({"path": &f, "old": "c new", "new": "c newer"}),
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "a old\nb old\nc newer\n"
    );
    call(
        &ctx,
        "fs.edit",
        json!({"path": &f, "old": "old", "new": "OLD", "replace_all": true}),
    )
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "a OLD\nb OLD\nc newer\n"
    );
    undo(&ctx).await;
    assert_eq!(
        std::fs::read_to_string(&f).unwrap(),
        "a old\nb old\nc newer\n"
    );
}

#[tokio::test]
async fn append_adds_to_the_end_and_undoes() {
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ctx = ctx_with_state(state.path());
    let f = dir.path().join("log");
    std::fs::write(&f, "one\n").unwrap();
    let a = assess(&ctx, "fs.append", json!({"path": &f, "content": "two\n"}))
        .await
        .unwrap();
    assert_eq!(a.effect, Risk::Change);
    assert!(diff_of(&a).ends_with(" one\n+two\n"), "{}", diff_of(&a));
    let v = call(&ctx, "fs.append", json!({"path": &f, "content": "two\n"}))
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "one\ntwo\n");
    assert_eq!(v["bytes"], 8);
    undo(&ctx).await;
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "one\n");
    let missing = dir.path().join("nope");
    let e = call(
        &ctx,
        "fs.append",
        json!({"path": &missing, "content": "x", "create": false}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ToolErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn delete_file_snapshots_it_and_directories_need_recursive() {
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ctx = ctx_with_state(state.path());
    let f = dir.path().join("f.txt");
    std::fs::write(&f, "keep me").unwrap();
    let a = assess(&ctx, "fs.delete", json!({"path": &f}))
        .await
        .unwrap();
    assert_eq!(a.effect, Risk::Destructive);
    assert!(
        matches!(&a.preview.detail, PreviewDetail::Affected { bytes: Some(7), items } if items.len() == 1),
        "{:?}",
        a.preview
    );
    call(&ctx, "fs.delete", json!({"path": &f})).await.unwrap();
    assert!(!f.exists());
    undo(&ctx).await;
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "keep me");

    let d = dir.path().join("tree");
    std::fs::create_dir_all(d.join("a/b")).unwrap();
    std::fs::write(d.join("a/b/x"), "12345").unwrap();
    std::fs::write(d.join("y"), "123").unwrap();
    let e = call(&ctx, "fs.delete", json!({"path": &d}))
        .await
        .unwrap_err();
    assert!(e.message().contains("recursive: true"), "{e}");
    assert!(d.join("a/b/x").exists());
    let a = assess(&ctx, "fs.delete", json!({"path": &d, "recursive": true}))
        .await
        .unwrap();
    assert!(
        a.preview.summary.contains("2 files and 2 directories"),
        "{:?}",
        a.preview
    );
    let v = call(&ctx, "fs.delete", json!({"path": &d, "recursive": true}))
        .await
        .unwrap();
    assert!(!d.exists());
    assert!(v["undo"].is_null(), "{v}");
    assert!(
        v["undo_note"].as_str().unwrap().contains("recursive"),
        "{v}"
    );
}

#[tokio::test]
async fn a_symlink_as_final_component_is_refused_and_its_target_untouched() {
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ctx = ctx_with_state(state.path());
    let target = dir.path().join("target");
    std::fs::write(&target, "original").unwrap();
    let link = dir.path().join("link");
    symlink(&target, &link).unwrap();
    for (tool, args) in [
        ("fs.write", json!({"path": &link, "content": "evil"})),
        (
            "fs.edit",
            json!({"path": &link, "old": "original", "new": "evil"}),
        ),
        ("fs.append", json!({"path": &link, "content": "evil"})),
        ("fs.delete", json!({"path": &link})),
    ] {
        let e = call(&ctx, tool, args.clone()).await.unwrap_err();
        assert!(e.message().contains("symbolic link"), "{tool}: {e}");
        let e = assess(&ctx, tool, args).await.unwrap_err();
        assert!(e.message().contains("symbolic link"), "{tool}: {e}");
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "original");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // A link in the parent chain is refused too.
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    symlink(&real, dir.path().join("via")).unwrap();
    let through = dir.path().join("via/file");
    let e = call(&ctx, "fs.write", json!({"path": &through, "content": "x"}))
        .await
        .unwrap_err();
    assert!(e.message().contains("is a symbolic link"), "{e}");
    assert!(!real.join("file").exists());
}

#[tokio::test]
async fn without_a_state_dir_changes_run_and_say_there_is_no_undo() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ToolCtx::local();
    let f = dir.path().join("a");
    let v = call(&ctx, "fs.write", json!({"path": &f, "content": "x"}))
        .await
        .unwrap();
    assert!(v["undo"].is_null(), "{v}");
    assert!(
        v["undo_note"].as_str().unwrap().contains("state directory"),
        "{v}"
    );
    assert!(ctx.take_undo().is_none());
}

#[tokio::test]
async fn as_nobody_the_kernel_refuses_a_write_into_a_root_owned_dir_but_the_preview_works() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to act as uid 65534");
        return;
    }
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ctx = ToolCtx::new(
        Default::default(),
        OutputSink::discard(),
        Access::as_user(Identity::lookup(65534)),
    )
    .with_state_dir(state.path().to_path_buf());
    let f = dir.path().join("x");
    let a = assess(&ctx, "fs.write", json!({"path": &f, "content": "hi\n"}))
        .await
        .unwrap();
    assert_eq!(a.effect, Risk::Change);
    let e = call(&ctx, "fs.write", json!({"path": &f, "content": "hi\n"}))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ToolErrorKind::PermissionDenied, "{e}");
    assert!(!f.exists());
    // A file nobody cannot read still gets a preview, without its content.
    let private = dir.path().join("private");
    std::fs::write(&private, "root only").unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    let a = assess(&ctx, "fs.write", json!({"path": &private, "content": "x"}))
        .await
        .unwrap();
    assert_eq!(a.effect, Risk::Destructive);
    assert!(a.preview.summary.contains("needs root"), "{:?}", a.preview);
    assert!(!a.preview.summary.contains("root only"), "{:?}", a.preview);
    // Another user's snapshot is not served to nobody.
    let root_ctx = ctx_with_state(state.path());
    let g = dir.path().join("secret");
    std::fs::write(&g, "s3cret").unwrap();
    call(&root_ctx, "fs.write", json!({"path": &g, "content": "new"}))
        .await
        .unwrap();
    let u = root_ctx.take_undo().unwrap();
    let e = assess(&ctx, &u.tool, u.args).await.unwrap_err();
    assert_eq!(e.kind(), ToolErrorKind::PermissionDenied, "{e}");
}

#[tokio::test]
async fn overwrites_keep_the_owner_atomically_as_root_and_in_place_otherwise() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to own files as uid 65534");
        return;
    }
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let root = ctx_with_state(state.path());
    // Root replaces nobody's file: the replacement is given nobody's owner.
    let theirs = dir.path().join("theirs");
    std::fs::write(&theirs, "old").unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let ino = std::fs::metadata(&theirs).unwrap().ino();
    let v = call(
        &root,
        "fs.write",
        json!({"path": &theirs, "content": "new"}),
    )
    .await
    .unwrap();
    let m = std::fs::metadata(&theirs).unwrap();
    assert_eq!((m.uid(), m.gid()), (65534, 65534));
    assert_ne!(m.ino(), ino, "replaced atomically: a new inode");
    assert!(v.get("note").is_none(), "{v}");
    // nobody may write root's world-writable file but not give a
    // replacement root's owner: it is rewritten in place, still root's.
    let mine = dir.path().join("roots");
    std::fs::write(&mine, "old").unwrap();
    std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o666)).unwrap();
    let ino = std::fs::metadata(&mine).unwrap().ino();
    let nobody = ToolCtx::new(
        Default::default(),
        OutputSink::discard(),
        Access::as_user(Identity::lookup(65534)),
    )
    .with_state_dir(state.path().to_path_buf());
    let v = call(
        &nobody,
        "fs.write",
        json!({"path": &mine, "content": "by nobody"}),
    )
    .await
    .unwrap();
    let m = std::fs::metadata(&mine).unwrap();
    assert_eq!((m.uid(), m.ino()), (0, ino), "owner and inode kept");
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "by nobody");
    assert!(v["note"].as_str().unwrap().contains("in place"), "{v}");
    // No temporary file was left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[tokio::test]
async fn fifos_are_refused_without_being_opened() {
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ctx = ctx_with_state(state.path());
    let fifo = dir.path().join("pipe");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
    for (tool, args) in [
        ("fs.write", json!({"path": &fifo, "content": "x"})),
        ("fs.append", json!({"path": &fifo, "content": "x"})),
        ("fs.edit", json!({"path": &fifo, "old": "a", "new": "b"})),
        ("fs.delete", json!({"path": &fifo})),
        ("fs.chmod", json!({"path": &fifo, "mode": "600"})),
    ] {
        let e = call(&ctx, tool, args).await.unwrap_err();
        assert!(e.message().contains("FIFO"), "{tool}: {e}");
    }
    assert!(std::fs::symlink_metadata(&fifo).is_ok());
}

#[tokio::test]
async fn a_file_over_the_snapshot_limit_changes_without_undo_and_says_why() {
    let (dir, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ctx = ctx_with_state(state.path());
    let f = dir.path().join("huge");
    // Sparse: 65 MiB of size, almost no disk.
    std::fs::File::create(&f)
        .unwrap()
        .set_len(super::snapshot::MAX_SNAPSHOT + (1 << 20))
        .unwrap();
    let a = assess(&ctx, "fs.write", json!({"path": &f, "content": "small"}))
        .await
        .unwrap();
    assert_eq!(a.effect, Risk::Destructive);
    assert!(
        a.preview.summary.contains("too big to diff"),
        "{:?}",
        a.preview
    );
    let v = call(&ctx, "fs.write", json!({"path": &f, "content": "small"}))
        .await
        .unwrap();
    assert!(v["undo"].is_null(), "{v}");
    assert!(
        v["undo_note"].as_str().unwrap().contains("snapshot limit"),
        "{v}"
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "small");
}
