//! Whose permissions a tool call runs with, and the Unix permission check
//! for that identity.
//!
//! `toolsd` may run as root on behalf of an ordinary user. The kernel then
//! checks root's permissions, not the user's, so file tools ask [`Access`]
//! before touching a path: the owner/group/other bits of every directory on
//! the way (search) and of the target (read), evaluated for the user's uid,
//! primary gid and supplementary groups. [`permits`] is the pure rule,
//! tested with synthetic metadata.
//!
//! Limits: POSIX ACLs and capabilities other than root's are not modelled
//! (the check is stricter than the kernel for ACL grants, never looser for
//! mode bits), and a path swapped between check and open is a known race
//! that a later sandbox issue closes by running file tools under the user's
//! fsuid.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::ToolError;

/// A user as the permission check sees them.
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

/// An access a tool wants on a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// Read a file or list a directory.
    Read,
    /// Search a directory (reach names inside it).
    Search,
    /// List a directory and reach its entries (read + search).
    ReadSearch,
}

/// The ownership and mode bits the check needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Mode bits (`st_mode`; only the low 9 bits matter).
    pub mode: u32,
}

impl FileMeta {
    /// From `std::fs::Metadata`.
    pub fn of(m: &std::fs::Metadata) -> FileMeta {
        FileMeta {
            uid: m.uid(),
            gid: m.gid(),
            mode: m.mode(),
        }
    }
}

/// Whether `who` may have `want` on a file with `meta`, by Unix rules:
/// root may read and search anything; otherwise the owner bits apply to
/// the owner (exclusively, even when they grant less than group bits), the
/// group bits to members of the file's group, and the other bits to the rest.
pub fn permits(who: &Identity, meta: FileMeta, want: Perm) -> bool {
    if who.uid == 0 {
        return true;
    }
    let bits = if who.uid == meta.uid {
        (meta.mode >> 6) & 0o7
    } else if who.in_group(meta.gid) {
        (meta.mode >> 3) & 0o7
    } else {
        meta.mode & 0o7
    };
    let need = match want {
        Perm::Read => 0o4,
        Perm::Search => 0o1,
        Perm::ReadSearch => 0o5,
    };
    bits & need == need
}

/// Whose permissions a call runs with.
#[derive(Debug, Clone)]
pub struct Access {
    identity: Identity,
    /// False when the identity is this process's own: the kernel already
    /// enforces exactly its permissions, so the check is skipped.
    enforce: bool,
}

impl Access {
    /// Run as this process itself; the kernel is the check.
    pub fn process() -> Access {
        Access {
            identity: Identity::current(),
            enforce: false,
        }
    }

    /// Run on behalf of `identity`. Checks are enforced unless it is the
    /// process's own effective uid.
    pub fn as_user(identity: Identity) -> Access {
        let enforce = identity.uid != nix::unistd::geteuid().as_raw();
        Access { identity, enforce }
    }

    /// The effective user.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Whether checks beyond the kernel's are applied.
    pub fn enforced(&self) -> bool {
        self.enforce
    }

    /// Whether the effective user may have `want` on an entry with `meta`.
    pub fn allows(&self, meta: FileMeta, want: Perm) -> bool {
        !self.enforce || permits(&self.identity, meta, want)
    }

    /// Resolve a user-supplied path: `~` and `~/x` expand to the effective
    /// user's home; anything else must be absolute (toolsd's working
    /// directory means nothing to the caller).
    pub fn resolve(&self, raw: &str) -> Result<PathBuf, ToolError> {
        resolve_path(raw, self.identity.home.as_deref())
    }

    /// Check that the effective user may have `want` on `path` and search
    /// every directory leading to it. `path` should be canonical (symlinks
    /// resolved), so the directories checked are the ones really traversed.
    pub fn check(&self, path: &Path, want: Perm) -> Result<(), ToolError> {
        if !self.enforce {
            return Ok(());
        }
        let mut cur = PathBuf::new();
        let comps: Vec<Component<'_>> = path.components().collect();
        for (i, c) in comps.iter().enumerate() {
            cur.push(c);
            let last = i + 1 == comps.len();
            let meta =
                std::fs::symlink_metadata(&cur).map_err(|e| ToolError::io(&cur, "inspect", &e))?;
            let fm = FileMeta::of(&meta);
            let need = if last { want } else { Perm::Search };
            if !permits(&self.identity, fm, need) {
                return Err(self.denial(&cur, fm, need));
            }
        }
        Ok(())
    }

