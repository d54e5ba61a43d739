//! The boot test (issue 3, section 4): boot the aiOS kernel and initramfs
//! in QEMU under TCG emulation with the serial port as the console, and
//! check from what the machine prints, in order:
//!
//! 1. the kernel booted and ran `/init`;
//! 2. `initd` mounted the API filesystems and started the daemons in
//!    dependency order, each after its dependencies reported readiness;
//! 3. `aios` came up on the serial console (autologin, motd, prompt);
//! 4. a non-interactive request with the scripted provider went through the
//!    real daemons (a tool ran in toolsd, the model turn came from gatewayd)
//!    and the session is in the session store (memoryd lists it);
//! 5. the trust between processes holds: each daemon runs as its user
//!    (gatewayd as `aios-gateway`), the service user `aios` can read neither
//!    the API key file nor gatewayd's environment, the console user cannot
//!    create files in `/run/aios`, and every daemon confined itself with
//!    Landlock;
//! 6. `poweroff` stopped the services in reverse order and QEMU exited 0.
//!
//! Steps 4 and 5 are driven inside the VM by `/usr/lib/aios/boot-test`
//! (started by initd only with `aios.boot_test=1` on the kernel command
//! line); it prints lines starting with `AIOS-BOOT-TEST: `.
//!
//! Markers are substrings of the serial log with ANSI escapes removed
//! (firmware and initd's coloured log share lines). Nothing here asserts on
//! time; the only limit is the outer 180 s after which QEMU is killed
//! (`aios_tests::qemu`).
//!
//! The kernel and initramfs come from `AIOS_BOOT_KERNEL` and
//! `AIOS_BOOT_INITRD`, which `cargo xtask test` sets after building them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;

use aios_tests::qemu::{self, LIMIT, Reader, artifact, strip_ansi};

/// Prefix of the in-VM test script's lines.
const TAG: &str = "AIOS-BOOT-TEST: ";

