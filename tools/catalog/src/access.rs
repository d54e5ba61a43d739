//! Whose credentials a tool call runs with: the [`Identity`] of the user
//! it acts for, and [`Access`], which says whether the call's blocking work
//! runs with that user's kernel credentials ([`crate::creds`]) or the
//! process's own.
//!
//! There is no permission check here: the kernel checks each path walk,
//! open and listing with the credentials of the thread doing it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{Credentials, ToolError};

/// The user a call acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids (may include `gid`).
    pub groups: Vec<u32>,
    /// Login name, when the user database knows the uid.
    pub name: Option<String>,
    /// Home directory, for `~` in paths.
    pub home: Option<PathBuf>,
}

impl Identity {
    /// Look a uid up in the user database (name, primary group, home and
    /// supplementary groups). An unknown uid gets no groups: fail closed.
    pub fn lookup(uid: u32) -> Identity {
        let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten();
        match user {
            Some(u) => {
                let groups = std::ffi::CString::new(u.name.clone())
                    .ok()
                    .and_then(|name| nix::unistd::getgrouplist(&name, u.gid).ok())
                    .map(|gs| gs.into_iter().map(|g| g.as_raw()).collect())
                    .unwrap_or_else(|| vec![u.gid.as_raw()]);
                Identity {
                    uid,
                    gid: u.gid.as_raw(),
                    groups,
                    name: Some(u.name),
                    home: Some(u.dir),
                }
            }
            None => Identity {
                uid,
                gid: u32::MAX,
                groups: Vec::new(),
                name: None,
                home: None,
            },
        }
    }

    /// The identity of this process (effective uid and gid, its groups).
    pub fn current() -> Identity {
        let uid = nix::unistd::geteuid().as_raw();
        let mut id = Identity::lookup(uid);
        id.gid = nix::unistd::getegid().as_raw();
        if let Ok(gs) = nix::unistd::getgroups() {
            id.groups = gs.into_iter().map(|g| g.as_raw()).collect();
        }
        id
    }

    /// Whether the user is in group `gid` (primary or supplementary).
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }

    /// Whether the user is in any of the named groups.
    pub fn in_any_group(&self, names: &[&str]) -> bool {
        names.iter().any(|n| {
            nix::unistd::Group::from_name(n)
                .ok()
                .flatten()
                .is_some_and(|g| self.in_group(g.gid.as_raw()))
        })
    }
}

/// Whose credentials a call runs with.
///
/// Either the process's own (the kernel checks toolsd's rights: a root
/// caller, toolsd acting for its own user in development mode, or later a
/// change that policy or a human approved), or another user's, in which
/// case [`crate::ToolCtx::blocking`] runs the call's blocking work under
/// that user's [`Credentials`].
#[derive(Debug, Clone)]
pub struct Access {
    identity: Identity,
    /// `None` when the identity is the process's own.
    creds: Option<Arc<Credentials>>,
}

impl Access {
    /// Run as this process itself.
    pub fn process() -> Access {
        Access {
            identity: Identity::current(),
            creds: None,
        }
    }

    /// Run with the credentials of `identity`, unless it is the process's
    /// own effective uid.
    pub fn as_user(identity: Identity) -> Access {
        let creds = (identity.uid != nix::unistd::geteuid().as_raw())
            .then(|| Arc::new(Credentials::of(&identity)));
        Access { identity, creds }
    }

    /// The effective user.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Whether the call runs with another user's credentials than the
    /// process's own.
    pub fn enforced(&self) -> bool {
        self.creds.is_some()
    }

