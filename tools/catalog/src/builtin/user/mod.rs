//! The `user.*` tools and what they share: validated account and group
//! names, parsers for `/etc/passwd`, `/etc/group`, `/etc/shadow` and
//! `/etc/login.defs` (pure functions over text, so tests feed them real or
//! written files), and the "needs root" check of the change tools.
//!
//! The account database is read from the files, inside
//! [`crate::ToolCtx::blocking`], so `/etc/shadow` is read only when the
//! caller's kernel credentials allow it. Password hashes are never kept:
//! the shadow parser reduces each entry to its lock and expiry state.
//! Changes go through the shadow-utils helpers (`useradd`, `usermod`,
//! `gpasswd`, `userdel`), which hold the database locks; names are
//! validated before they reach a command line and passed after `--`.

mod add;
mod delete;
mod groups;
mod info;
mod list;
mod lock;

pub use add::UserAdd;
pub use delete::UserDelete;
pub use groups::UserGroups;
pub use info::UserInfo;
pub use list::UserList;
pub use lock::{UserLock, UserUnlock};

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::command::{CommandOutput, run_command};
use crate::util::truncate;
use crate::{ToolCtx, ToolError};

/// A user or group name safe for the shadow-utils helpers: 1 to 32
/// characters, a lower-case letter or `_` first, then lower-case letters,
/// digits, `_` and `-` (optionally a final `$`, for machine accounts).
/// That is Debian's default `NAME_REGEX`, minus nothing that could read
/// as an option or a path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountName(String);

impl From<AccountName> for String {
    fn from(n: AccountName) -> String {
        n.0
    }
}

impl TryFrom<String> for AccountName {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() || s.len() > 32 {
            return Err(format!(
                "name {s:?} must be 1 to 32 characters (a lower-case letter or _ first)"
            ));
        }
        let body = s.strip_suffix('$').unwrap_or(&s);
        let mut chars = body.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
        if !first_ok {
            return Err(format!(
                "name {s:?} must start with a lower-case letter or _"
            ));
        }
        if let Some(c) =
            chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(*c)))
        {
            return Err(format!(
                "name {s:?} contains {c:?}; only lower-case letters, digits, _ and - are allowed"
            ));
        }
        Ok(AccountName(s))
    }
}

impl AccountName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AccountName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One line of `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Full name and other GECOS text.
    pub gecos: String,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
}

/// Parse `/etc/passwd` text; malformed lines (and NIS `+`/`-` lines) are skipped.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() != 7 || f[0].is_empty() || f[0].starts_with(['+', '-', '#']) {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                gecos: f[4].to_string(),
                home: f[5].to_string(),
                shell: f[6].to_string(),
            })
        })
        .collect()
}

/// One line of `/etc/group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// Group id.
    pub gid: u32,
    /// Listed members (supplementary membership).
    pub members: Vec<String>,
}

/// Parse `/etc/group` text; malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() != 4 || f[0].is_empty() || f[0].starts_with(['+', '-', '#']) {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// What `/etc/shadow` says about one account, without its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ShadowState {
    /// The password is locked (`!` prefix): password login refused.
    pub locked: bool,
    /// There is no usable password at all (`*`, `!` or `!*` alone):
    /// password login is impossible even when unlocked.
    pub no_password: bool,
    /// The password field is empty: login without a password.
    pub empty_password: bool,
    /// Account expiry, days since 1970-01-01, when set.
    pub expires_day: Option<i64>,
}

impl ShadowState {
    /// Whether the account has expired at unix time `now`.
    pub fn expired(&self, now: i64) -> bool {
        self.expires_day.is_some_and(|d| d * 86_400 <= now)
    }
}

/// Parse `/etc/shadow` text into each account's state. The hash is looked
/// at only to classify it and is dropped with the line.
pub fn parse_shadow(text: &str) -> BTreeMap<String, ShadowState> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 8 || f[0].is_empty() {
                return None;
            }
            let pw = f[1];
            let locked = pw.starts_with('!');
            let rest = pw.trim_start_matches('!');
            Some((
                f[0].to_string(),
                ShadowState {
                    locked,
                    no_password: rest.is_empty() && locked || rest.starts_with('*'),
                    empty_password: pw.is_empty(),
                    expires_day: f[7].parse().ok(),
                },
            ))
        })
        .collect()
}

