//! The sandbox against real processes, namespaces and the kernel: each
//! escape attempt fails or is contained, with an assertion that proves it.
//! As root (here and in CI) commands run as `nobody` (65534); elsewhere as
//! the current user.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use aios_sandbox::{SandboxErrorKind, SandboxOutcome, SandboxSpec};
use tokio_util::sync::CancellationToken;

fn root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn spec(argv: &[&str]) -> SandboxSpec {
    let argv = argv.iter().map(|s| s.to_string()).collect();
    if root() {
        SandboxSpec::new(argv, 65534, 65534)
    } else {
        let mut s = SandboxSpec::new(
            argv,
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        s.groups = nix::unistd::getgroups()
            .unwrap()
            .into_iter()
            .map(|g| g.as_raw())
            .collect();
        s
    }
}

async fn run(s: SandboxSpec) -> SandboxOutcome {
    aios_sandbox::run(s, CancellationToken::new())
        .await
        .unwrap()
}

/// A world-writable scratch directory outside /tmp (the sandbox gives the
/// command a private /tmp).
fn scratch() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::Builder::new()
        .prefix("aios-sbx-")
        .tempdir_in("/var/tmp")
        .unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    d
}

fn world_writable_dir(parent: &Path, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = parent.join(name);
    std::fs::create_dir(&p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
    p
}

/// Pids whose command line contains `marker`.
fn procs_with(marker: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(marker))
                .unwrap_or(false)
        })
        .collect()
}

fn python() -> Option<&'static str> {
    let p = "/usr/bin/python3";
    if Path::new(p).exists() {
        Some(p)
    } else {
        eprintln!("skipped: {p} is not installed");
        None
    }
}

#[tokio::test]
async fn probe_reports_missing_exactly_when_something_is_not_enforced() {
    let e = aios_sandbox::probe();
    eprintln!("probe: {e:#?}");
    let full = e.user_ns
        && e.mount_ns
        && e.pid_ns
        && e.net_ns
        && e.readonly_root
        && e.landlock_abi.is_some()
        && e.seccomp
        && e.rlimits;
    assert_eq!(e.missing.is_empty(), full, "{e:#?}");
    // Cached: the same answer twice.
    assert_eq!(aios_sandbox::probe(), e);
}

#[tokio::test]
async fn runs_as_the_given_user_with_stdin_and_exit_code() {
    let mut s = spec(&["sh", "-c", "id -u; cat; exit 3"]);
    s.stdin = Some(b"hello\n".to_vec());
    let want_uid = s.uid;
    let out = run(s).await;
    assert_eq!(out.exit_code, Some(3), "{out:#?}");
    assert_eq!(out.stdout, format!("{want_uid}\nhello\n"));
    assert!(!out.timed_out && !out.output_truncated);
}

#[tokio::test]
async fn the_command_is_init_of_its_own_pid_namespace() {
    let out = run(spec(&["sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"])).await;
    if !out.enforcement.pid_ns {
        eprintln!(
            "skipped: no PID namespace here: {:?}",
            out.enforcement.missing
        );
        return;
    }
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "1", "{out:#?}");
    // sh, ls and grep at most: no host process is visible.
    assert!(lines[1].parse::<u32>().unwrap() <= 3, "{out:#?}");
}

#[tokio::test]
async fn writes_outside_the_writable_paths_fail_and_inside_succeed() {
    let dir = scratch();
    let allowed = world_writable_dir(dir.path(), "allowed");
    let other = world_writable_dir(dir.path(), "other");
    let script = r#"touch /etc/aios-sbx-escape; echo "etc=$?"; touch "$1/x"; echo "other=$?"; touch "$2/x"; echo "allowed=$?"; touch /tmp/x; echo "tmp=$?""#;
    let mut s = spec(&[
        "sh",
        "-c",
        script,
        "sh",
        other.to_str().unwrap(),
        allowed.to_str().unwrap(),
    ]);
    s.writable = vec![allowed.clone()];
    let out = run(s.clone()).await;
    eprintln!("{out:#?}");
    assert!(
        out.enforcement.stops_writes(),
        "{:?}",
        out.enforcement.missing
    );
    assert!(out.stdout.contains("allowed=0"), "{out:#?}");
    assert!(out.stdout.contains("tmp=0"), "{out:#?}");
    assert!(!out.stdout.contains("other=0"), "{out:#?}");
    assert!(!out.stdout.contains("etc=0"), "{out:#?}");
    assert!(allowed.join("x").exists());
    assert!(
        !other.join("x").exists(),
        "the unlisted directory was written"
    );
    assert!(!Path::new("/etc/aios-sbx-escape").exists());
    // The private /tmp was the command's own.
    assert!(!Path::new("/tmp/x").exists() || !out.enforcement.mount_ns);

    // Even root inside (uid 0 asked for) cannot write /etc: the kernel's
    // file permissions would allow it, the read-only root does not.
    if root() {
        s.uid = 0;
        s.gid = 0;
        let out = run(s).await;
        assert!(out.stdout.contains("etc=1"), "{out:#?}");
        assert!(!other.join("x").exists());
        assert!(!Path::new("/etc/aios-sbx-escape").exists());
    }
}