    /// The credentials blocking work switches to, when not the process's own.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.creds.as_deref()
    }

    pub(crate) fn shared_credentials(&self) -> Option<Arc<Credentials>> {
        self.creds.clone()
    }

    /// Resolve a user-supplied path: `~` and `~/x` expand to the effective
    /// user's home; anything else must be absolute (toolsd's working
    /// directory means nothing to the caller).
    pub fn resolve(&self, raw: &str) -> Result<PathBuf, ToolError> {
        resolve_path(raw, self.identity.home.as_deref())
    }

    /// `user alice (uid 1000)`, for messages.
    pub fn who(&self) -> String {
        match &self.identity.name {
            Some(n) => format!("user {n} (uid {})", self.identity.uid),
            None => format!("uid {}", self.identity.uid),
        }
    }

    /// An I/O error on `path` as the caller should read it. A permission
    /// error says who was refused; it never says whether the path exists,
    /// because the kernel refuses a walk through a directory the caller
    /// cannot search before it looks the name up.
    pub fn io_error(&self, path: &Path, what: &str, e: &std::io::Error) -> ToolError {
        match e.raw_os_error() {
            Some(libc::EACCES | libc::EPERM) => ToolError::denied(format!(
                "permission denied: {} may not {what} {}",
                self.who(),
                path.display()
            )),
            _ => ToolError::io(path, what, e),
        }
    }
}

/// Expand `~` against `home` and require an absolute path.
pub fn resolve_path(raw: &str, home: Option<&Path>) -> Result<PathBuf, ToolError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(ToolError::invalid(
            "path is empty: give an absolute path such as /var/log",
        ));
    }
    if raw.contains('\0') {
        return Err(ToolError::invalid("path contains a NUL byte"));
    }
    if raw == "~" || raw.starts_with("~/") {
        let home = home.ok_or_else(|| {
            ToolError::invalid(
                "`~` cannot be expanded: the user has no home directory; give an absolute path",
            )
        })?;
        let rest = raw.trim_start_matches('~').trim_start_matches('/');
        return Ok(if rest.is_empty() {
            home.to_path_buf()
        } else {
            home.join(rest)
        });
    }
    let p = PathBuf::from(raw);
    if !p.is_absolute() {
        return Err(ToolError::invalid(format!(
            "path {raw:?} is relative: give an absolute path (such as /{raw}) or one starting with ~/"
        )));
    }
    Ok(p)
}

/// A path argument in canonical form: `~` expanded against `home`,
/// absolute, and lexically normalised (`.` and empty parts dropped, `..`
/// applied, no trailing `/`). Links are not followed: the tools open paths
/// without following a final link, and policy matches what was asked.
pub fn normalize_path(raw: &str, home: Option<&Path>) -> Result<String, ToolError> {
    let p = resolve_path(raw, home)?;
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::Normal(n) => parts.push(n),
            std::path::Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    let mut out = PathBuf::from("/");
    out.extend(parts);
    out.into_os_string()
        .into_string()
        .map_err(|_| ToolError::invalid(format!("path {raw:?} is not valid UTF-8")))
}

/// [`normalize_path`] in place, for `canonicalize` implementations.
pub fn normalize_in_place(raw: &mut String, home: Option<&Path>) -> Result<(), ToolError> {
    *raw = normalize_path(raw, home)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_is_lexical_and_absolute() {
        let home = Path::new("/home/u");
        for (raw, want) in [
            ("/etc//fstab", "/etc/fstab"),
            ("/etc/./x/../fstab", "/etc/fstab"),
            ("/../..", "/"),
            ("/var/log/", "/var/log"),
            ("~/notes/../a.txt", "/home/u/a.txt"),
            ("~", "/home/u"),
        ] {
            assert_eq!(normalize_path(raw, Some(home)).unwrap(), want, "{raw}");
        }
        assert!(normalize_path("etc/fstab", Some(home)).is_err());
        assert!(normalize_path("~/x", None).is_err());
    }

    #[test]
    fn resolve_expands_home_and_refuses_relative() {
        let home = Path::new("/home/u");
        assert_eq!(
            resolve_path("~", Some(home)).unwrap(),
            PathBuf::from("/home/u")
        );
        assert_eq!(
            resolve_path("~/d/x", Some(home)).unwrap(),
            PathBuf::from("/home/u/d/x")
        );
        assert_eq!(
            resolve_path("/var", Some(home)).unwrap(),
            PathBuf::from("/var")
        );
        let e = resolve_path("var/log", Some(home)).unwrap_err();
        assert!(e.message().contains("relative"), "{e}");
        assert!(resolve_path("", None).is_err());
        assert!(resolve_path("~/x", None).is_err());
    }
}