/// The range of ordinary (human) user ids from `/etc/login.defs`:
/// `UID_MIN` and `UID_MAX`, 1000 and 60000 when unset.
pub fn parse_login_defs(text: &str) -> (u32, u32) {
    let mut min = 1000;
    let mut max = 60000;
    for l in text.lines() {
        let mut it = l.split_whitespace();
        match (it.next(), it.next().and_then(|v| v.parse().ok())) {
            (Some("UID_MIN"), Some(v)) => min = v,
            (Some("UID_MAX"), Some(v)) => max = v,
            _ => {}
        }
    }
    (min, max)
}

/// The account database as the caller may read it.
#[derive(Debug, Clone, Default)]
pub struct AccountDb {
    /// `/etc/passwd` entries.
    pub users: Vec<PasswdEntry>,
    /// `/etc/group` entries.
    pub groups: Vec<GroupEntry>,
    /// `/etc/shadow` states, `None` when the caller may not read it.
    pub shadow: Option<BTreeMap<String, ShadowState>>,
    /// (`UID_MIN`, `UID_MAX`).
    pub human_uids: (u32, u32),
}

impl AccountDb {
    /// Read the database under `etc` (normally `/etc`) with the calling
    /// thread's credentials; call it inside [`ToolCtx::blocking`].
    pub fn read(etc: &str) -> Result<AccountDb, ToolError> {
        let read = |name: &str| {
            let p = format!("{etc}/{name}");
            std::fs::read_to_string(&p)
                .map_err(|e| ToolError::io(std::path::Path::new(&p), "read", &e))
        };
        let users = parse_passwd(&read("passwd")?);
        let groups = parse_group(&read("group")?);
        let shadow = read("shadow").ok().map(|t| parse_shadow(&t));
        let human_uids = read("login.defs")
            .map(|t| parse_login_defs(&t))
            .unwrap_or((1000, 60000));
        Ok(AccountDb {
            users,
            groups,
            shadow,
            human_uids,
        })
    }

    /// The entry of `name`.
    pub fn user(&self, name: &str) -> Option<&PasswdEntry> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The entry of `name`, or a not-found error that says how to list users.
    pub fn require_user(&self, name: &str) -> Result<&PasswdEntry, ToolError> {
        self.user(name).ok_or_else(|| {
            ToolError::not_found(format!(
                "there is no user {name:?} in /etc/passwd (user.list shows the accounts)"
            ))
        })
    }

    /// The group of `gid`.
    pub fn group_by_gid(&self, gid: u32) -> Option<&GroupEntry> {
        self.groups.iter().find(|g| g.gid == gid)
    }

    /// Whether group `name` exists.
    pub fn has_group(&self, name: &str) -> bool {
        self.groups.iter().any(|g| g.name == name)
    }

    /// Supplementary groups listing `user` as a member, sorted.
    pub fn supplementary(&self, user: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == user))
            .map(|g| g.name.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Whether `uid` is in the human range of `/etc/login.defs`.
    pub fn is_human(&self, uid: u32) -> bool {
        uid >= self.human_uids.0 && uid <= self.human_uids.1
    }

    /// The shadow state of `name`, when readable.
    pub fn shadow_of(&self, name: &str) -> Option<ShadowState> {
        self.shadow.as_ref().and_then(|s| s.get(name).copied())
    }
}

/// Read `/etc`'s account database as the caller.
pub(crate) async fn read_db(ctx: &ToolCtx) -> Result<AccountDb, ToolError> {
    ctx.blocking(|_| AccountDb::read("/etc")).await
}

/// Whether the call runs with root's rights: the caller is root, or the
/// executor runs it with its own credentials and is root.
pub(crate) fn runs_as_root(ctx: &ToolCtx) -> bool {
    if ctx.access().enforced() {
        ctx.access().identity().uid == 0
    } else {
        nix::unistd::geteuid().is_root()
    }
}