/// A directory of sockets (toolsd's, the session bus) listed in `hidden`
/// is empty inside: the command cannot even find the socket, though it
/// may use `AF_UNIX`.
#[tokio::test]
async fn hidden_directories_are_empty_inside() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch();
    let run_dir = world_writable_dir(dir.path(), "run");
    let sock = run_dir.join("toolsd.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o777)).unwrap();
    let script = r#"if [ -S "$1/toolsd.sock" ]; then echo visible; else echo gone; fi"#;
    let mut s = spec(&["sh", "-c", script, "sh", run_dir.to_str().unwrap()]);
    // Control: without `hidden` the command sees the socket.
    let out = run(s.clone()).await;
    assert_eq!(out.stdout, "visible\n", "{out:#?}");
    s.hidden = vec![run_dir.clone(), dir.path().join("missing")];
    let out = run(s).await;
    if !out.enforcement.mount_ns {
        assert!(
            out.enforcement
                .missing
                .iter()
                .any(|l| l.contains("is not hidden")),
            "{out:#?}"
        );
        return;
    }
    assert_eq!(out.stdout, "gone\n", "{out:#?}");
    assert!(
        !out.enforcement.missing.iter().any(|l| l.contains("hidden")),
        "{out:#?}"
    );
}

#[tokio::test]
async fn network_connect_fails_unless_granted() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let script = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected");
    let out = run(spec(&["bash", "-c", &script])).await;
    assert!(!out.stdout.contains("connected"), "{out:#?}");
    assert_ne!(out.exit_code, Some(0), "{out:#?}");
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "a connection reached the host");

    // Control: granted, the same command connects (the test can fail).
    let mut s = spec(&["bash", "-c", &script]);
    s.network = true;
    let out = run(s).await;
    assert!(out.stdout.contains("connected"), "{out:#?}");
}

#[tokio::test]
async fn ptrace_and_io_uring_are_refused() {
    let Some(py) = python() else { return };
    let code = "import ctypes\n\
                l = ctypes.CDLL(None, use_errno=True)\n\
                r = l.ptrace(0, 0, 0, 0)\n\
                print('ptrace', r, ctypes.get_errno())\n\
                buf = ctypes.create_string_buffer(120)\n\
                r = l.syscall(425, 4, buf)\n\
                print('io_uring', r, ctypes.get_errno())\n";
    let out = run(spec(&[py, "-c", code])).await;
    assert_eq!(out.exit_code, Some(0), "{out:#?}");
    assert!(out.stdout.contains("ptrace -1 1\n"), "{out:#?}");
    assert!(out.stdout.contains("io_uring -1 1\n"), "{out:#?}");
}

#[tokio::test]
async fn a_fork_bomb_is_contained_and_leaves_nothing() {
    let marker = format!("aios_sbx_bomb_{}", std::process::id());
    let script = format!("{marker}=1; f() {{ f | f & }}; f; wait");
    let mut s = spec(&["bash", "-c", &script]);
    s.max_processes = 32;
    s.timeout = Duration::from_secs(3);
    let out = run(s).await;
    eprintln!("exit {:?} timed_out {}", out.exit_code, out.timed_out);
    let left = procs_with(&marker);
    assert!(left.is_empty(), "survivors: {left:?}");
}

#[tokio::test]
async fn runaway_output_is_capped_and_marked() {
    let mut s = spec(&["sh", "-c", "yes | head -c 20000000"]);
    s.max_output_bytes = 64 * 1024;
    let out = run(s).await;
    assert_eq!(out.exit_code, Some(0), "{:?}", out.stderr);
    assert!(!out.timed_out);
    assert!(out.output_truncated);
    assert_eq!(out.stdout.len() + out.stderr.len(), 64 * 1024);
}

#[tokio::test]
async fn timeout_kills_the_whole_tree() {
    let marker = format!("1000.{}", std::process::id());
    let script = format!("sleep {marker} & sleep {marker}");
    let mut s = spec(&["sh", "-c", &script]);
    s.timeout = Duration::from_secs(1);
    let out = run(s).await;
    assert!(out.timed_out, "{out:#?}");
    assert_eq!(out.signal, Some(libc::SIGKILL));
    let left = procs_with(&marker);
    assert!(left.is_empty(), "survivors: {left:?}");
}

#[tokio::test]
async fn cancel_kills_the_tree_and_says_so() {
    let marker = format!("1001.{}", std::process::id());
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    let script = format!("echo started; sleep {marker}");
    let mut s = spec(&["sh", "-c", &script]);
    s.timeout = Duration::from_secs(60);
    let task = tokio::spawn(aios_sandbox::run(s, c2));
    // Wait (bounded) until the sleep exists, then cancel.
    let t0 = std::time::Instant::now();
    while procs_with(&marker).is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "sleep never started"
        );
        tokio::task::yield_now().await;
    }
    cancel.cancel();
    let e = task.await.unwrap().unwrap_err();
    assert_eq!(e.kind(), SandboxErrorKind::Cancelled, "{e}");
    assert!(procs_with(&marker).is_empty());
}

#[tokio::test]
async fn unknown_command_and_bad_specs_are_clear_errors() {
    let e = aios_sandbox::run(spec(&["no-such-command-aios"]), CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), SandboxErrorKind::NotFound, "{e}");
    assert!(e.message().contains("no-such-command-aios"), "{e}");
    let e = aios_sandbox::run(spec(&[]), CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), SandboxErrorKind::InvalidSpec);
    let mut s = spec(&["true"]);
    s.writable = vec!["/nonexistent/aios".into()];
    let e = aios_sandbox::run(s, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(e.message().contains("/nonexistent/aios"), "{e}");
}
