use aios_domain::{ApprovalMode, Event, EventKind, SessionInfo};

use super::EventsFrom;
use crate::error::ErrorKind;
use crate::store::Store;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("memory.db")).unwrap();
    s.put_session(&SessionInfo {
        id: "s1".into(),
        uid: 1000,
        provider: "p".into(),
        model: "m".into(),
        created_unix_ms: 1,
        title: "t".into(),
        approval: ApprovalMode::Ask,
        kind: Default::default(),
    })
    .unwrap();
    (dir, s)
}

fn ev(seq: u64, text: &str) -> Event {
    Event {
        seq,
        session_id: "s1".into(),
        unix_ms: 7,
        kind: EventKind::Notification {
            level: "info".into(),
            text: text.into(),
        },
    }
}

fn seqs(v: &[Event]) -> Vec<u64> {
    v.iter().map(|e| e.seq).collect()
}

#[test]
fn events_come_back_as_written_from_either_end() {
    let (_d, s) = store();
    let all: Vec<Event> = (1..=5).map(|i| ev(i, &format!("n{i}"))).collect();
    assert_eq!(s.append_events(&all[..2]).unwrap(), 2);
    assert_eq!(s.append_events(&all[2..]).unwrap(), 3);
    assert_eq!(s.get_events("s1", 0, 0, EventsFrom::Oldest).unwrap(), all);
    assert_eq!(
        seqs(&s.get_events("s1", 1, 2, EventsFrom::Oldest).unwrap()),
        [2, 3]
    );
    assert_eq!(
        seqs(&s.get_events("s1", 0, 2, EventsFrom::Newest).unwrap()),
        [4, 5]
    );
    assert!(
        s.get_events("s1", 5, 0, EventsFrom::Oldest)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_retried_append_is_a_no_op_but_a_fork_is_refused() {
    let (_d, s) = store();
    s.append_events(&[ev(1, "a"), ev(2, "b")]).unwrap();
    assert_eq!(s.append_events(&[ev(2, "b"), ev(3, "c")]).unwrap(), 1);
    let err = s.append_events(&[ev(3, "different")]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(err.to_string().contains("cannot fork"), "{err}");
    assert_eq!(
        seqs(&s.get_events("s1", 0, 0, EventsFrom::Oldest).unwrap()),
        [1, 2, 3]
    );
}

#[test]
fn events_of_an_unknown_session_are_refused_and_nothing_is_written() {
    let (_d, s) = store();
    let mut stray = ev(2, "x");
    stray.session_id = "nope".into();
    let err = s.append_events(&[ev(1, "a"), stray]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        s.get_events("s1", 0, 0, EventsFrom::Oldest)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.get_events("nope", 0, 0, EventsFrom::Oldest)
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}
