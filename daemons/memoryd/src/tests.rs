//! Authorization and error mapping of [`MemoryService`], with hand-built
//! principals over a real store in a temporary directory.

use aios_proto::{ApiErrorKind, ApprovalMode, Role, ToolStatus};
use serde_json::json;

use super::*;

/// A plain user: not admin, not the service uid.
fn user(uid: u32) -> Principal {
    Principal::ordinary(uid)
}

fn admin(uid: u32) -> Principal {
    Principal {
        admin: true,
        ..user(uid)
    }
}

/// aiosd: same uid as the server.
fn daemon() -> Principal {
    Principal {
        trusted_peer: true,
        ..user(999)
    }
}

fn session(id: &str, uid: u32) -> SessionInfo {
    SessionInfo {
        id: id.into(),
        uid,
        provider: "p".into(),
        model: "m".into(),
        created_unix_ms: 1,
        title: "t".into(),
        approval: ApprovalMode::Ask,
        kind: Default::default(),
    }
}

fn message(session: &str) -> StoredMessage {
    StoredMessage {
        session_id: session.into(),
        turn_id: "t1".into(),
        role: Role::User,
        content: "why is the disk full?".into(),
        tool_calls: vec![],
        tool_call_id: None,
        unix_ms: 2,
    }
}

fn call(session: &str) -> StoredToolCall {
    StoredToolCall {
        session_id: session.into(),
        turn_id: "t1".into(),
        call_id: "c1".into(),
        tool: "fs.usage".into(),
        args: json!({"path": "/"}),
        status: ToolStatus::Ok,
        result: json!({"used": 1}),
        duration_us: 10,
        unix_ms: 3,
    }
}

/// A service with session "alice" owned by uid 1000 holding one message.
async fn service() -> (tempfile::TempDir, MemoryService) {
    let dir = tempfile::tempdir().unwrap();
    let svc = MemoryService::new(Store::open(&dir.path().join("m.sqlite3")).unwrap());
    svc.put_session(daemon(), session("alice", 1000))
        .await
        .unwrap();
    svc.append_message(daemon(), message("alice"))
        .await
        .unwrap();
    (dir, svc)
}

fn assert_denied<T: std::fmt::Debug>(r: Result<T, ApiError>) {
    let err = r.unwrap_err();
    assert_eq!(err.kind, ApiErrorKind::PermissionDenied, "{err:?}");
}

#[tokio::test]
async fn writes_require_the_daemon_right() {
    let (_dir, svc) = service().await;
    // Even an administrator's shell may not write the store directly.
    for who in [user(1000), admin(0)] {
        let mut who = who;
        who.trusted_peer = false;
        assert_denied(svc.put_session(who.clone(), session("x", 1000)).await);
        assert_denied(svc.append_message(who.clone(), message("alice")).await);
        assert_denied(svc.record_tool_call(who.clone(), call("alice")).await);
    }
    // Nothing was written by the refused calls.
    assert_eq!(svc.store().get_messages("alice", 0).unwrap().len(), 1);
    assert!(svc.store().get_tool_calls("alice", 0).unwrap().is_empty());
    assert_eq!(
        svc.store().get_session("x").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // The daemon may.
    svc.record_tool_call(daemon(), call("alice")).await.unwrap();
}

#[tokio::test]
async fn owner_reads_own_session_other_user_is_denied() {
    let (_dir, svc) = service().await;
    assert_eq!(
        svc.get_session(user(1000), "alice".into()).await.unwrap(),
        session("alice", 1000)
    );
    assert_eq!(
        svc.get_messages(user(1000), "alice".into(), 0)
            .await
            .unwrap(),
        vec![message("alice")]
    );

    let err = svc
        .get_session(user(1001), "alice".into())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ApiErrorKind::PermissionDenied);
    assert!(err.message.contains("uid 1001"), "{}", err.message);
    assert_denied(svc.get_messages(user(1001), "alice".into(), 0).await);
}

