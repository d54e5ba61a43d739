//! Who is calling: the typed principal every server derives from the
//! connecting socket's peer credentials (`SO_PEERCRED`), and the rights
//! checks built on it.

use crate::error::ApiError;

/// Groups whose members count as administrators (DESIGN.md §2).
pub const ADMIN_GROUPS: &[&str] = &["sudo", "wheel", "aios-admin"];

/// The caller of an RPC, as the kernel vouches for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Effective uid of the peer.
    pub uid: u32,
    /// Effective gid of the peer.
    pub gid: u32,
    /// Peer process id, when known.
    pub pid: Option<u32>,
    /// Member of an admin group (or root).
    pub admin: bool,
    /// Same uid as the server, or root: another aiOS daemon or the
    /// server's own user in development mode.
    pub trusted_peer: bool,
}

/// A right an RPC requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Right {
    /// Any local user may call.
    AnyUser,
    /// Only an administrator.
    Admin,
    /// Only another aiOS daemon (same uid as the server) or root.
    Daemon,
    /// The owner of a resource, or an administrator.
    Owner(u32),
}

impl Principal {
    /// Build a principal from raw credentials, resolving admin membership
    /// from the peer process's supplementary groups.
    pub fn from_creds(uid: u32, gid: u32, pid: Option<u32>) -> Principal {
        let server_uid = nix::unistd::geteuid().as_raw();
        let admin = uid == 0 || pid.map(peer_in_admin_group).unwrap_or(false);
        Principal {
            uid,
            gid,
            pid,
            admin,
            trusted_peer: uid == 0 || uid == server_uid || Some(uid) == service_uid(),
        }
    }

    /// The principal of this very process (for in-process calls and tests).
    pub fn current_process() -> Principal {
        Principal::from_creds(
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
            Some(std::process::id()),
        )
    }

    /// Check a right, with a message that says what was missing.
    pub fn require(&self, right: Right) -> Result<(), ApiError> {
        let ok = match right {
            Right::AnyUser => true,
            Right::Admin => self.admin,
            Right::Daemon => self.trusted_peer,
            Right::Owner(owner) => self.uid == owner || self.admin,
        };
        if ok {
            return Ok(());
        }
        let need = match right {
            Right::AnyUser => "any local user",
            Right::Admin => "membership in an admin group (sudo, wheel or aios-admin)",
            Right::Daemon => "being an aiOS daemon (the service uid) or root",
            Right::Owner(_) => "owning the resource or being an administrator",
        };
        Err(ApiError::denied(format!(
            "uid {} is not allowed to do this: it requires {need}",
            self.uid
        )))
    }
}

/// The account the unprivileged daemons run as on the aiOS image.
pub const SERVICE_USER: &str = "aios";

/// Uid of [`SERVICE_USER`], when the account exists. On the image the
/// orchestrator runs as that user while the executor runs as root, so the
/// executor must recognise it as a daemon peer.
fn service_uid() -> Option<u32> {
    static UID: std::sync::OnceLock<Option<u32>> = std::sync::OnceLock::new();
    *UID.get_or_init(|| {
        nix::unistd::User::from_name(SERVICE_USER)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw())
    })
}

/// Whether the process `pid` has an admin group among its groups,
/// read from `/proc/<pid>/status` (the kernel's view at call time).
fn peer_in_admin_group(pid: u32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let admin_gids: Vec<u32> = ADMIN_GROUPS
        .iter()
        .filter_map(|name| nix::unistd::Group::from_name(name).ok().flatten())
        .map(|g| g.gid.as_raw())
        .collect();
    if admin_gids.is_empty() {
        return false;
    }
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|groups| {
            groups
                .split_whitespace()
                .filter_map(|g| g.parse::<u32>().ok())
                .any(|g| admin_gids.contains(&g))
        })
        .unwrap_or(false)
}

/// Extract the principal of a tonic request served over a Unix socket.
///
/// A request without Unix peer credentials (which our servers never accept)
/// yields an error rather than a default identity: fail closed.
pub(crate) fn principal_of<T>(req: &tonic::Request<T>) -> Result<Principal, tonic::Status> {
    if let Some(p) = req.extensions().get::<Principal>() {
        return Ok(p.clone());
    }
    let info = req
        .extensions()
        .get::<tonic::transport::server::UdsConnectInfo>()
        .and_then(|i| i.peer_cred)
        .ok_or_else(|| tonic::Status::unauthenticated("no peer credentials on this connection"))?;
    Ok(Principal::from_creds(
        info.uid(),
        info.gid(),
        info.pid().and_then(|p| u32::try_from(p).ok()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32, admin: bool) -> Principal {
        Principal {
            uid,
            gid: uid,
            pid: None,
            admin,
            trusted_peer: false,
        }
    }

    #[test]
    fn non_admin_is_refused_admin_right_with_reason() {
        let err = user(1000, false).require(Right::Admin).unwrap_err();
        assert_eq!(err.kind, crate::ApiErrorKind::PermissionDenied);
        assert!(err.message.contains("uid 1000"), "{}", err.message);
        assert!(err.message.contains("admin group"), "{}", err.message);
    }

    #[test]
    fn owner_right_allows_owner_and_admin_only() {
        assert!(user(1000, false).require(Right::Owner(1000)).is_ok());
        assert!(user(1001, false).require(Right::Owner(1000)).is_err());
        assert!(user(1001, true).require(Right::Owner(1000)).is_ok());
    }

    #[test]
    fn daemon_right_requires_trusted_peer() {
        assert!(user(1000, true).require(Right::Daemon).is_err());
        let mut p = user(1000, false);
        p.trusted_peer = true;
        assert!(p.require(Right::Daemon).is_ok());
    }

    #[test]
    fn root_is_admin_and_trusted() {
        let p = Principal::from_creds(0, 0, None);
        assert!(p.admin && p.trusted_peer);
    }
}
