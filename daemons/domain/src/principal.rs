//! Who is calling: the typed principal every server derives from the
//! connecting socket's peer credentials, and the rights checked on it.
//!
//! The transport (`aios-proto`) fills a [`Principal`] in from
//! `SO_PEERCRED` and `SO_PEERGROUPS`, taken once when the connection is
//! accepted; nothing here trusts a field a caller wrote.

/// Groups whose members count as administrators (DESIGN.md §2).
pub const ADMIN_GROUPS: &[&str] = &["sudo", "wheel", "aios-admin"];

/// The account the unprivileged daemons run as on the aiOS image.
pub const SERVICE_USER: &str = "aios";

/// The account `gatewayd` runs as on the aiOS image: the only reader of
/// API keys, kept apart from the other daemons.
pub const GATEWAY_USER: &str = "aios-gateway";

/// The caller of an RPC, as the kernel vouches for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Effective uid of the peer.
    pub uid: u32,
    /// Effective gid of the peer.
    pub gid: u32,
    /// Peer process id at connect time, when known. Informational only:
    /// a pid can be reused, so no right is ever derived from it.
    pub pid: Option<u32>,
    /// Member of an admin group (or root), from the groups the peer had
    /// when it connected.
    pub admin: bool,
    /// Another aiOS daemon: root, the server's own uid, or the service
    /// user.
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

/// A right was missing; the message says which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("uid {uid} is not allowed to do this: it requires {need}")]
pub struct Denied {
    /// The caller.
    pub uid: u32,
    /// What would have allowed it, in words.
    pub need: &'static str,
}

impl Principal {
    /// An ordinary user (primary group = uid): no admin group, not a daemon.
    /// In-process callers and tests build principals from it; servers get
    /// theirs from the kernel.
    pub fn ordinary(uid: u32) -> Principal {
        Principal {
            uid,
            gid: uid,
            pid: None,
            admin: false,
            trusted_peer: false,
        }
    }

    /// Check a right, with an error that says what was missing.
    pub fn require(&self, right: Right) -> Result<(), Denied> {
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
        Err(Denied {
            uid: self.uid,
            need,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32, admin: bool) -> Principal {
        Principal {
            admin,
            ..Principal::ordinary(uid)
        }
    }

    #[test]
    fn non_admin_is_refused_admin_right_with_reason() {
        let err = user(1000, false).require(Right::Admin).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("uid 1000"), "{msg}");
        assert!(msg.contains("admin group"), "{msg}");
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
}