#[test]
fn the_image_boots_to_aios_runs_a_request_and_powers_off() {
    let kernel = artifact("AIOS_BOOT_KERNEL");
    let initrd = artifact("AIOS_BOOT_INITRD");
    let server = HostServer::start();
    let args: Vec<OsString> = vec![
        "-kernel".into(),
        kernel.into(),
        "-initrd".into(),
        initrd.into(),
        // QEMU's user-mode network: DHCP server 10.0.2.2 (also the host's
        // loopback), name server 10.0.2.3.
        "-nic".into(),
        "user,model=virtio-net-pci".into(),
        "-append".into(),
        // AIOS_LOG=info: initd's full log on the console (the markers below).
        format!(
            "console=ttyS0,115200 panic=-1 aios.boot_test=1 AIOS_LOG=info aios.test_host=10.0.2.2:{}",
            server.port
        )
        .into(),
    ];
    let boot = qemu::boot(
        &args,
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        "boot-serial.log",
    );
    let mut r = Reader::new(&boot, TAG);

    // 1. The kernel.
    r.expect("the kernel banner", "Linux version ");
    r.expect("the initramfs unpacked", "Unpacking initramfs");
    let init = r.expect(
        "the kernel starting /init (initd)",
        "Run /init as init process",
    );

    // 2. initd: filesystems and services.
    r.expect("initd's supervisor running", "initd running");
    // A service that failed says so in initd's log; name it first.
    r.no_failed_services(init, &[]);
    let ready = |name: &str| r.at(init, &format!("ready service={name}"));
    let started = |name: &str| r.at(init, &format!("started service={name}"));
    let setup_ready = ready("aios-setup");
    for d in ["memoryd", "toolsd", "gatewayd"] {
        let s = started(d);
        if s < setup_ready {
            r.fail(&format!("{d} started before aios-setup was ready"));
        }
    }
    let aiosd_started = started("aiosd");
    for d in ["memoryd", "toolsd", "gatewayd"] {
        if ready(d) > aiosd_started {
            r.fail(&format!(
                "aiosd started before its dependency {d} was ready"
            ));
        }
    }
    let aiosd_ready = ready("aiosd");
    if aiosd_ready < aiosd_started {
        r.fail("aiosd ready before it started");
    }
    // What initd mounted, as the in-VM script (started after aiosd) saw it.
    if r.find_from(aiosd_ready, &format!("{TAG}started")).is_none() {
        r.fail("the in-VM boot test (/usr/lib/aios/boot-test) never started");
    }
    let mounts = r.tagged("mount");
    for (point, fstype) in [
        ("/proc", "proc"),
        ("/sys", "sysfs"),
        ("/dev", "devtmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/run", "tmpfs"),
        ("/sys/fs/cgroup", "cgroup2"),
    ] {
        let want = format!("{point} {fstype}");
        if !mounts.iter().any(|m| m.trim() == want) {
            r.fail(&format!(
                "{point} is not mounted as {fstype}; mounts: {mounts:?}"
            ));
        }
    }

    // 3. The console shell, after the daemons.
    r.pos = aiosd_ready;
    r.expect("the motd of the autologin", "Welcome to aiOS.");
    let prompt = r.expect("the aios prompt on the serial console", "aios> ");

    // 4. One request through the real daemons.
    let request = r.at(aiosd_ready, &format!("{TAG}request exit="));
    r.pos = request;
    let events = r.expect_completed_request();
    let kind = |e: &serde_json::Value| e["type"].as_str().unwrap_or("").to_string();
    let Some(first) = events.first() else {
        r.fail("the request printed no events")
    };
    if kind(first) != "session_started" {
        r.fail(&format!("the first event is not session_started: {first}"));
    }
    let session_id = first["session_id"].as_str().unwrap_or("").to_string();
    if session_id.is_empty() {
        r.fail("session_started has no session_id");
    }
    let last = events.last().unwrap();
    if kind(last) != "turn_completed" {
        r.fail(&format!("the last event is not turn_completed: {last}"));
    }
    // A tool ran in toolsd, and the model turn came through gatewayd.
    if !events.iter().any(|e| kind(e) == "tool_call_begin")
        || !events.iter().any(|e| kind(e) == "tool_call_end")
    {
        r.fail(&format!("no tool call in the events: {events:?}"));
    }
    if !events
        .iter()
        .any(|e| kind(e) == "usage" && e["provider"] == "scripted")
    {
        r.fail("no usage event from the scripted provider");
    }
    // The session store (memoryd, through aiosd) lists the session.
    r.expect("the sessions listing", &format!("{TAG}sessions exit=0"));
    let sessions: Vec<serde_json::Value> = r
        .tagged("session")
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let Some(stored) = sessions.iter().find(|s| s["id"] == session_id.as_str()) else {
        r.fail(&format!(
            "session {session_id} is not in the session store: {sessions:?}"
        ))
    };
    if stored["title"] != "how full is my disk?" || stored["uid"] != 1000 {
        r.fail(&format!(
            "the stored session is not the request's: {stored}"
        ));
    }

    // Trust between processes, as the in-VM script observed it.
    trust_holds(&r);

    // The network service's DHCP lease, and a fetch from the host.
    r.expect("the network check's fetch", &format!("{TAG}fetch exit="));
    let addrs = r.tagged("addr");
    if !addrs.iter().any(|a| a.contains("inet 10.0.2.15/24")) {
        r.fail(&format!(
            "no DHCP address 10.0.2.15/24 on the guest: {addrs:?}"
        ));
    }
    let route = r.tagged("route");
    if !route.iter().any(|l| l.contains("default via 10.0.2.2")) {
        r.fail(&format!("no default route via 10.0.2.2: {route:?}"));
    }
    let resolv = r.tagged("resolv");
    if !resolv.iter().any(|l| l.trim() == "nameserver 10.0.2.3") {
        r.fail(&format!(
            "/etc/resolv.conf lacks the lease's name server: {resolv:?}"
        ));
    }
    let fetch = r.tagged("fetch");
    let want = format!("exit=0 body={}", server.nonce);
    if fetch.first().map(|f| f.trim()) != Some(want.as_str()) {
        r.fail(&format!(
            "the guest did not fetch the host's page: {fetch:?}, want {want:?}"
        ));
    }
    if server.requests() == 0 {
        r.fail("the host's HTTP server saw no request");
    }

    // 5. Ordered shutdown and power off.
    let (shutdown, stopped) = r.expect_clean_power_off();
    let stop = |name: &str| r.at(shutdown, &format!("stopping service={name}"));
    let aiosd_stop = stop("aiosd");
    for d in ["memoryd", "toolsd", "gatewayd"] {
        if stop(d) < aiosd_stop {
            r.fail(&format!("{d} stopped before aiosd, which requires it"));
        }
        if stop(d) > stopped {
            r.fail(&format!("{d} stopped after initd said all services had"));
        }
    }
    // The prompt came up before the machine went down.
    assert!(prompt < shutdown);
}

