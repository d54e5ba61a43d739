//! File tools acting for an unprivileged user, run as root against uid
//! 65534 (`nobody`) through the real registry and tool code:
//! - a racing thread swaps a symlink for a directory or file
//!   (`renameat2(RENAME_EXCHANGE)`) while the tools read, list and scan
//!   through it, thousands of times: the root-only secret never shows;
//! - FIFOs, a device and a socket given to every file tool: each answers
//!   promptly (a FIFO opened for reading would block forever);
//! - a path through a directory the user cannot enter: permission denied,
//!   with the same answer whether the name inside exists or not.
//!
//! These tests need root (they switch to another uid); run as root, as CI
//! does. Without root they fail with a message saying so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aios_catalog::{Access, Identity, OutputSink, Registry, ToolCtx, ToolError, ToolErrorKind};
use serde_json::{Value, json};

const NOBODY: u32 = 65534;
const SECRET: &str = "SECRET";
/// Calls per race variant.
const RACE_CALLS: usize = 2000;
/// How long a call may take before it counts as blocked (a hang detector,
/// not a timing assertion).
const HANG: Duration = Duration::from_secs(20);

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "kernel_creds tests switch to uid {NOBODY} and must run as root (CI runs them as root)"
    );
}

fn nobody() -> ToolCtx {
    ToolCtx::new(
        Default::default(),
        OutputSink::discard(),
        Access::as_user(Identity::lookup(NOBODY)),
    )
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn write(p: &Path, text: &str, mode: u32) {
    std::fs::write(p, text).unwrap();
    chmod(p, mode);
}

fn mkdir(p: &Path, mode: u32) {
    std::fs::create_dir_all(p).unwrap();
    chmod(p, mode);
}

/// A temp dir that uid 65534 can enter, checked.
async fn base(registry: &Registry) -> tempfile::TempDir {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o755);
    let r = call(registry, nobody(), "fs.list", json!({"path": dir.path()})).await;
    assert!(
        r.is_ok(),
        "uid {NOBODY} must be able to reach the temp dir {} (its parents must be searchable by others): {r:?}",
        dir.path().display()
    );
    dir
}

async fn call(
    registry: &Registry,
    ctx: ToolCtx,
    tool: &str,
    args: Value,
) -> Result<Value, ToolError> {
    let run = registry.prepare(tool, args)?.run(ctx);
    match tokio::time::timeout(HANG, run).await {
        Ok(r) => r,
        Err(_) => panic!("{tool} did not answer within {HANG:?}: it is blocked"),
    }
}

