//! The policy toolsd decides with: the system file plus the calling user's
//! own file (`~/.config/aios/policy.toml`), through `aios-policy`. For
//! calls acting for toolsd's own uid the user file is toolsd's own
//! configured one ([`FilePolicy::with_own_file`]: `$XDG_CONFIG_HOME`, as
//! every other aiOS config file), so a development daemon set run as root
//! with its own config directory never reads or writes root's real file.
//!
//! A user's file is read, and their grants written, with **that user's**
//! kernel credentials when toolsd acts for someone else: a link planted in
//! a home directory cannot make root read or overwrite another file.
//! Loaded policies are cached per uid and re-checked every
//! [`FilePolicy::RECHECK`], so an edit takes effect within seconds.
//!
//! A file that does not parse fails closed: every change is denied with
//! the parse error (file, line, what to fix) until it is fixed; reads
//! still follow the built-in rules and defaults.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use aios_catalog::{Credentials, Identity};
use aios_policy::{Policy, Rule, list_grants, revoke_grant, save_grant};
use aios_proto::{Caller, PolicyDecision, PolicyInput, Risk, RuleSource, Verdict};
use serde_json::{Value, json};

use crate::policy::{GrantPreview, PolicyEngine};

/// What a file looked like when it was loaded.
type Stamp = Option<(SystemTime, u64)>;

struct Loaded {
    checked: Instant,
    stamps: (Stamp, Stamp),
    policy: Result<Policy, String>,
}

/// The system file and each user's file.
pub struct FilePolicy {
    system: PathBuf,
    /// toolsd's own uid: its user's file needs no credential switch.
    own_uid: u32,
    /// The user file for calls acting for `own_uid`, when configured.
    own_file: Option<PathBuf>,
    cache: Mutex<HashMap<u32, Loaded>>,
}

impl std::fmt::Debug for FilePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilePolicy")
            .field("system", &self.system)
            .finish()
    }
}

/// A user's policy file under their home.
pub fn user_file(home: &str) -> Option<PathBuf> {
    (!home.is_empty()).then(|| Path::new(home).join(".config/aios/policy.toml"))
}

