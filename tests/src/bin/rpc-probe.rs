//! `rpc-probe SOCKET CALL`: make one RPC and print its outcome as one JSON
//! line. End-to-end tests run it as another uid to check that servers refuse
//! callers by their kernel-verified credentials.
//!
//! Calls: `ping`, `memory-put-session`, `memory-get-session ID`,
//! `tools-execute-as UID`.

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
                }
            }
            Err(("error".into(), "stream ended without a result".into()))
        }
        other => Err(("usage".into(), format!("unknown call {other}"))),
    }
}
