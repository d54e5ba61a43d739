//! Behaviour of the episodic store through its public API, on real files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use aios_domain::{
    ApprovalMode, Role, SessionInfo, SessionKind, StoredMessage, StoredToolCall, ToolCall,
    ToolStatus,
};
use aios_store::{ErrorKind, Options, Store};
use serde_json::json;

fn db(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("memory.sqlite3")
}

fn session(id: &str, uid: u32, created: i64) -> SessionInfo {
    SessionInfo {
        id: id.into(),
        uid,
        provider: "anthropic".into(),
        model: "claude".into(),
        created_unix_ms: created,
        title: format!("title of {id}"),
        approval: ApprovalMode::Ask,
        kind: SessionKind::Interactive,
    }
}

fn msg(session: &str, n: usize) -> StoredMessage {
    StoredMessage {
        session_id: session.into(),
        turn_id: format!("t{}", n / 2),
        role: if n.is_multiple_of(2) {
            Role::User
        } else {
            Role::Assistant
        },
        content: format!("message {n}"),
        tool_calls: vec![],
        tool_call_id: None,
        unix_ms: 1_000 + n as i64,
    }
}

fn call(session: &str, id: &str) -> StoredToolCall {
    StoredToolCall {
        session_id: session.into(),
        turn_id: "t1".into(),
        call_id: id.into(),
        tool: "fs.usage".into(),
        args: json!({"path": "/", "depth": 2}),
        status: ToolStatus::Ok,
        result: json!({"used": 123, "mounts": ["/", "/boot"]}),
        duration_us: 4321,
        unix_ms: 77,
    }
}

fn open(path: &Path) -> Store {
    Store::open(path).unwrap()
}

#[test]
fn session_round_trip_and_upsert() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir));
    let mut s = session("s1", 1000, 5);
    store.put_session(&s).unwrap();
    assert_eq!(store.get_session("s1").unwrap(), s);

    // Upsert changes what may change and keeps the creation time.
    s.title = "renamed".into();
    s.model = "other".into();
    s.provider = "openai".into();
    s.approval = ApprovalMode::Policy;
    let mut later = s.clone();
    later.created_unix_ms = 999;
    store.put_session(&later).unwrap();
    assert_eq!(store.get_session("s1").unwrap(), s);
    assert_eq!(store.list_sessions(1000, 0).unwrap().len(), 1);
}

#[test]
fn upsert_cannot_change_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir));
    store.put_session(&session("s1", 1000, 5)).unwrap();
    let err = store.put_session(&session("s1", 1001, 5)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(err.to_string().contains("belongs to uid 1000"), "{err}");
    assert_eq!(store.get_session("s1").unwrap().uid, 1000);
}

#[test]
fn a_sessions_kind_is_kept_and_never_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir));
    let mut s = session("bg", 1000, 5);
    s.kind = SessionKind::Background;
    store.put_session(&s).unwrap();
    assert_eq!(
        store.get_session("bg").unwrap().kind,
        SessionKind::Background
    );
    assert_eq!(
        store.list_sessions(1000, 0).unwrap()[0].kind,
        SessionKind::Background
    );
    // An agent's session cannot be turned into a person's.
    s.kind = SessionKind::Interactive;
    let err = store.put_session(&s).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(err.to_string().contains("is a background session"), "{err}");
    assert_eq!(
        store.get_session("bg").unwrap().kind,
        SessionKind::Background
    );
}

#[test]
fn empty_session_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir));
    let err = store.put_session(&session("", 1000, 5)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
}

#[test]
fn unknown_session_is_not_found_with_its_id_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let store = open(&path);
    for err in [
        store.get_session("nope").unwrap_err(),
        store.get_messages("nope", 0).unwrap_err(),
        store.get_tool_calls("nope", 0).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("\"nope\""), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
}

#[test]
fn sessions_are_listed_per_uid_newest_first_with_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir));
    store.put_session(&session("old", 1000, 10)).unwrap();
    store.put_session(&session("new", 1000, 30)).unwrap();
    store.put_session(&session("mid", 1000, 20)).unwrap();
    store.put_session(&session("theirs", 1001, 40)).unwrap();
    // Same timestamp: the later insert counts as newer.
    store.put_session(&session("tie", 1000, 30)).unwrap();

    let ids = |v: Vec<SessionInfo>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_sessions(1000, 0).unwrap()),
        ["tie", "new", "mid", "old"]
    );
    assert_eq!(ids(store.list_sessions(1000, 2).unwrap()), ["tie", "new"]);
    assert_eq!(ids(store.list_sessions(1001, 0).unwrap()), ["theirs"]);
    assert!(store.list_sessions(4242, 0).unwrap().is_empty());
}

