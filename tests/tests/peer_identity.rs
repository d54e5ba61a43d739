//! Identity on aiOS sockets is what the kernel recorded when a connection
//! was made, for both ends:
//!
//! - a server takes the caller's groups at connect time (`SO_PEERGROUPS`),
//!   so a caller whose pid is reused by an administrator's process does not
//!   become an administrator;
//! - a client refuses a socket served by a user who is not an aiOS daemon.
//!
//! Acting as other users needs root (CI runs as root); without root these
//! tests fail loudly rather than pass vacuously.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aios_tests::bin;

const NOBODY: u32 = 65534;

/// Held while copying an executable and while spawning: a child forked by
/// another test thread inherits the copy's open write descriptor until its
/// own exec, and exec of a file open for writing fails with ETXTBSY.
static FORK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Copy `rpc-probe` where nobody may run it.
fn probe_in(dir: &Path) -> PathBuf {
    let probe = dir.join("rpc-probe");
    let _fork = FORK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !probe.exists() {
        std::fs::copy(bin("rpc-probe"), &probe).unwrap();
        std::fs::set_permissions(&probe, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    probe
}

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test must run as root to act as other users (CI does)"
    );
}

/// A gid of one of aiOS's admin groups on this machine.
fn admin_gid() -> u32 {
    aios_proto::ADMIN_GROUPS
        .iter()
        .find_map(|n| nix::unistd::Group::from_name(n).ok().flatten())
        .map(|g| g.gid.as_raw())
        .expect("this test needs an admin group (sudo, wheel or aios-admin) on the machine")
}

/// Serve the health service (which reports the caller it saw) on a socket
/// everyone may reach, in a runtime of its own.
struct Server {
    dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let sock = dir.path().join("test.sock");
        let listener = rt.block_on(aios_proto::bind(&sock)).unwrap();
        std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
        rt.spawn(aios_proto::Services::new("test").serve(listener, std::future::pending()));
        Server { dir, _rt: rt }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("test.sock")
    }
}

/// Receive one descriptor sent with `SCM_RIGHTS` on `sock`.
fn receive_fd(sock: &std::os::unix::net::UnixStream) -> OwnedFd {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel just installed this descriptor for us.
            return unsafe { OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no descriptor received");
}

/// Start a process as `nobody` with exactly `groups`; fd 3 is `pass` when
/// given.
fn spawn_as_nobody(cmd: &mut Command, groups: Vec<u32>, pass: Option<i32>) -> Child {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(fd) = pass
                && libc::dup2(fd, 3) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
            let gids: Vec<libc::gid_t> = groups.clone();
            if libc::setgroups(gids.len(), gids.as_ptr()) != 0
                || libc::setgid(NOBODY) != 0
                || libc::setuid(NOBODY) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let _fork = FORK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    cmd.spawn().unwrap()
}

/// Ping the server over an already connected socket.
fn ping_over(fd: OwnedFd) -> aios_proto::PingReply {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let std_stream = std::os::unix::net::UnixStream::from(fd);
        std_stream.set_nonblocking(true).unwrap();
        let stream =
            std::sync::Mutex::new(Some(tokio::net::UnixStream::from_std(std_stream).unwrap()));
        let channel = tonic_endpoint()
            .connect_with_connector(tower::service_fn(move |_| {
                let s = stream.lock().unwrap().take();
                async move {
                    s.map(hyper_util::rt::TokioIo::new).ok_or_else(|| {
                        std::io::Error::other("the held connection was used already")
                    })
                }
            }))
            .await
            .unwrap();
        aios_proto::HealthClient::new(channel).ping().await.unwrap()
    })
}

fn tonic_endpoint() -> tonic::transport::Endpoint {
    tonic::transport::Endpoint::from_static("http://aios.local")
}

fn supplementary_groups_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Have a process running as `nobody` with exactly `groups` connect to
/// the server and hand us the connection; it has exited when this returns.
/// Returns the connection and the pid that made it.
fn connection_made_by_nobody(server: &Server, groups: Vec<u32>) -> (OwnedFd, u32) {
    let probe = probe_in(server.dir.path());
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut child = spawn_as_nobody(
        Command::new(&probe)
            .arg(server.socket())
            .arg("hold")
            .stdout(Stdio::piped())
            .env_clear(),
        groups,
        Some(theirs.as_raw_fd()),
    );
    let held = receive_fd(&ours);
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    (held, pid)
}

#[test]
fn a_reused_pid_does_not_lend_its_groups_to_an_earlier_connection() {
    require_root();
    let admin = admin_gid();
    let server = Server::start();
    // A: nobody, no groups, connects and hands the connection to us, then exits.
    let (held, a_pid) = connection_made_by_nobody(&server, vec![]);

    // B: an administrator's process that gets A's pid.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut b = loop {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (a_pid - 1).to_string()).unwrap();
        let mut b = spawn_as_nobody(
            Command::new("sleep").arg("120").env_clear(),
            vec![admin],
            None,
        );
        if b.id() == a_pid {
            break b;
        }
        b.kill().unwrap();
        b.wait().unwrap();
        assert!(
            Instant::now() < deadline,
            "could not get pid {a_pid} reused (other processes kept taking it)"
        );
    };
    // The old way of reading groups (/proc/<pid>/status at call time) would
    // now see the admin group.
    let groups = supplementary_groups_of(a_pid);
    assert!(
        groups.split_whitespace().any(|g| g == admin.to_string()),
        "pid {a_pid} should now belong to the admin process: Groups: {groups}"
    );

    let reply = ping_over(held);
    b.kill().unwrap();
    b.wait().unwrap();
    assert_eq!(reply.caller_uid, NOBODY);
    assert!(
        !reply.caller_admin,
        "the connection made by a non-admin became admin after its pid was reused"
    );
}

#[test]
fn a_caller_in_an_admin_group_at_connect_time_is_admin() {
    // The positive case of the same mechanism, so the test above cannot pass
    // merely because groups are never read.
    require_root();
    let admin = admin_gid();
    let server = Server::start();
    let (held, _) = connection_made_by_nobody(&server, vec![admin]);
    let reply = ping_over(held);
    assert_eq!(reply.caller_uid, NOBODY);
    assert!(
        reply.caller_admin,
        "a member of an admin group is an administrator"
    );
}

#[test]
fn a_client_refuses_a_socket_served_by_a_user_who_is_not_a_daemon() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let sock = dir.path().join("aiosd.sock");
    // An impostor (nobody) listens where a daemon's socket would be.
    let probe = probe_in(dir.path());
    let mut impostor = spawn_as_nobody(
        Command::new(&probe)
            .arg(&sock)
            .arg("listen")
            .stdout(Stdio::piped())
            .env_clear(),
        vec![],
        None,
    );
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(impostor.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "ready");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(aios_proto::connect(Path::new(&sock)))
        .unwrap_err();
    impostor.kill().unwrap();
    impostor.wait().unwrap();
    let msg = err.to_string();
    assert!(msg.contains(&format!("served by uid {NOBODY}")), "{msg}");
}