    fn denial(&self, path: &Path, fm: FileMeta, need: Perm) -> ToolError {
        let who = match &self.identity.name {
            Some(n) => format!("user {n} (uid {})", self.identity.uid),
            None => format!("uid {}", self.identity.uid),
        };
        let verb = match need {
            Perm::Read => "read",
            Perm::Search => "enter",
            Perm::ReadSearch => "list",
        };
        ToolError::denied(format!(
            "permission denied: {who} cannot {verb} {} (mode {:04o}, owner uid {}, group gid {})",
            path.display(),
            fm.mode & 0o7777,
            fm.uid,
            fm.gid
        ))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32, gid: u32, groups: &[u32]) -> Identity {
        Identity {
            uid,
            gid,
            groups: groups.to_vec(),
            name: None,
            home: Some(PathBuf::from("/home/u")),
        }
    }

    fn meta(uid: u32, gid: u32, mode: u32) -> FileMeta {
        FileMeta { uid, gid, mode }
    }

    #[test]
    fn owner_bits_apply_to_owner_exclusively() {
        let u = user(1000, 1000, &[1000]);
        assert!(permits(&u, meta(1000, 1000, 0o600), Perm::Read));
        assert!(!permits(&u, meta(1000, 1000, 0o200), Perm::Read));
        // Owner bits deny even though group and other bits would allow.
        assert!(!permits(&u, meta(1000, 1000, 0o077), Perm::Read));
    }

    #[test]
    fn group_bits_apply_to_primary_and_supplementary_members() {
        let u = user(1000, 1000, &[1000, 4]);
        assert!(permits(&u, meta(0, 4, 0o640), Perm::Read));
        assert!(permits(&u, meta(0, 1000, 0o640), Perm::Read));
        assert!(!permits(&u, meta(0, 5, 0o640), Perm::Read));
        // A group member gets group bits, not other bits.
        assert!(!permits(&u, meta(0, 4, 0o604), Perm::Read));
    }

    #[test]
    fn other_bits_apply_to_strangers() {
        let u = user(1000, 1000, &[]);
        assert!(permits(&u, meta(0, 0, 0o644), Perm::Read));
        assert!(!permits(&u, meta(0, 0, 0o640), Perm::Read));
        assert!(permits(&u, meta(0, 0, 0o711), Perm::Search));
        assert!(!permits(&u, meta(0, 0, 0o711), Perm::ReadSearch));
        assert!(permits(&u, meta(0, 0, 0o755), Perm::ReadSearch));
        assert!(!permits(&u, meta(0, 0, 0o700), Perm::Search));
    }

    #[test]
    fn root_reads_everything() {
        let r = user(0, 0, &[]);
        assert!(permits(&r, meta(1000, 1000, 0o000), Perm::Read));
        assert!(permits(&r, meta(1000, 1000, 0o000), Perm::ReadSearch));
    }

    #[test]
    fn check_walks_every_directory_with_real_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("private");
        std::fs::create_dir(&sub).unwrap();
        let file = sub.join("f.txt");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o700)).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        // A stranger uid that owns nothing here and is in no group of ours.
        let stranger = Access::as_user(user(me.wrapping_add(4242), 4242_4242, &[]));
        let canon = file.canonicalize().unwrap();
        let err = stranger.check(&canon, Perm::Read).unwrap_err();
        assert_eq!(err.kind(), crate::ToolErrorKind::PermissionDenied);
        assert!(err.message().contains("cannot enter"), "{err}");
        assert!(err.message().contains("private"), "{err}");
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o711)).unwrap();
        // Whether the temp dir's ancestors are searchable for others depends
        // on the host; /tmp and / normally are.
        let ancestors_ok = stranger.check(dir.path(), Perm::Search).is_ok();
        if ancestors_ok {
            stranger.check(&canon, Perm::Read).unwrap();
            assert!(stranger.check(&sub, Perm::ReadSearch).is_err());
        }
        // The process's own access defers to the kernel.
        Access::process().check(&canon, Perm::Read).unwrap();
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