#[test]
fn messages_keep_order_and_limit_returns_the_last_n_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir));
    store.put_session(&session("a", 1, 1)).unwrap();
    store.put_session(&session("b", 1, 2)).unwrap();
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(store.append_message(&msg("a", n)).unwrap());
        // Interleave another session to check per-session reads.
        store.append_message(&msg("b", 100 + n)).unwrap();
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    let all = store.get_messages("a", 0).unwrap();
    assert_eq!(all, (0..10).map(|n| msg("a", n)).collect::<Vec<_>>());
    let last3 = store.get_messages("a", 3).unwrap();
    assert_eq!(last3, (7..10).map(|n| msg("a", n)).collect::<Vec<_>>());
    assert_eq!(store.get_messages("a", 1000).unwrap().len(), 10);
    let with_ids = store.get_messages_with_ids("a", 2).unwrap();
    assert_eq!(
        with_ids.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        ids[8..]
    );
    // A session without messages reads as empty, not as an error.
    store.put_session(&session("c", 1, 3)).unwrap();
    assert!(store.get_messages("c", 0).unwrap().is_empty());
}

#[test]
fn assistant_tool_calls_and_tool_results_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir));
    store.put_session(&session("s", 1, 1)).unwrap();
    let assistant = StoredMessage {
        tool_calls: vec![
            ToolCall {
                id: "call_1".into(),
                name: "fs.usage".into(),
                args: json!({"path": "/"}),
            },
            ToolCall {
                id: "call_2".into(),
                name: "fs.largest".into(),
                args: json!({"path": "/var", "top": 20, "nested": {"a": [1, null, true]}}),
            },
        ],
        ..msg("s", 1)
    };
    let tool = StoredMessage {
        role: Role::Tool,
        content: "{\"used\": 1}".into(),
        tool_call_id: Some("call_1".into()),
        ..msg("s", 2)
    };
    store.append_message(&assistant).unwrap();
    store.append_message(&tool).unwrap();
    assert_eq!(store.get_messages("s", 0).unwrap(), vec![assistant, tool]);
}

#[test]
fn unicode_and_one_mebibyte_content_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir));
    let mut s = session("ünïcødé-🦀", 1, 1);
    s.title = "なぜディスクがいっぱい？ \u{0} nul inside".into();
    store.put_session(&s).unwrap();
    assert_eq!(store.get_session("ünïcødé-🦀").unwrap(), s);

    let big: String = "żółw🐢\n".chars().cycle().take(1 << 20).collect();
    assert!(big.len() > 1 << 20);
    let m = StoredMessage {
        content: big,
        ..msg("ünïcødé-🦀", 0)
    };
    store.append_message(&m).unwrap();
    assert_eq!(store.get_messages("ünïcødé-🦀", 0).unwrap(), vec![m]);
}

#[test]
fn append_to_unknown_session_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir));
    let err = store.append_message(&msg("ghost", 0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("\"ghost\""), "{err}");
    let err = store.record_tool_call(&call("ghost", "c1")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn tool_calls_round_trip_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir));
    store.put_session(&session("s", 1, 1)).unwrap();
    let statuses = [
        ToolStatus::Ok,
        ToolStatus::Error,
        ToolStatus::Denied,
        ToolStatus::Rejected,
        ToolStatus::Interrupted,
        ToolStatus::TimedOut,
    ];
    let calls: Vec<_> = statuses
        .iter()
        .enumerate()
        .map(|(i, st)| StoredToolCall {
            status: *st,
            result: if *st == ToolStatus::Ok {
                json!({"i": i})
            } else {
                json!("it failed")
            },
            ..call("s", &format!("c{i}"))
        })
        .collect();
    let ids: Vec<i64> = calls
        .iter()
        .map(|c| store.record_tool_call(c).unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(store.get_tool_calls("s", 0).unwrap(), calls);
    assert_eq!(store.get_tool_calls("s", 2).unwrap(), calls[4..]);
}