/// Swaps two names in a directory with `renameat2(RENAME_EXCHANGE)` until
/// dropped.
struct Racer {
    stop: Arc<AtomicBool>,
    swaps: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Racer {
    fn start(a: PathBuf, b: PathBuf) -> Racer {
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, swaps) = (stop.clone(), swaps.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    nix::fcntl::renameat2(
                        nix::fcntl::AT_FDCWD,
                        &a,
                        nix::fcntl::AT_FDCWD,
                        &b,
                        nix::fcntl::RenameFlags::RENAME_EXCHANGE,
                    )
                    .unwrap();
                    swaps.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        Racer {
            stop,
            swaps,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.swaps.load(Ordering::Relaxed)
    }
}

impl Drop for Racer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Call `tool` as nobody `RACE_CALLS` times while `dir/a` and `dir/b` are
/// swapped; no answer may contain the secret, and some calls must succeed.
async fn race(registry: &Registry, label: &str, dir: &Path, tool: &str, args: Value) {
    let racer = Racer::start(dir.join("a"), dir.join("b"));
    let (mut ok, mut err) = (0, 0);
    for i in 0..RACE_CALLS {
        let r = call(registry, nobody(), tool, args.clone()).await;
        let text = match &r {
            Ok(v) => v.to_string(),
            Err(e) => e.message().to_string(),
        };
        assert!(
            !text.contains(SECRET),
            "{label}: call {i} of {tool} revealed the root-only secret: {text}"
        );
        if r.is_ok() { ok += 1 } else { err += 1 }
    }
    let swaps = racer.finish();
    eprintln!("{label}: {ok} answers, {err} refusals, {swaps} swaps");
    assert!(swaps > 0, "{label}: the racer never swapped");
    assert!(ok > 0, "{label}: no call succeeded, so nothing was tested");
}

/// `dir/a` is a real directory holding `content`; `dir/b` a symlink to
/// `target`. The racer exchanges them.
fn swap_pair_dir(dir: &Path, target: &Path, content: impl FnOnce(&Path)) {
    mkdir(dir, 0o755);
    mkdir(&dir.join("a"), 0o755);
    content(&dir.join("a"));
    std::os::unix::fs::symlink(target, dir.join("b")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlink_swaps_never_reveal_a_root_only_secret() {
    let registry = Registry::builtin();
    let tmp = base(&registry).await;
    let t = tmp.path();
    // Root-only things: a 0600 file in an open directory, and a 0700
    // directory holding a readable file and a subdirectory.
    write(&t.join("secret.txt"), &format!("{SECRET} key"), 0o600);
    let vault = t.join("vault");
    mkdir(&vault.join("sub"), 0o755);
    write(&vault.join("f.txt"), &format!("{SECRET} key"), 0o644);
    write(
        &vault.join(format!("sub/{SECRET}_ENTRY.bin")),
        &"x".repeat(64 * 1024),
        0o644,
    );
    write(
        &vault.join(format!("{SECRET}_TOP.bin")),
        &"x".repeat(64 * 1024),
        0o644,
    );
    chmod(&vault, 0o700);
    let public = |d: &Path| {
        write(&d.join("f.txt"), "public text", 0o644);
        mkdir(&d.join("sub"), 0o755);
        write(&d.join("sub/public.bin"), &"p".repeat(8 * 1024), 0o644);
    };

    // A directory on the way is swapped for a link to the vault.
    swap_pair_dir(&t.join("mid"), &vault, public);
    let via = t.join("mid/a");
    race(
        &registry,
        "read, mid-path",
        &t.join("mid"),
        "fs.read",
        json!({"path": via.join("f.txt")}),
    )
    .await;
    race(
        &registry,
        "tail, mid-path",
        &t.join("mid"),
        "log.tail",
        json!({"path": via.join("f.txt")}),
    )
    .await;
    race(
        &registry,
        "list, mid-path",
        &t.join("mid"),
        "fs.list",
        json!({"path": via.join("sub")}),
    )
    .await;
    race(
        &registry,
        "largest, mid-path",
        &t.join("mid"),
        "fs.largest",
        json!({"path": via.join("sub")}),
    )
    .await;

    // The final component: a file swapped with a link to the 0600 secret.
    let last = t.join("last");
    mkdir(&last, 0o755);
    write(&last.join("a"), "public text", 0o644);
    std::os::unix::fs::symlink(t.join("secret.txt"), last.join("b")).unwrap();
    race(
        &registry,
        "read, last component",
        &last,
        "fs.read",
        json!({"path": last.join("a")}),
    )
    .await;
    race(
        &registry,
        "tail, last component",
        &last,
        "log.tail",
        json!({"path": last.join("a")}),
    )
    .await;

    // The final component: a directory swapped with a link to the vault.
    swap_pair_dir(&t.join("lastdir"), &vault, public);
    let a = t.join("lastdir/a");
    race(
        &registry,
        "list, last component",
        &t.join("lastdir"),
        "fs.list",
        json!({"path": &a}),
    )
    .await;
    race(
        &registry,
        "largest, last component",
        &t.join("lastdir"),
        "fs.largest",
        json!({"path": &a}),
    )
    .await;

    // Inside a walk: a subdirectory swapped for a link while it is scanned.
    swap_pair_dir(&t.join("walk"), &vault, public);
    race(
        &registry,
        "largest, mid-walk",
        &t.join("walk"),
        "fs.largest",
        json!({"path": t.join("walk")}),
    )
    .await;
}

/// A FIFO and a socket in `dir` (mode 0666: the user may open them), and
/// `/dev/zero`.
fn special_files(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let fifo = dir.join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    chmod(&fifo, 0o666);
    let sock = dir.join("sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    // The socket file outlives the listener; it is only ever named.
    drop(listener);
    chmod(&sock, 0o666);
    vec![
        (fifo, "FIFO"),
        (sock, "socket"),
        (PathBuf::from("/dev/zero"), "character device"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn special_files_are_refused_promptly_by_every_file_tool() {
    let registry = Registry::builtin();
    let tmp = base(&registry).await;
    let specials = special_files(tmp.path());
    let fifo = specials[0].0.clone();
    // If a tool ever blocks on the FIFO, this unblocks it once the test
    // has failed, so the runtime can shut down.
    let _unblock = Unblock(fifo.clone());
    for ctx in [
        ("nobody", nobody as fn() -> ToolCtx),
        ("root", ToolCtx::local),
    ] {
        for (path, kind) in &specials {
            for (tool, args) in [
                ("fs.read", json!({"path": path})),
                ("log.tail", json!({"path": path})),
                ("fs.list", json!({"path": path})),
                ("fs.largest", json!({"path": path})),
            ] {
                let Err(e) = call(&registry, (ctx.1)(), tool, args).await else {
                    panic!("{tool} as {} accepted a {kind}", ctx.0);
                };
                assert_eq!(e.kind(), ToolErrorKind::InvalidArgs, "{tool} {kind}: {e}");
                assert!(e.message().contains(kind), "{tool} {kind}: {e}");
            }
            // statvfs opens nothing: the filesystem holding it is measured.
            let v = call(&registry, (ctx.1)(), "fs.usage", json!({"path": path}))
                .await
                .unwrap();
            assert!(v["size_bytes"].as_u64().unwrap() > 0, "{v}");
        }
        // Walks and listings meet them as entries, without opening them.
        let v = call(&registry, (ctx.1)(), "fs.list", json!({"path": tmp.path()}))
            .await
            .unwrap();
        assert!(
            v["entries"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["type"] == "other"),
            "{v}"
        );
        let v = call(
            &registry,
            (ctx.1)(),
            "fs.largest",
            json!({"path": tmp.path()}),
        )
        .await
        .unwrap();
        assert_eq!(v["files_scanned"], 2, "{v}");
    }
}

/// Opens the FIFO for writing when dropped (`O_RDWR` never blocks), which
/// releases a reader blocked in `open`.
struct Unblock(PathBuf);

impl Drop for Unblock {
    fn drop(&mut self) {
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_the_user_cannot_enter_hides_whether_names_exist() {
    let registry = Registry::builtin();
    let tmp = base(&registry).await;
    let locked = tmp.path().join("locked");
    mkdir(&locked.join("there_dir"), 0o755);
    write(&locked.join("there.txt"), "inside", 0o644);
    chmod(&locked, 0o700);
    for tool in ["fs.read", "log.tail", "fs.list", "fs.largest", "fs.usage"] {
        let mut answers = Vec::new();
        for name in ["there.txt", "missing.txt", "there_dir", "missing_dir"] {
            let Err(e) = call(
                &registry,
                nobody(),
                tool,
                json!({"path": locked.join(name)}),
            )
            .await
            else {
                panic!("{tool} {name} ran through a 0700 directory");
            };
            assert_eq!(
                e.kind(),
                ToolErrorKind::PermissionDenied,
                "{tool} {name}: {e}"
            );
            assert!(
                e.message().contains("permission denied"),
                "{tool} {name}: {e}"
            );
            assert!(e.message().contains("nobody"), "{tool} {name}: {e}");
            answers.push(e.message().replace(name, "NAME"));
        }
        assert!(
            answers.iter().all(|a| *a == answers[0]),
            "{tool}: answers differ by whether the name exists: {answers:#?}"
        );
        // The directory itself cannot be listed or scanned either.
        if matches!(tool, "fs.list" | "fs.largest") {
            let e = call(&registry, nobody(), tool, json!({"path": &locked}))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ToolErrorKind::PermissionDenied, "{tool}: {e}");
        }
    }
    // Root still reads it: the process's own credentials are untouched.
    let v = call(
        &registry,
        ToolCtx::local(),
        "fs.read",
        json!({"path": locked.join("there.txt")}),
    )
    .await
    .unwrap();
    assert_eq!(v["content"], "inside");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_and_other_bits_are_the_kernels() {
    let registry = Registry::builtin();
    let tmp = base(&registry).await;
    let t = tmp.path();
    write(&t.join("world.txt"), "w", 0o644);
    write(&t.join("group.txt"), "g", 0o640);
    nix::unistd::chown(
        &t.join("group.txt"),
        None,
        Some(nix::unistd::Gid::from_raw(NOBODY)),
    )
    .unwrap();
    write(&t.join("root.txt"), "r", 0o640);
    let read = |p: PathBuf| call(&registry, nobody(), "fs.read", json!({"path": p}));
    assert_eq!(read(t.join("world.txt")).await.unwrap()["content"], "w");
    // nobody's primary group is 65534 (nogroup), set as the fsgid.
    assert_eq!(read(t.join("group.txt")).await.unwrap()["content"], "g");
    let e = read(t.join("root.txt")).await.unwrap_err();
    assert_eq!(e.kind(), ToolErrorKind::PermissionDenied, "{e}");
    assert!(e.message().contains("user nobody (uid 65534)"), "{e}");
    // Kernel files open the same way (reopened through /proc/self/fd).
    let v = read(PathBuf::from("/proc/meminfo")).await.unwrap();
    assert!(
        v["content"].as_str().unwrap().starts_with("MemTotal:"),
        "{v}"
    );
    // A listing shows what the user may list.
    let v = call(&registry, nobody(), "fs.list", json!({"path": t}))
        .await
        .unwrap();
    assert_eq!(v["total"], 3, "{v}");
}
