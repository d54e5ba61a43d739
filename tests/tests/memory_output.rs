//! Following a truncation pointer (issue 11 §1): a long tool output from a
//! real turn (the daemons `aios` starts, the scripted model calling
//! `fs.read`) is stored whole by memoryd; toolsd's `memory.output` then
//! returns it page by page to the session's own user, and to no one else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aios_proto::{ApprovalMode, ExecuteEnd, ExecuteEvent, ExecuteRequest, SessionKind, ToolStatus};
use aios_tests::Env;
use futures::StreamExt;
use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(60);

/// toolsd's answer to one `memory.output` call on behalf of `uid`, sent by
/// this process acting as the orchestrator (a daemon peer).
fn read_output(env: &Env, uid: u32, args: Value) -> ExecuteEnd {
    let socket = env.runtime_dir().join("toolsd.sock");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ch = aios_proto::connect(&socket).await.unwrap();
        let mut stream = aios_proto::ToolsClient::new(ch)
            .execute(ExecuteRequest {
                session_id: "memory-output-test".into(),
                call_id: format!("read-{}", args["offset"]),
                tool: "memory.output".into(),
                args,
                on_behalf_of_uid: uid,
                session_kind: SessionKind::OneShot,
                approval: ApprovalMode::Policy,
                ..Default::default()
            })
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let ev = tokio::time::timeout_at(deadline, stream.next())
                .await
                .expect("toolsd answered in time")
                .expect("stream ended without End")
                .unwrap();
            if let ExecuteEvent::End(end) = ev {
                return end;
            }
        }
    })
}

#[test]
fn a_cut_output_is_read_back_whole_page_by_page_by_its_owner_only() {
    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("big.txt");
    // 60 KB on one line: far past what one model call is sent.
    let content: String = (0..6000).map(|i| format!("word{i:05} ")).collect();
    std::fs::write(&file, &content).unwrap();
    let env = Env::scripted(&json!({"turns": [
        {"text": "Reading it.",
         "tool_calls": [{"name": "fs.read", "args": {"path": file.display().to_string()}}]},
        {"text": "done"}
    ]}));
    let events = env.run_json_ok("read the big file");
    let end = events
        .iter()
        .find(|e| e["type"] == "tool_call_end")
        .expect("the tool ran");
    assert_eq!(end["status"], "ok", "{end}");
    let session = events[0]["session_id"].as_str().expect("a session id");
    let call = end["call_id"].as_str().expect("a call id");
    let whole = serde_json::to_string(&end["result"]).unwrap();
    assert!(whole.contains(&content));

    // The owner reads it all, page after page, each once.
    let uid = nix::unistd::geteuid().as_raw();
    let mut offset = json!(0);
    let mut read = String::new();
    let mut pages = 0;
    while !offset.is_null() {
        let end = read_output(
            &env,
            uid,
            json!({"session": session, "call": call, "offset": offset, "limit": 16000}),
        );
        assert_eq!(end.status, ToolStatus::Ok, "{}", end.result);
        assert_eq!(end.result["tool"], "fs.read");
        assert_eq!(end.result["total_bytes"], whole.len());
        read.push_str(end.result["text"].as_str().unwrap());
        offset = end.result["next_offset"].clone();
        pages += 1;
        assert!(pages < 10, "no end in sight: {}", end.result["summary"]);
    }
    assert_eq!(read, whole);
    assert!(pages >= 4, "{pages} pages");

    // Another user is told there is no such output, as for a made-up call.
    let other = read_output(&env, 65534, json!({"session": session, "call": call}));
    assert_ne!(other.status, ToolStatus::Ok);
    let said = other.result.to_string();
    assert!(said.contains("no stored output"), "{said}");
    assert!(!said.contains("word00000"), "{said}");
    let made_up = read_output(&env, uid, json!({"session": session, "call": "nope"}));
    assert_ne!(made_up.status, ToolStatus::Ok);
    assert!(made_up.result.to_string().contains("no stored output"));
    // Past the end: a clear error naming the size.
    let past = read_output(
        &env,
        uid,
        json!({"session": session, "call": call, "offset": whole.len() + 1}),
    );
    assert_ne!(past.status, ToolStatus::Ok);
    assert!(
        past.result.to_string().contains("past the end"),
        "{}",
        past.result
    );
}
