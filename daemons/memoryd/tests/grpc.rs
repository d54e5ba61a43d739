//! The memory service over real gRPC on a temporary Unix socket, with the
//! result checked in the SQLite file itself afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use aios_memoryd::MemoryService;
use aios_proto::{
    ApiErrorKind, ApprovalMode, MemoryClient, Role, Services, SessionInfo, StoredMessage,
    StoredToolCall, ToolCall, ToolStatus,
};
use aios_store::Store;
use serde_json::json;

fn session(id: &str, uid: u32, created: i64) -> SessionInfo {
    SessionInfo {
        id: id.into(),
        uid,
        provider: "anthropic".into(),
        model: "claude".into(),
        created_unix_ms: created,
        title: format!("why is the disk full? ({id})"),
        approval: ApprovalMode::Policy,
        kind: Default::default(),
    }
}

fn message(session: &str, n: usize) -> StoredMessage {
    StoredMessage {
        session_id: session.into(),
        turn_id: format!("turn-{}", n / 3),
        role: [Role::User, Role::Assistant, Role::Tool][n % 3],
        content: format!("message {n} — ünïcødé ✓"),
        tool_calls: if n % 3 == 1 {
            vec![ToolCall {
                id: format!("call-{n}"),
                name: "fs.usage".into(),
                args: json!({"path": "/", "n": n}),
            }]
        } else {
            vec![]
        },
        tool_call_id: (n % 3 == 2).then(|| format!("call-{}", n - 1)),
        unix_ms: 1_700_000_000_000 + n as i64,
    }
}

#[tokio::test]
async fn round_trips_over_grpc_persist_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("memory.sqlite3");
    let sock = dir.path().join("run/memoryd.sock");

    let service = MemoryService::new(Store::open(&db).unwrap());
    let listener = aios_proto::bind(&sock).await.unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(Services::new("memoryd").memory(Arc::new(service)).serve(
        listener,
        async {
            let _ = stop_rx.await;
        },
    ));

    let mut client = MemoryClient::new(aios_proto::connect(&sock).await.unwrap());
    // This process is the server's own uid: a trusted peer, so it may write.
    let me = nix::unistd::geteuid().as_raw();
    client.put_session(session("older", me, 10)).await.unwrap();
    client.put_session(session("newer", me, 20)).await.unwrap();
    client
        .put_session(session("someone-else", me.wrapping_add(1), 30))
        .await
        .unwrap();

    assert_eq!(
        client.get_session("older").await.unwrap(),
        session("older", me, 10)
    );
    let listed: Vec<String> = client
        .list_sessions(None, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, ["newer", "older"]);
    assert_eq!(client.list_sessions(None, 1).await.unwrap().len(), 1);

    let mut ids = Vec::new();
    for n in 0..9 {
        ids.push(client.append_message(message("newer", n)).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let all = client.get_messages("newer", 0).await.unwrap();
    assert_eq!(all, (0..9).map(|n| message("newer", n)).collect::<Vec<_>>());
    let last = client.get_messages("newer", 4).await.unwrap();
    assert_eq!(last, all[5..]);

    // 1 MiB of text crosses the wire and comes back intact.
    let big = StoredMessage {
        content: "🦀".repeat(1 << 18),
        ..message("older", 0)
    };
    client.append_message(big.clone()).await.unwrap();
    assert_eq!(
        client.get_messages("older", 0).await.unwrap(),
        vec![big.clone()]
    );

    let call = StoredToolCall {
        session_id: "newer".into(),
        turn_id: "turn-0".into(),
        call_id: "call-1".into(),
        tool: "fs.usage".into(),
        args: json!({"path": "/"}),
        status: ToolStatus::Denied,
        result: json!("policy denies fs.usage on /"),
        duration_us: 1234,
        unix_ms: 99,
    };
    let call_id = client.record_tool_call(call.clone()).await.unwrap();
    assert!(call_id > 0);

    // Errors keep their kind across the wire.
    let err = client.get_session("ghost").await.unwrap_err();
    assert_eq!(err.kind, ApiErrorKind::NotFound, "{err:?}");
    assert!(err.message.contains("\"ghost\""), "{}", err.message);
    let err = client
        .append_message(message("ghost", 0))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ApiErrorKind::NotFound, "{err:?}");
    let err = client
        .put_session(session("older", me.wrapping_add(7), 10))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ApiErrorKind::InvalidArgument, "{err:?}");

    drop(client);
    stop_tx.send(()).unwrap();
    server.await.unwrap().unwrap();

    // The file itself, read without the store.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM sessions"), 3);
    assert_eq!(
        count("SELECT count(*) FROM messages WHERE session_id = 'newer'"),
        9
    );
    assert_eq!(
        count("SELECT count(*) FROM messages WHERE session_id = 'older'"),
        1
    );
    assert_eq!(count("SELECT count(*) FROM tool_calls"), 1);
    let (title, approval): (String, String) = conn
        .query_row(
            "SELECT title, approval FROM sessions WHERE id = 'newer'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(title, session("newer", me, 20).title);
    assert_eq!(approval, "policy");
    let contents: Vec<String> = conn
        .prepare("SELECT content FROM messages WHERE session_id = 'newer' ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        contents,
        (0..9)
            .map(|n| message("newer", n).content)
            .collect::<Vec<_>>()
    );
    let big_len: i64 = count("SELECT length(content) FROM messages WHERE session_id = 'older'");
    assert_eq!(big_len, 1 << 18); // characters
    let (row_id, status, args, result, duration): (i64, String, String, String, i64) = conn
        .query_row(
            "SELECT id, status, args_json, result_json, duration_us FROM tool_calls",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(row_id, call_id);
    assert_eq!(status, "denied");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&args).unwrap(),
        call.args
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&result).unwrap(),
        call.result
    );
    assert_eq!(duration, 1234);
}
