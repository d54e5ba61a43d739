//! Human approvals, as the executor records them: calls waiting for a
//! decision, the decisions themselves (bound to call hash, session and
//! user, accepted once), and session-scoped grants.
//!
//! The orchestrator relays the *question* (an `ApprovalNeeded` event); the
//! *answer* must arrive on the session user's own connection to toolsd,
//! whose uid the kernel vouches for. Nothing here trusts a field the
//! planner could have written: the waiting call recorded the uid it acts
//! for and its hash before anyone could answer.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use aios_policy::Rule;
use aios_proto::{
    ApprovalAnswer, ApprovalScope, Approver, Decision, PolicyInput, Principal, Resource,
    SERVICE_USER, SessionKind,
};
use serde_json::Value;
use tokio::sync::oneshot;

/// Sessions remembered as ended (so a late approval is refused with the
/// right reason); older ones fall out.
const ENDED_REMEMBERED: usize = 4096;
/// Most session grants per session.
const MAX_GRANTS_PER_SESSION: usize = 256;

/// What the human decided, as the waiting call receives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Run the call as it is.
    Run(Approver),
    /// Run the call with these arguments instead (a new call, authored by
    /// the human).
    Edit(Approver, Value),
    /// Do not run it.
    Reject(Approver),
}

/// Why an answer was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// A call that waits for its user.
struct Pending {
    uid: u32,
    user: String,
    call_hash: String,
    confirm: Option<String>,
    input: Box<PolicyInput>,
    /// The "always" rule the user was shown, saved as is if they confirm.
    grant: Option<Rule>,
    tx: oneshot::Sender<Answer>,
}

/// An accepted answer: the decision, what policy was asked about the call,
/// and the "always" rule the user was shown, if any.
#[derive(Debug)]
pub struct Accepted {
    /// What was decided.
    pub answer: Answer,
    /// The call's policy input.
    pub input: Box<PolicyInput>,
    /// The previewed "always" rule.
    pub grant: Option<Rule>,
}

/// A session-scoped grant: the same tool on the same resources.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    uid: u32,
    tool: String,
    resources: Vec<Resource>,
}

#[derive(Default)]
struct State {
    pending: HashMap<(String, String), Pending>,
    grants: HashMap<String, Vec<Grant>>,
    ended: HashSet<String>,
    ended_order: VecDeque<String>,
}

/// Every approval toolsd knows about.
#[derive(Default)]
pub struct Approvals {
    state: Mutex<State>,
    /// uid of the daemons' service account, when it exists: it is never a
    /// session's user, so its answers are refused outright.
    service_uid: Option<u32>,
}

impl std::fmt::Debug for Approvals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("Approvals")
            .field("pending", &s.pending.len())
            .field("sessions_with_grants", &s.grants.len())
            .finish()
    }
}

/// What a waiting call registers.
#[derive(Debug, Clone)]
pub struct Question {
    /// Session of the call.
    pub session_id: String,
    /// Call id.
    pub call_id: String,
    /// The uid the call acts for: the only one who may answer.
    pub uid: u32,
    /// That user's name, for the record.
    pub user: String,
    /// The exact call.
    pub call_hash: String,
    /// The name a destructive call's approver must type.
    pub confirm: Option<String>,
    /// What policy was asked, for an "always" rule written from it.
    pub input: Box<PolicyInput>,
}