fn stamp(p: &Path) -> Stamp {
    let m = std::fs::metadata(p).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl FilePolicy {
    /// How long a loaded policy is used before its files are checked again.
    pub const RECHECK: Duration = Duration::from_secs(2);

    /// Policy from `system` plus each caller's own file.
    pub fn new(system: PathBuf) -> FilePolicy {
        FilePolicy {
            system,
            own_uid: nix::unistd::geteuid().as_raw(),
            own_file: None,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Use `file` as the user file of calls acting for toolsd's own uid
    /// (instead of the one under that uid's home in the user database).
    pub fn with_own_file(mut self, file: Option<PathBuf>) -> FilePolicy {
        self.own_file = file;
        self
    }

    /// The user policy file of `caller`.
    pub fn user_file_of(&self, caller: &Caller) -> Option<PathBuf> {
        match &self.own_file {
            Some(f) if caller.uid == self.own_uid => Some(f.clone()),
            _ => user_file(&caller.home),
        }
    }

    /// The system file's path.
    pub fn system_file(&self) -> &Path {
        &self.system
    }

    /// Run `f` with the credentials of `uid` (unless it is our own).
    fn as_user<T>(&self, uid: u32, f: impl FnOnce() -> T) -> Result<T, String> {
        if uid == self.own_uid {
            return Ok(f());
        }
        Credentials::of(&Identity::lookup(uid))
            .run(f)
            .map_err(|e| e.message().to_string())
    }

    fn policy_for(&self, caller: &Caller) -> Result<Policy, String> {
        let user = self.user_file_of(caller);
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = cache.get_mut(&caller.uid) {
            if now.duration_since(l.checked) < Self::RECHECK {
                return l.policy.clone();
            }
            let user_stamp = match &user {
                Some(u) => self.as_user(caller.uid, || stamp(u))?,
                None => None,
            };
            if (stamp(&self.system), user_stamp) == l.stamps {
                l.checked = now;
                return l.policy.clone();
            }
        }
        let system_stamp = stamp(&self.system);
        let (user_stamp, policy) = match &user {
            Some(u) => self.as_user(caller.uid, || {
                (
                    stamp(u),
                    Policy::load(Some(&self.system), Some(u)).map_err(|e| e.to_string()),
                )
            })?,
            None => (
                None,
                Policy::load(Some(&self.system), None).map_err(|e| e.to_string()),
            ),
        };
        if cache.len() > 1024 {
            cache.clear();
        }
        cache.insert(
            caller.uid,
            Loaded {
                checked: now,
                stamps: (system_stamp, user_stamp),
                policy: policy.clone(),
            },
        );
        policy
    }

    fn forget(&self, uid: u32) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&uid);
    }
}

/// The decision while a policy file is broken: reads by the built-in rules,
/// changes denied with the parse error.
fn broken(input: &PolicyInput, error: &str) -> PolicyDecision {
    if input.effect == Risk::Read {
        return Policy::builtin_only().decide(input);
    }
    PolicyDecision {
        verdict: Verdict::Deny,
        source: RuleSource::Builtin,
        rule: "builtin.policy-file-invalid".into(),
        reason: format!(
            "a policy file does not load, so no change runs until it is fixed: {error}"
        ),
        confirm: None,
    }
}

impl PolicyEngine for FilePolicy {
    fn decide(&self, input: &PolicyInput) -> PolicyDecision {
        match self.policy_for(&input.caller) {
            Ok(p) => p.decide(input),
            Err(e) => broken(input, &e),
        }
    }

    fn explain(&self, input: &PolicyInput) -> Value {
        let mut v = match self.policy_for(&input.caller) {
            Ok(p) => serde_json::to_value(p.explain(input)).unwrap_or(Value::Null),
            Err(e) => json!({ "decision": broken(input, &e), "error": e }),
        };
        if let Value::Object(o) = &mut v {
            o.insert(
                "files".into(),
                json!({
                    "system": self.system,
                    "user": self.user_file_of(&input.caller),
                }),
            );
        }
        v
    }

    fn preview_grant(&self, input: &PolicyInput) -> Result<GrantPreview, String> {
        let file = self
            .user_file_of(&input.caller)
            .ok_or("you have no home directory to keep a policy file in")?;
        let policy = self.policy_for(&input.caller)?;
        let rule = policy.fresh_grant(input);
        let with_grant = policy.decide_with_grant(input, &rule);
        Ok(GrantPreview {
            rule,
            file,
            with_grant,
        })
    }

    fn grant(&self, input: &PolicyInput, rule: Option<Rule>) -> Result<String, String> {
        let file = self
            .user_file_of(&input.caller)
            .ok_or("you have no home directory to keep a policy file in")?;
        let policy = self.policy_for(&input.caller)?;
        let rule = rule.unwrap_or_else(|| policy.fresh_grant(input));
        // A saved grant never overrides a configured ask or deny; saving
        // one that cannot take effect would only pretend to.
        let with = policy.decide_with_grant(input, &rule);
        if with.verdict != Verdict::Allow {
            return Err(format!(
                "a saved rule would not stop the question, so none was saved: {}",
                with.reason
            ));
        }
        let id = self
            .as_user(input.caller.uid, || save_grant(&file, &rule))?
            .map_err(|e| e.to_string())?;
        self.forget(input.caller.uid);
        Ok(rule.with_id(id).to_toml())
    }

    fn files(&self, caller: &Caller) -> Value {
        let user = self.user_file_of(caller);
        let user_exists = user
            .as_ref()
            .is_some_and(|u| self.as_user(caller.uid, || u.exists()).unwrap_or(false));
        let check = self.policy_for(caller).err();
        json!({
            "system": { "path": self.system, "exists": self.system.exists() },
            "user": { "path": user, "exists": user_exists },
            "error": check,
        })
    }

    fn grants(&self, caller: &Caller) -> Result<Value, String> {
        let Some(file) = self.user_file_of(caller) else {
            return Ok(json!([]));
        };
        let rules = self
            .as_user(caller.uid, || list_grants(&file))?
            .map_err(|e| e.to_string())?;
        Ok(Value::Array(
            rules
                .iter()
                .map(|r| json!({ "id": r.id(), "rule": r.to_toml(), "file": file }))
                .collect(),
        ))
    }

    fn revoke(&self, caller: &Caller, id: &str) -> Result<bool, String> {
        let Some(file) = self.user_file_of(caller) else {
            return Ok(false);
        };
        let gone = self
            .as_user(caller.uid, || revoke_grant(&file, id))?
            .map_err(|e| e.to_string())?;
        self.forget(caller.uid);
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aios_proto::{HostFacts, Resource, SessionKind};

    fn input(home: &Path, tool: &str, effect: Risk, path: &str) -> PolicyInput {
        PolicyInput {
            tool: tool.into(),
            args: json!({ "path": path }),
            effect,
            resources: vec![Resource::Path(path.into())],
            caller: Caller {
                uid: nix::unistd::geteuid().as_raw(),
                user: "me".into(),
                groups: vec![],
                admin: true,
                home: home.to_string_lossy().into_owned(),
                session_kind: SessionKind::Interactive,
            },
            host: HostFacts::default(),
        }
    }

    #[test]
    fn system_and_user_files_decide_and_a_grant_is_saved_and_revoked() {
        let d = tempfile::tempdir().unwrap();
        let system = d.path().join("system.toml");
        std::fs::write(
            &system,
            "[[rule]]\nid = \"no-etc\"\naction = \"deny\"\ntools = [\"fs.*\"]\npaths = [\"/etc/**\"]\n",
        )
        .unwrap();
        let p = FilePolicy::new(system);
        let etc = input(d.path(), "fs.write", Risk::Change, "/etc/motd");
        assert_eq!(p.decide(&etc).verdict, Verdict::Deny);
        let tmp = input(d.path(), "fs.write", Risk::Change, "/srv/x");
        assert_eq!(p.decide(&tmp).verdict, Verdict::Ask);
        let shown = p.preview_grant(&tmp).unwrap();
        assert!(shown.takes_effect());
        let text = p.grant(&tmp, Some(shown.rule.clone())).unwrap();
        assert_eq!(
            text,
            shown.rule.to_toml(),
            "the rule shown is the rule saved"
        );
        assert!(text.contains("fs.write"), "{text}");
        assert_eq!(
            p.decide(&tmp).verdict,
            Verdict::Allow,
            "the grant applies at once"
        );
        // A grant never loosens a system deny, and is not saved to pretend.
        let shown = p.preview_grant(&etc).unwrap();
        assert!(!shown.takes_effect());
        assert_eq!(shown.with_grant.rule, "no-etc");
        let e = p.grant(&etc, None).unwrap_err();
        assert!(e.contains("none was saved"), "{e}");
        assert_eq!(p.decide(&etc).verdict, Verdict::Deny);
        assert_eq!(p.grants(&tmp.caller).unwrap().as_array().unwrap().len(), 1);
        let grants = p.grants(&tmp.caller).unwrap();
        let id = grants[0]["id"].as_str().unwrap().to_string();
        assert!(p.revoke(&tmp.caller, &id).unwrap());
        assert_eq!(p.decide(&tmp).verdict, Verdict::Ask);
    }

    #[test]
    fn toolsd_own_uid_uses_the_configured_file_not_the_one_under_its_home() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("home");
        let mine = d.path().join("config/aios/policy.toml");
        let p = FilePolicy::new(d.path().join("system.toml")).with_own_file(Some(mine.clone()));
        let call = input(&home, "fs.write", Risk::Change, "/srv/x");
        assert_eq!(p.user_file_of(&call.caller), Some(mine.clone()));
        p.grant(&call, None).unwrap();
        assert!(std::fs::read_to_string(&mine).unwrap().contains("fs.write"));
        assert!(!home.exists(), "nothing was written under the home");
        assert_eq!(p.decide(&call).verdict, Verdict::Allow);
        assert_eq!(p.files(&call.caller)["user"]["path"], json!(mine));
        // Another uid's file is still the one under its home.
        let mut other = call.caller.clone();
        other.uid = other.uid.wrapping_add(1);
        assert_eq!(
            p.user_file_of(&other),
            Some(home.join(".config/aios/policy.toml"))
        );
    }

    #[test]
    fn a_broken_file_denies_changes_and_says_why() {
        let d = tempfile::tempdir().unwrap();
        let system = d.path().join("system.toml");
        std::fs::write(&system, "[[rule]]\nid = 3\n").unwrap();
        let p = FilePolicy::new(system);
        let change = input(d.path(), "fs.write", Risk::Change, "/srv/x");
        let dec = p.decide(&change);
        assert_eq!(dec.verdict, Verdict::Deny);
        assert!(dec.reason.contains("system.toml"), "{}", dec.reason);
        let read = input(d.path(), "fs.read", Risk::Read, "/srv/x");
        assert_eq!(p.decide(&read).verdict, Verdict::Allow);
    }
}
