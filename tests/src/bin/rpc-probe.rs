//! `rpc-probe SOCKET CALL`: make one RPC and print its outcome as one JSON
//! line. End-to-end tests run it as another uid to check that servers refuse
//! callers by their kernel-verified credentials.
//!
//! Calls: `ping`, `memory-put-session`, `memory-get-session ID`,
//! `tools-execute-as UID`, and `hold`: connect to SOCKET, hand the connected
//! descriptor to the parent over fd 3 (`SCM_RIGHTS`) and exit, so the
//! connection outlives the process whose credentials it carries; `listen`:
//! bind SOCKET (mode 0777), print `ready`, and accept connections until
//! killed, as an impostor would.

use std::process::ExitCode;

use aios_proto::{ApiErrorKind, ApprovalMode, ExecuteEvent, ExecuteRequest, SessionInfo};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            println!(
                "{}",
                serde_json::json!({"outcome": "error", "message": e.to_string()})
            );
            return ExitCode::FAILURE;
        }
    };
    let outcome = rt.block_on(probe(&args));
    let line = match outcome {
        Ok(detail) => serde_json::json!({"outcome": "ok", "detail": detail}),
        Err((kind, message)) => serde_json::json!({"outcome": kind, "message": message}),
    };
    println!("{line}");
    ExitCode::SUCCESS
}

async fn probe(args: &[String]) -> Result<String, (String, String)> {
    let [socket, call, rest @ ..] = args else {
        return Err(("usage".into(), "rpc-probe SOCKET CALL [ARG]".into()));
    };
    if call == "hold" {
        return hold(socket);
    }
    if call == "listen" {
        return listen(socket);
    }
    let channel = aios_proto::connect(std::path::Path::new(socket))
        .await
        .map_err(|e| ("connect_failed".to_string(), e.to_string()))?;
    let kind = |e: aios_proto::ApiError| {
        let k = match e.kind {
            ApiErrorKind::PermissionDenied => "denied",
            ApiErrorKind::NotFound => "not_found",
            _ => "error",
        };
        (k.to_string(), e.message)
    };
    match call.as_str() {
        "ping" => {
            let p = aios_proto::HealthClient::new(channel)
                .ping()
                .await
                .map_err(kind)?;
            Ok(format!("uid {}", p.caller_uid))
        }
        "memory-put-session" => {
            aios_proto::MemoryClient::new(channel)
                .put_session(SessionInfo {
                    id: "intruder".into(),
                    uid: 0,
                    provider: "scripted".into(),
                    model: String::new(),
                    created_unix_ms: 0,
                    title: "forged".into(),
                    approval: ApprovalMode::Ask,
                    kind: Default::default(),
                })
                .await
                .map_err(kind)?;
            Ok("written".into())
        }
        "memory-get-session" => {
            let id = rest.first().cloned().unwrap_or_default();
            let s = aios_proto::MemoryClient::new(channel)
                .get_session(&id)
                .await
                .map_err(kind)?;
            Ok(s.title)
        }
        "tools-execute-as" => {
            let uid: u32 = rest.first().and_then(|u| u.parse().ok()).unwrap_or(0);
            let mut stream = aios_proto::ToolsClient::new(channel)
                .execute(ExecuteRequest {
                    session_id: "probe".into(),
                    call_id: "c1".into(),
                    tool: "sys.overview".into(),
                    args: serde_json::json!({}),
                    on_behalf_of_uid: uid,
                    timeout_ms: 10_000,
                    rationale: String::new(),
                    ..Default::default()
                })
                .await
                .map_err(kind)?;
            use futures::StreamExt as _;
            while let Some(ev) = stream.next().await {
                match ev.map_err(kind)? {
                    ExecuteEvent::End(end) => {
                        let status = format!("{:?}", end.status).to_lowercase();
                        return if status == "ok" {
                            Ok(status)
                        } else if status == "denied" {
                            Err(("denied".into(), end.result.to_string()))
                        } else {
                            Err(("error".into(), end.result.to_string()))
                        };
                    }
                    ExecuteEvent::Output(_) => {}
                    // A probe cannot approve: report that it was asked.
                    ExecuteEvent::ApprovalNeeded(a) => {
                        return Err(("approval".into(), a.call_hash));
                    }
                }
            }
            Err(("error".into(), "stream ended without a result".into()))
        }
        "search-history" => {
            let text = rest.first().cloned().unwrap_or_default();
            let hits = aios_proto::SearchClient::new(channel)
                .query(aios_proto::SearchQuery {
                    collection: "history".into(),
                    text: Some(text),
                    limit: 100,
                    ..Default::default()
                })
                .await
                .map_err(kind)?;
            Ok(format!("{} hits", hits.len()))
        }
        "search-write-history" => {
            aios_proto::SearchClient::new(channel)
                .write(
                    "history",
                    true,
                    vec![aios_proto::SearchDocument {
                        id: "forged".into(),
                        text: "a forged memory".into(),
                        ..Default::default()
                    }],
                )
                .await
                .map_err(kind)?;
            Ok("written".into())
        }
        other => Err(("usage".into(), format!("unknown call {other}"))),
    }
}

/// Connect to `socket` and pass the connection to the parent over fd 3.
fn hold(socket: &str) -> Result<String, (String, String)> {
    use std::os::fd::{AsRawFd, BorrowedFd};
    let fail =
        |what: &str, e: &dyn std::fmt::Display| ("error".to_string(), format!("{what}: {e}"));
    let conn = std::os::unix::net::UnixStream::connect(socket).map_err(|e| fail("connect", &e))?;
    // SAFETY: the parent starts this process with a Unix socket at fd 3 and
    // keeps it open for the process's whole life.
    let parent = unsafe { BorrowedFd::borrow_raw(3) };
    let fds = [conn.as_raw_fd()];
    let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
    let iov = [std::io::IoSlice::new(b"x")];
    nix::sys::socket::sendmsg::<()>(
        parent.as_raw_fd(),
        &iov,
        &cmsg,
        nix::sys::socket::MsgFlags::empty(),
        None,
    )
    .map_err(|e| fail("sendmsg", &e))?;
    Ok(format!("held by pid {}", std::process::id()))
}

/// Listen on `socket` as whoever runs this, accepting and dropping
/// connections until killed.
fn listen(socket: &str) -> Result<String, (String, String)> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let fail =
        |what: &str, e: &dyn std::fmt::Display| ("error".to_string(), format!("{what}: {e}"));
    let l = std::os::unix::net::UnixListener::bind(socket).map_err(|e| fail("bind", &e))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o777))
        .map_err(|e| fail("chmod", &e))?;
    let mut out = std::io::stdout();
    writeln!(out, "ready")
        .and_then(|()| out.flush())
        .map_err(|e| fail("stdout", &e))?;
    loop {
        l.accept().map_err(|e| fail("accept", &e))?;
    }
}