#[tokio::test]
async fn admin_reads_everyones_sessions() {
    let (_dir, svc) = service().await;
    assert_eq!(
        svc.get_session(admin(1001), "alice".into())
            .await
            .unwrap()
            .uid,
        1000
    );
    assert_eq!(
        svc.get_messages(admin(1001), "alice".into(), 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        svc.list_sessions(admin(1001), Some(1000), 0)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn listing_defaults_to_the_caller_and_other_uids_need_ownership() {
    let (_dir, svc) = service().await;
    svc.put_session(daemon(), session("bob", 1001))
        .await
        .unwrap();
    let own = svc.list_sessions(user(1000), None, 0).await.unwrap();
    assert_eq!(
        own.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["alice"]
    );
    assert_eq!(
        svc.list_sessions(user(1000), Some(1000), 0).await.unwrap(),
        own
    );
    assert_denied(svc.list_sessions(user(1000), Some(1001), 0).await);
}

#[tokio::test]
async fn the_daemon_reads_any_users_sessions_to_resume_them() {
    let (_dir, svc) = service().await;
    // aiosd is not an administrator, yet replays every user's sessions.
    assert!(!daemon().admin);
    assert_eq!(
        svc.get_session(daemon(), "alice".into()).await.unwrap().uid,
        1000
    );
    assert_eq!(
        svc.get_messages(daemon(), "alice".into(), 0).await.unwrap(),
        vec![message("alice")]
    );
    assert_eq!(
        svc.list_sessions(daemon(), Some(1000), 0)
            .await
            .unwrap()
            .len(),
        1
    );
    // With no uid it lists its own (none).
    assert!(
        svc.list_sessions(daemon(), None, 0)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn store_errors_map_to_api_kinds() {
    let (_dir, svc) = service().await;
    let err = svc.get_session(admin(0), "ghost".into()).await.unwrap_err();
    assert_eq!(err.kind, ApiErrorKind::NotFound);
    assert!(err.message.contains("\"ghost\""), "{}", err.message);
    let err = svc
        .append_message(daemon(), message("ghost"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ApiErrorKind::NotFound);
    let err = svc
        .put_session(daemon(), session("alice", 1001))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ApiErrorKind::InvalidArgument);
    let err = svc
        .put_session(daemon(), session("", 1001))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ApiErrorKind::InvalidArgument);
}

#[tokio::test]
async fn full_store_is_resource_exhausted_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let opts = aios_store::Options {
        max_bytes: Some(128 * 1024),
        ..Default::default()
    };
    let svc = MemoryService::new(Store::open_with(&dir.path().join("m.sqlite3"), &opts).unwrap());
    svc.put_session(daemon(), session("s", 1)).await.unwrap();
    let big = StoredMessage {
        content: "x".repeat(16 * 1024),
        ..message("s")
    };
    let mut stored = 0;
    let err = loop {
        match svc.append_message(daemon(), big.clone()).await {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored < 100, "the size limit never triggered");
    };
    assert_eq!(err.kind, ApiErrorKind::ResourceExhausted);
    assert!(err.message.starts_with("disk full: "), "{}", err.message);
}

fn event(session: &str, seq: u64) -> Event {
    Event {
        seq,
        session_id: session.into(),
        unix_ms: 5,
        kind: aios_proto::EventKind::Notification {
            level: "info".into(),
            text: format!("event {seq}"),
        },
    }
}

#[tokio::test]
async fn only_a_daemon_appends_events_and_only_the_owner_reads_them() {
    let (_dir, svc) = service().await;
    let events: Vec<Event> = (1..=3).map(|i| event("alice", i)).collect();
    assert_denied(svc.append_events(user(1000), events.clone()).await);
    assert_eq!(
        svc.append_events(daemon(), events.clone()).await.unwrap(),
        3
    );
    assert_eq!(
        svc.get_events(user(1000), "alice".into(), 0, 0, false)
            .await
            .unwrap(),
        events
    );
    assert_eq!(
        svc.get_events(daemon(), "alice".into(), 1, 1, true)
            .await
            .unwrap(),
        events[2..]
    );
    assert_denied(
        svc.get_events(user(1001), "alice".into(), 0, 0, false)
            .await,
    );
}