/// Fail with a clear "needs root" unless the call runs as root.
pub(crate) fn require_root(ctx: &ToolCtx, tool: &str) -> Result<(), ToolError> {
    if runs_as_root(ctx) {
        Ok(())
    } else {
        Err(ToolError::denied(format!(
            "{tool} needs root: {} may not change the account database; approve it as an administrator",
            ctx.access().who()
        )))
    }
}

/// Refuse to act on uid 0 or on the caller's own account (`what`: "lock", "delete").
pub(crate) fn refuse_root_or_self(
    ctx: &ToolCtx,
    user: &PasswdEntry,
    what: &str,
) -> Result<(), ToolError> {
    if user.uid == 0 {
        return Err(ToolError::denied(format!(
            "refusing to {what} {:?}: it has uid 0 (root); aiOS never does that",
            user.name
        )));
    }
    let me = ctx.access().identity();
    if me.uid == user.uid || me.name.as_deref() == Some(user.name.as_str()) {
        return Err(ToolError::denied(format!(
            "refusing to {what} {:?}: it is your own account, and you could lock yourself out",
            user.name
        )));
    }
    Ok(())
}

/// Run a shadow-utils helper for a change and turn a failure into an
/// error carrying its message.
pub(crate) async fn run_helper(
    ctx: &ToolCtx,
    program: &str,
    args: &[&str],
) -> Result<CommandOutput, ToolError> {
    let out = run_command(ctx, program, args, Duration::from_secs(30), 64 * 1024).await?;
    if out.code != Some(0) {
        let msg = if out.stderr.trim().is_empty() {
            out.stdout.trim()
        } else {
            out.stderr.trim()
        };
        return Err(ToolError::failed(format!(
            "{program} {} failed (exit {}): {}",
            args.join(" "),
            out.code
                .map_or_else(|| "signal".to_string(), |c| c.to_string()),
            truncate(msg, 500)
        )));
    }
    Ok(out)
}

/// Unix time now, in seconds.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        for ok in ["alice", "_apt", "bob-2", "svc_x", "host$", "a"] {
            assert!(AccountName::try_from(ok.to_string()).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-r",
            "Alice",
            "1abc",
            "a b",
            "a;b",
            "a/b",
            "a:b",
            "x$y",
            &"a".repeat(33),
        ] {
            assert!(AccountName::try_from(bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn parsers_read_real_formats() {
        let p = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\nbad line\n+nis::::::\nalice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh\n",
        );
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].name, "alice");
        assert_eq!(p[1].uid, 1000);
        assert_eq!(p[1].shell, "/bin/zsh");
        let g = parse_group("sudo:x:27:alice,bob\nusers:x:100:\n");
        assert_eq!(g[0].members, ["alice", "bob"]);
        assert!(g[1].members.is_empty());
        let s = parse_shadow(
            "root:*:19000:0:99999:7:::\nalice:$y$j9T$abc:19000:0:99999:7:::\nbob:!$6$x:19000:0:99999:7::100:\ncarol::19000::::::\ndan:!:19000::::::\n",
        );
        assert!(!s["alice"].locked && !s["alice"].no_password);
        assert!(s["root"].no_password && !s["root"].locked);
        assert!(s["bob"].locked && !s["bob"].no_password);
        assert_eq!(s["bob"].expires_day, Some(100));
        assert!(s["bob"].expired(100 * 86_400));
        assert!(!s["alice"].expired(i64::MAX / 2));
        assert!(s["carol"].empty_password);
        assert!(s["dan"].locked && s["dan"].no_password);
        // The hash is gone: nothing in the state prints it.
        assert!(!format!("{:?}", s).contains("$y$"));
        assert_eq!(
            parse_login_defs("# x\nUID_MIN\t\t 500\nUID_MAX 6000\n"),
            (500, 6000)
        );
        assert_eq!(parse_login_defs(""), (1000, 60000));
    }

    #[test]
    fn the_real_database_parses() {
        let db = AccountDb::read("/etc").unwrap();
        let root = db.require_user("root").unwrap();
        assert_eq!(root.uid, 0);
        assert!(!db.is_human(0));
        let e = db.require_user("no_such_user_aios").unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::NotFound);
    }
}