#[test]
fn impossible_duration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir));
    store.put_session(&session("s", 1, 1)).unwrap();
    let c = StoredToolCall {
        duration_us: u64::MAX,
        ..call("s", "c")
    };
    assert_eq!(
        store.record_tool_call(&c).unwrap_err().kind(),
        ErrorKind::Invalid
    );
}

#[test]
fn data_survives_reopening_and_new_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    {
        let store = open(&path);
        store.put_session(&session("s", 1, 1)).unwrap();
        store.append_message(&msg("s", 0)).unwrap();
        store.record_tool_call(&call("s", "c")).unwrap();
    }
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let store = open(&path);
    assert_eq!(store.get_session("s").unwrap(), session("s", 1, 1));
    assert_eq!(store.get_messages("s", 0).unwrap(), vec![msg("s", 0)]);
    assert_eq!(store.get_tool_calls("s", 0).unwrap(), vec![call("s", "c")]);
    // Row ids continue after a reopen.
    assert_eq!(store.append_message(&msg("s", 1)).unwrap(), 2);
    store.quick_check().unwrap();
}

#[test]
fn database_uses_wal_full_sync_and_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let _store = open(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let v: u32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, aios_store::LATEST_VERSION);
    let app: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap();
    assert_eq!(app, aios_store::APPLICATION_ID);
}

#[test]
fn a_file_that_is_not_sqlite_is_a_clear_corrupt_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    std::fs::write(&path, "this is a text file, not a database\n".repeat(200)).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("not a SQLite database"), "{text}");
    assert!(text.contains("move it aside"), "{text}");
}

#[test]
fn a_database_from_a_newer_aios_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    drop(open(&path));
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", aios_store::LATEST_VERSION + 1)
            .unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooNew, "{err}");
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("newer aiOS"), "{text}");
    assert!(
        text.contains(&format!("version {}", aios_store::LATEST_VERSION + 1)),
        "{text}"
    );
}

#[test]
fn another_programs_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE sessions (x); INSERT INTO sessions VALUES (1);")
            .unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("another program"), "{err}");
}

#[test]
fn missing_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/memory.sqlite3");
    let err = Store::open(&path).unwrap_err();
    assert!(
        err.to_string().contains("create its directory first"),
        "{err}"
    );
}

#[test]
fn full_database_fails_with_full_and_keeps_earlier_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    // A size limit makes SQLite return SQLITE_FULL exactly as a full
    // filesystem does.
    let store = Store::open_with(
        &path,
        &Options {
            max_bytes: Some(256 * 1024),
            ..Options::default()
        },
    )
    .unwrap();
    store.put_session(&session("s", 1, 1)).unwrap();
    let mut stored = Vec::new();
    let err = loop {
        let m = StoredMessage {
            content: format!("{}{}", stored.len(), "x".repeat(8 * 1024)),
            ..msg("s", stored.len())
        };
        match store.append_message(&m) {
            Ok(_) => stored.push(m),
            Err(e) => break e,
        }
        assert!(stored.len() < 1000, "the size limit never triggered");
    };
    assert!(!stored.is_empty());
    assert_eq!(err.kind(), ErrorKind::Full, "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("disk full: {}", path.display())),
        "{text}"
    );
    assert!(text.contains("Nothing was stored"), "{text}");
    // Earlier rows are intact, in this handle and after reopening.
    assert_eq!(store.get_messages("s", 0).unwrap(), stored);
    drop(store);
    let store = open(&path);
    assert_eq!(store.get_messages("s", 0).unwrap(), stored);
    store.quick_check().unwrap();
}

#[test]
fn a_second_handle_sees_committed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let writer = open(&path);
    let reader = open(&path);
    writer.put_session(&session("s", 1, 1)).unwrap();
    writer.append_message(&msg("s", 0)).unwrap();
    assert_eq!(reader.get_messages("s", 0).unwrap(), vec![msg("s", 0)]);
}

#[test]
fn corrupted_rows_are_reported_not_panicked_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let store = open(&path);
    store.put_session(&session("s", 1, 1)).unwrap();
    store.append_message(&msg("s", 0)).unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        // The CHECK constraints forbid this; a hand edit can drop them.
        conn.execute_batch(
            "PRAGMA ignore_check_constraints = ON; UPDATE messages SET tool_calls_json = '{oops';",
        )
        .unwrap();
    }
    let err = store.get_messages("s", 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.to_string().contains("message 1"), "{err}");
}
