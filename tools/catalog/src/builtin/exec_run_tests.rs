//! `exec.run` through the registry, against the real sandbox: as root the
//! command runs as `nobody` (65534), the caller the tests act for.

use std::path::{Path, PathBuf};

use aios_domain::{PreviewDetail, Resource, Risk};
use serde_json::{Value, json};

use super::hidden_dirs;
use crate::{Access, Identity, OutputSink, Registry, ToolCtx, ToolError, ToolErrorKind};

/// A context acting for `nobody` (with `home`), or for this process when
/// not root.
fn ctx(home: Option<&Path>) -> ToolCtx {
    let mut id = if nix::unistd::geteuid().is_root() {
        Identity::lookup(65534)
    } else {
        Identity::current()
    };
    id.home = home.map(Path::to_path_buf);
    ToolCtx::new(
        Default::default(),
        OutputSink::discard(),
        Access::as_user(id),
    )
}

async fn call(ctx: ToolCtx, args: Value) -> Result<Value, ToolError> {
    let home = ctx.access().identity().home.clone();
    Registry::builtin()
        .prepare_for("exec.run", args, home.as_deref())?
        .run(ctx)
        .await
}

/// A world-writable directory outside /tmp (the command's /tmp is private).
fn scratch() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::Builder::new()
        .prefix("aios-exec-")
        .tempdir_in("/var/tmp")
        .unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

#[tokio::test]
async fn runs_a_command_and_reports_exit_output_and_enforcement() {
    let v = call(
        ctx(None),
        json!({"argv": ["sh", "-c", "echo hi; echo oops >&2; exit 2"]}),
    )
    .await
    .unwrap();
    assert_eq!(v["exit_code"], 2, "{v}");
    assert_eq!(v["stdout"], "hi\n");
    assert_eq!(v["stderr"], "oops\n");
    assert!(
        v["summary"].as_str().unwrap().starts_with("exit 2 in "),
        "{v}"
    );
    assert!(v["enforcement"]["missing"].is_array());
}

#[tokio::test]
async fn canonical_form_shows_the_defaults() {
    let home = Path::new("/home/someone");
    let p = Registry::builtin()
        .prepare_for(
            "exec.run",
            json!({"argv": ["ls"], "writable": ["~/b", "~/a/../a"]}),
            Some(home),
        )
        .unwrap();
    let d = format!("{p:?}");
    for want in [
        "\"cwd\": String(\"/home/someone\")",
        "\"timeout_secs\": Number(30)",
        "\"network\": Bool(false)",
        "String(\"/home/someone/a\"), String(\"/home/someone/b\")",
    ] {
        assert!(d.contains(want), "{want} not in {d}");
    }
    let e = Registry::builtin()
        .prepare("exec.run", json!({"argv": ["ls"], "timeout_secs": 601}))
        .unwrap_err();
    assert!(e.message().contains("`timeout_secs`"), "{e}");
    let e = call(ctx(None), json!({"argv": []})).await.unwrap_err();
    assert!(e.message().contains("`argv`"), "{e}");
    let e = call(ctx(None), json!({"argv": ["ls"], "timeout_secs": 0}))
        .await
        .unwrap_err();
    assert!(e.message().contains("`timeout_secs`"), "{e}");
}

#[tokio::test]
async fn writes_land_only_in_the_listed_paths() {
    let dir = scratch();
    let ok = dir.path().join("ok");
    let no = dir.path().join("no");
    for d in [&ok, &no] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let script = r#"touch "$1/f"; echo "ok=$?"; touch "$2/f"; echo "no=$?""#;
    let v = call(
        ctx(None),
        json!({"argv": ["sh", "-c", script, "sh", &ok, &no], "writable": [&ok]}),
    )
    .await
    .unwrap();
    let out = v["stdout"].as_str().unwrap();
    assert!(out.contains("ok=0"), "{v}");
    assert!(!out.contains("no=0"), "{v}");
    assert!(ok.join("f").exists());
    assert!(!no.join("f").exists(), "an unlisted directory was written");
}

#[tokio::test]
async fn timeout_is_reported_in_the_summary() {
    let v = call(
        ctx(None),
        json!({"argv": ["sleep", "100"], "timeout_secs": 1}),
    )
    .await
    .unwrap();
    assert_eq!(v["timed_out"], true, "{v}");
    assert!(v["summary"].as_str().unwrap().contains("timed out"), "{v}");
}

#[tokio::test]
async fn unknown_command_is_not_found() {
    let e = call(ctx(None), json!({"argv": ["no-such-tool-aios"]}))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ToolErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn assess_decides_the_effect_per_call() {
    let home = scratch();
    let c = ctx(Some(home.path()));
    let stops = aios_sandbox::probe().stops_writes();
    let assess = |args: Value| {
        let c = c.clone();
        async move {
            let h = c.access().identity().home.clone();
            let p = Registry::builtin()
                .prepare_for("exec.run", args, h.as_deref())
                .unwrap();
            p.assess(&c).await.unwrap()
        }
    };
    let a = assess(json!({"argv": ["ls"]})).await;
    assert_eq!(a.effect, if stops { Risk::Read } else { Risk::Destructive });
    assert_eq!(a.resources, vec![Resource::System]);
    let PreviewDetail::Affected { items, .. } = &a.preview.detail else {
        panic!("{:?}", a.preview)
    };
    assert_eq!(items[0], "ls");
    assert!(items.iter().any(|i| i == "network: no"), "{items:?}");

    let a = assess(json!({"argv": ["make"], "writable": ["~/src"]})).await;
    assert_eq!(
        a.effect,
        if stops {
            Risk::Change
        } else {
            Risk::Destructive
        }
    );
    let want = home.path().join("src").display().to_string();
    assert_eq!(a.resources, vec![Resource::Path(want)]);

    let a = assess(json!({"argv": ["make"], "writable": ["/etc"]})).await;
    assert_eq!(a.effect, Risk::Destructive);

    let a = assess(json!({"argv": ["curl", "x"], "network": true})).await;
    assert_ne!(a.effect, Risk::Read);
    assert_eq!(a.resources, vec![Resource::Network]);
}

#[test]
fn the_runtime_directories_are_hidden_unless_the_caller_works_in_them() {
    let env = [
        Some("/var/tmp/aios-rt".into()),
        Some("/run/user/1000".into()),
    ];
    let dirs = hidden_dirs(1000, "/home/a", &[], env.clone());
    assert_eq!(
        dirs,
        [
            PathBuf::from("/run/aios"),
            PathBuf::from("/run/user/1000"),
            PathBuf::from("/var/tmp/aios-rt"),
        ]
    );
    // Asked to work or write there: left visible.
    let dirs = hidden_dirs(
        1000,
        "/run/user/1000/x",
        &["/var/tmp/aios-rt/w".into()],
        env,
    );
    assert_eq!(dirs, [PathBuf::from("/run/aios")]);
    // An empty or relative variable is ignored.
    let dirs = hidden_dirs(7, "/", &[], [Some("".into()), Some("rel".into())]);
    assert_eq!(
        dirs,
        [PathBuf::from("/run/aios"), PathBuf::from("/run/user/7")]
    );
}