impl Approvals {
    /// An empty set, refusing answers from the service account.
    pub fn new() -> Approvals {
        let service_uid = nix::unistd::User::from_name(SERVICE_USER)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw());
        Approvals {
            state: Mutex::new(State::default()),
            service_uid,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every mutation is a single insert or remove: a poisoned lock
        // still holds consistent maps.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Register a call that waits for its user; the receiver resolves with
    /// the answer. Dropping the receiver (the call ended) withdraws it.
    pub fn ask(&self, q: Question) -> Result<oneshot::Receiver<Answer>, Refused> {
        // The pipeline never asks for a background session; should it ever
        // try, nothing waits that anyone could answer.
        if q.input.caller.session_kind == SessionKind::Background {
            return Err(Refused(format!(
                "session {} is a background agent's session: background agents can never approve \
                 their own calls",
                q.session_id
            )));
        }
        let mut s = self.lock();
        if s.ended.contains(&q.session_id) {
            return Err(Refused(format!(
                "session {} has ended: start a new one",
                q.session_id
            )));
        }
        let (tx, rx) = oneshot::channel();
        let key = (q.session_id, q.call_id);
        if s.pending.contains_key(&key) {
            return Err(Refused(format!(
                "call {} of session {} already waits for an approval",
                key.1, key.0
            )));
        }
        s.pending.insert(
            key,
            Pending {
                uid: q.uid,
                user: q.user,
                call_hash: q.call_hash,
                confirm: q.confirm,
                input: q.input,
                grant: None,
                tx,
            },
        );
        Ok(rx)
    }

    /// Withdraw a waiting call (it ended, timed out or its client left).
    pub fn withdraw(&self, session_id: &str, call_id: &str) {
        self.lock()
            .pending
            .remove(&(session_id.to_string(), call_id.to_string()));
    }

    /// The waiting call `who` names, checked as an answer would be (the
    /// session's user, that exact hash, a live session).
    fn waiting<'s>(
        &self,
        s: &'s mut State,
        who: &Principal,
        session_id: &str,
        call_id: &str,
        call_hash: &str,
    ) -> Result<&'s mut Pending, Refused> {
        if Some(who.uid) == self.service_uid {
            return Err(Refused(format!(
                "approvals are heard only from the session's user; uid {} is the aiOS service account",
                who.uid
            )));
        }
        if s.ended.contains(session_id) {
            return Err(Refused(format!(
                "session {session_id} has ended; its approvals expired with it"
            )));
        }
        let key = (session_id.to_string(), call_id.to_string());
        let Some(p) = s.pending.get_mut(&key) else {
            return Err(Refused(format!(
                "no call {call_id} of session {session_id} is waiting for an approval (it was answered already, ended, or never asked)"
            )));
        };
        if p.uid != who.uid {
            return Err(Refused(format!(
                "only the session's user (uid {}) may decide on this call, not uid {}",
                p.uid, who.uid
            )));
        }
        if p.call_hash != call_hash {
            return Err(Refused(
                "this approval names a different call than the one waiting (the hash differs); look at the call again"
                    .into(),
            ));
        }
        Ok(p)
    }

    /// What policy was asked about a waiting call, for the session's user
    /// who is about to answer it (the "always" preview).
    pub fn pending_input(
        &self,
        who: &Principal,
        session_id: &str,
        call_id: &str,
        call_hash: &str,
    ) -> Result<Box<PolicyInput>, Refused> {
        let mut s = self.lock();
        let p = self.waiting(&mut s, who, session_id, call_id, call_hash)?;
        Ok(p.input.clone())
    }

    /// Remember the "always" rule shown for a waiting call, so the rule
    /// saved is the rule the user saw.
    pub fn remember_grant(&self, session_id: &str, call_id: &str, rule: Rule) {
        let key = (session_id.to_string(), call_id.to_string());
        if let Some(p) = self.lock().pending.get_mut(&key) {
            p.grant = Some(rule);
        }
    }

    /// Accept `answer` from `who`, or say why not. Accepted once: the
    /// waiting call is removed as it is answered.
    pub fn answer(&self, who: &Principal, answer: ApprovalAnswer) -> Result<Accepted, Refused> {
        // Issue #8 §4: `--approve=all` needs an administrator (the kernel
        // says who is asking) and is recorded as such.
        if answer.automatic && !who.admin {
            return Err(Refused(format!(
                "--approve=all approves without asking and needs an administrator (root, or a member \
                 of sudo, wheel or aios-admin); uid {} is not one: answer the approval yourself",
                who.uid
            )));
        }
        let mut s = self.lock();
        let key = (answer.session_id.clone(), answer.call_id.clone());
        let p = self.waiting(
            &mut s,
            who,
            &answer.session_id,
            &answer.call_id,
            &answer.call_hash,
        )?;
        let runs = !matches!(answer.decision, Decision::Reject { .. });
        if runs
            && let Some(name) = &p.confirm
            && answer.confirm.as_deref().map(str::trim) != Some(name.as_str())
        {
            return Err(Refused(format!(
                "this call is destructive: type its target's name, {name:?}, to approve it"
            )));
        }
        let Some(p) = s.pending.remove(&key) else {
            return Err(Refused("the call stopped waiting".into()));
        };
        let approver = |scope, edited, note| Approver {
            uid: who.uid,
            user: p.user.clone(),
            scope,
            edited,
            note,
        };
        let auto = answer.automatic.then(|| "--approve=all".to_string());
        let decided = match answer.decision {
            Decision::Approve => Answer::Run(approver(ApprovalScope::Once, false, auto)),
            Decision::Session => Answer::Run(approver(ApprovalScope::Session, false, None)),
            Decision::Always => Answer::Run(approver(ApprovalScope::Always, false, None)),
            Decision::Reject { note } => Answer::Reject(approver(ApprovalScope::Once, false, note)),
            Decision::Edit { args } => {
                Answer::Edit(approver(ApprovalScope::Once, true, None), args)
            }
        };
        if p.tx.send(decided.clone()).is_err() {
            return Err(Refused(
                "the call stopped waiting before the approval arrived".into(),
            ));
        }
        Ok(Accepted {
            answer: decided,
            input: p.input,
            grant: p.grant,
        })
    }

    /// Remember a session grant: this tool on these resources, for this
    /// user, until the session ends.
    pub fn grant_session(&self, session_id: &str, uid: u32, tool: &str, resources: &[Resource]) {
        let mut s = self.lock();
        if s.ended.contains(session_id) {
            return;
        }
        let grants = s.grants.entry(session_id.to_string()).or_default();
        let g = Grant {
            uid,
            tool: tool.to_string(),
            resources: sorted(resources),
        };
        if !grants.contains(&g) && grants.len() < MAX_GRANTS_PER_SESSION {
            grants.push(g);
        }
    }

    /// Whether a session grant covers this call.
    pub fn covered(&self, session_id: &str, uid: u32, tool: &str, resources: &[Resource]) -> bool {
        let s = self.lock();
        let want = sorted(resources);
        s.grants.get(session_id).is_some_and(|gs| {
            gs.iter()
                .any(|g| g.uid == uid && g.tool == tool && g.resources == want)
        })
    }

    /// The session ended: drop its grants and waiting calls, and refuse any
    /// later answer for it.
    pub fn end_session(&self, session_id: &str) {
        let mut s = self.lock();
        s.grants.remove(session_id);
        s.pending.retain(|(sid, _), _| sid != session_id);
        if s.ended.insert(session_id.to_string()) {
            s.ended_order.push_back(session_id.to_string());
        }
        while s.ended_order.len() > ENDED_REMEMBERED {
            if let Some(old) = s.ended_order.pop_front() {
                s.ended.remove(&old);
            }
        }
    }
}