/// The in-VM script's `trust ...` lines: the users the daemons run as, who
/// can read the API key file and gatewayd's environment, the mode of
/// `/run/aios`, and each daemon's Landlock confinement.
fn trust_holds(r: &Reader) {
    let trust: Vec<String> = r
        .tagged("trust")
        .iter()
        .map(|l| l.trim().to_string())
        .collect();
    let has = |want: &str| trust.iter().any(|l| l == want);
    for (daemon, user) in [
        ("aiosd", "aios"),
        ("memoryd", "aios"),
        ("toolsd", "root"),
        ("gatewayd", "aios-gateway"),
    ] {
        // no_new_privs=1: set by the Landlock self-restriction.
        let want = format!("user {daemon} {user} no_new_privs=1");
        if !has(&want) {
            r.fail(&format!(
                "expected {want:?} among the trust lines: {trust:?}"
            ));
        }
        // toolsd starts the exec sandbox, which mounts: Landlock would
        // forbid that, so toolsd says it does not confine itself.
        let want = if daemon == "toolsd" {
            "landlock toolsd not applied: toolsd starts the exec sandbox".to_string()
        } else {
            format!("landlock {daemon} enforced")
        };
        let found = if daemon == "toolsd" {
            trust.iter().any(|l| l.starts_with(&want))
        } else {
            has(&want)
        };
        if !found {
            r.fail(&format!(
                "expected {want:?} among the trust lines: {trust:?}"
            ));
        }
    }
    for want in [
        // The service user of aiosd and memoryd cannot read the key file
        // or gatewayd's environment...
        "aios-reads-keys no",
        "aios-reads-gateway-environ no",
        // ...while the gateway's user reads the key file and root finds
        // the gateway's environment (so the refusals above are the
        // separate users at work, not a missing file or process).
        "gateway-reads-keys yes",
        "root-reads-gateway-environ yes",
        // Only daemon users create sockets; the sticky bit keeps each its
        // owner's.
        "admin-creates-in-run-aios no",
        "run-aios 1771 root:aios-daemons",
        "keys-file 600 aios-gateway",
    ] {
        if !has(want) {
            r.fail(&format!(
                "expected {want:?} among the trust lines: {trust:?}"
            ));
        }
    }
}

/// A one-page HTTP server on the host's loopback, which the guest reaches
/// as 10.0.2.2 through QEMU's user-mode network. The page is a nonce, so
/// the guest can only print it by fetching it.
struct HostServer {
    port: u16,
    nonce: String,
    served: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl HostServer {
    fn start() -> HostServer {
        use std::io::Write;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let nonce = format!(
            "aios-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let served = std::sync::Arc::new(AtomicUsize::new(0));
        let (body, count) = (nonce.clone(), served.clone());
        // Lives until the test process ends; one request per connection.
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let mut req = [0u8; 2048];
                let n = conn.read(&mut req).unwrap_or(0);
                let ok = String::from_utf8_lossy(&req[..n]).starts_with("GET /aios-boot-test ");
                let (status, text) = if ok {
                    ("200 OK", body.as_str())
                } else {
                    ("404 Not Found", "not found")
                };
                let _ = write!(
                    conn,
                    "HTTP/1.0 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
                if ok {
                    count.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        HostServer {
            port,
            nonce,
            served,
        }
    }

    fn requests(&self) -> usize {
        self.served.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A fatal failure of PID 1 drops to a working recovery shell on the
/// console instead of a kernel panic. `AIOS_RECOVERY=1` on the kernel
/// command line takes initd down that same fatal path.
#[test]
fn fatal_failure_drops_to_a_working_recovery_console() {
    use std::io::Write;
    let kernel = artifact("AIOS_BOOT_KERNEL");
    let initrd = artifact("AIOS_BOOT_INITRD");
    let mut child = Command::new("qemu-system-x86_64")
        .args(qemu::base_args())
        .arg("-kernel")
        .arg(&kernel)
        .arg("-initrd")
        .arg(&initrd)
        .args(["-append", "console=ttyS0,115200 panic=-1 AIOS_RECOVERY=1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run qemu-system-x86_64 (apt-get install qemu-system-x86)");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let mut stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + LIMIT;
    let mut raw = Vec::new();
    let mut wait_for = |marker: &str| {
        loop {
            let text = strip_ansi(&String::from_utf8_lossy(&raw)).replace('\r', "");
            if text.contains(marker) {
                return;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(bytes) => raw.extend(bytes),
                Err(_) => {
                    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                    panic!("no {marker:?} on the serial console; saw:\n{text}");
                }
            }
        }
    };
    wait_for("FATAL: recovery requested");
    wait_for("dropping to a recovery shell");
    let mut stdin = child.stdin.take().unwrap();
    // The shell evaluates what we type: the marker only appears computed.
    stdin.write_all(b"echo RECOVERY-$((6*7))\n").unwrap();
    wait_for("RECOVERY-42");
    stdin.write_all(b"poweroff -f\n").unwrap();
    wait_for("Power down");
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "QEMU exits cleanly after the recovery shell powers off"
    );
}