fn sorted(r: &[Resource]) -> Vec<Resource> {
    let mut v = r.to_vec();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn question(confirm: Option<&str>) -> Question {
        Question {
            input: Box::new(PolicyInput {
                tool: "fs.write".into(),
                args: Value::Null,
                effect: aios_proto::Risk::Change,
                resources: vec![],
                caller: aios_proto::Caller {
                    uid: 1000,
                    user: "alice".into(),
                    groups: vec![],
                    admin: true,
                    home: "/home/alice".into(),
                    session_kind: SessionKind::Interactive,
                },
                host: aios_proto::HostFacts::default(),
            }),
            session_id: "s1".into(),
            call_id: "c1".into(),
            uid: 1000,
            user: "alice".into(),
            call_hash: "h1".into(),
            confirm: confirm.map(str::to_string),
        }
    }

    fn answer(hash: &str, decision: Decision) -> ApprovalAnswer {
        ApprovalAnswer {
            session_id: "s1".into(),
            call_id: "c1".into(),
            call_hash: hash.into(),
            decision,
            confirm: None,
            automatic: false,
        }
    }

    fn approvals() -> Approvals {
        Approvals {
            state: Mutex::new(State::default()),
            service_uid: Some(998),
        }
    }

    #[tokio::test]
    async fn the_sessions_user_approves_once() {
        let a = approvals();
        let rx = a.ask(question(None)).unwrap();
        let got = a
            .answer(&Principal::ordinary(1000), answer("h1", Decision::Approve))
            .unwrap()
            .answer;
        assert!(matches!(got, Answer::Run(ref by) if by.scope == ApprovalScope::Once));
        assert_eq!(rx.await.unwrap(), got);
        // Used once: the same answer again finds nothing waiting.
        let e = a
            .answer(&Principal::ordinary(1000), answer("h1", Decision::Approve))
            .unwrap_err();
        assert!(e.0.contains("no call"), "{e}");
    }

    #[test]
    fn an_approval_for_a_different_call_is_refused_and_the_call_keeps_waiting() {
        let a = approvals();
        let _rx = a.ask(question(None)).unwrap();
        let e = a
            .answer(
                &Principal::ordinary(1000),
                answer("other", Decision::Approve),
            )
            .unwrap_err();
        assert!(e.0.contains("different call"), "{e}");
        a.answer(&Principal::ordinary(1000), answer("h1", Decision::Approve))
            .unwrap();
    }

    #[test]
    fn another_user_or_the_service_account_cannot_answer() {
        let a = approvals();
        let _rx = a.ask(question(None)).unwrap();
        let e = a
            .answer(&Principal::ordinary(1001), answer("h1", Decision::Approve))
            .unwrap_err();
        assert!(e.0.contains("only the session's user"), "{e}");
        let mut daemon = Principal::ordinary(998);
        daemon.trusted_peer = true;
        let e = a
            .answer(&daemon, answer("h1", Decision::Approve))
            .unwrap_err();
        assert!(e.0.contains("service account"), "{e}");
        // Root is not the session's user either.
        let e = a
            .answer(&Principal::ordinary(0), answer("h1", Decision::Approve))
            .unwrap_err();
        assert!(e.0.contains("only the session's user"), "{e}");
    }

    #[test]
    fn a_background_sessions_call_never_waits_for_an_answer() {
        let a = approvals();
        let mut q = question(None);
        q.input.caller.session_kind = SessionKind::Background;
        let e = a.ask(q).unwrap_err();
        assert!(e.0.contains("background agents can never approve"), "{e}");
        let e = a
            .answer(&Principal::ordinary(1000), answer("h1", Decision::Approve))
            .unwrap_err();
        assert!(e.0.contains("no call"), "{e}");
    }

    #[test]
    fn approve_all_is_heard_only_from_an_administrator_and_recorded() {
        let a = approvals();
        let rx = a.ask(question(None)).unwrap();
        let mut auto = answer("h1", Decision::Approve);
        auto.automatic = true;
        let e = a
            .answer(&Principal::ordinary(1000), auto.clone())
            .unwrap_err();
        assert!(e.0.contains("needs an administrator"), "{e}");
        let mut admin = Principal::ordinary(1000);
        admin.admin = true;
        let got = a.answer(&admin, auto).unwrap().answer;
        assert!(
            matches!(got, Answer::Run(ref by) if by.note.as_deref() == Some("--approve=all")),
            "{got:?}"
        );
        drop(rx);
    }

    #[test]
    fn an_approval_after_the_session_ended_is_refused() {
        let a = approvals();
        let _rx = a.ask(question(None)).unwrap();
        a.end_session("s1");
        let e = a
            .answer(&Principal::ordinary(1000), answer("h1", Decision::Approve))
            .unwrap_err();
        assert!(e.0.contains("ended"), "{e}");
        assert!(a.ask(question(None)).is_err());
    }

    #[test]
    fn destructive_calls_need_the_target_typed() {
        let a = approvals();
        let _rx = a.ask(question(Some("/etc/fstab"))).unwrap();
        let e = a
            .answer(&Principal::ordinary(1000), answer("h1", Decision::Approve))
            .unwrap_err();
        assert!(e.0.contains("/etc/fstab"), "{e}");
        let mut ok = answer("h1", Decision::Approve);
        ok.confirm = Some("/etc/fstab".into());
        a.answer(&Principal::ordinary(1000), ok).unwrap();
    }

    #[test]
    fn rejecting_needs_no_confirmation_and_keeps_the_note() {
        let a = approvals();
        let _rx = a.ask(question(Some("/etc/fstab"))).unwrap();
        let got = a
            .answer(
                &Principal::ordinary(1000),
                answer(
                    "h1",
                    Decision::Reject {
                        note: Some("not now".into()),
                    },
                ),
            )
            .unwrap()
            .answer;
        assert!(matches!(got, Answer::Reject(ref by) if by.note.as_deref() == Some("not now")));
    }

    #[test]
    fn session_grants_cover_the_same_tool_and_resources_for_that_session_only() {
        let a = approvals();
        let r = [Resource::Service("nginx".into())];
        a.grant_session("s1", 1000, "service.restart", &r);
        assert!(a.covered("s1", 1000, "service.restart", &r));
        assert!(!a.covered("s2", 1000, "service.restart", &r));
        assert!(!a.covered("s1", 1001, "service.restart", &r));
        assert!(!a.covered("s1", 1000, "service.stop", &r));
        assert!(!a.covered(
            "s1",
            1000,
            "service.restart",
            &[Resource::Service("ssh".into())]
        ));
        a.end_session("s1");
        assert!(!a.covered("s1", 1000, "service.restart", &r));
    }
}
