//! Who a call acts for: a pure function of the kernel-verified caller and
//! the uid it claims to act for. Whether the call may run is policy's and
//! the human's decision ([`crate::policy`], [`crate::approvals`]); this
//! step only makes sure nobody but a daemon speaks for someone else.

use aios_proto::Principal;

/// The uid a call from `who` acts for, given the uid it claims
/// (`on_behalf_of_uid`, 0 meaning "the caller itself"), or why the caller
/// may not ask this at all.
///
/// `on_behalf_of_uid` is trusted only from a daemon peer (the service
/// account, toolsd's own uid, or root); anyone else runs as their own uid,
/// and claiming a different one is refused.
pub fn run_as(who: &Principal, on_behalf_of_uid: u32) -> Result<u32, String> {
    if on_behalf_of_uid == 0 || on_behalf_of_uid == who.uid {
        Ok(who.uid)
    } else if who.trusted_peer {
        Ok(on_behalf_of_uid)
    } else {
        Err(format!(
            "uid {} may not run tools on behalf of uid {on_behalf_of_uid}: only an aiOS daemon (the service uid) or root may",
            who.uid
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(uid: u32, admin: bool, trusted_peer: bool) -> Principal {
        Principal {
            admin,
            trusted_peer,
            ..Principal::ordinary(uid)
        }
    }

    #[test]
    fn users_act_for_themselves() {
        let p = principal(1000, false, false);
        assert_eq!(run_as(&p, 0), Ok(1000));
        assert_eq!(run_as(&p, 1000), Ok(1000));
    }

    #[test]
    fn non_daemon_claiming_another_uid_is_refused_even_an_admin() {
        let p = principal(1000, true, false);
        let msg = run_as(&p, 1001).unwrap_err();
        assert!(msg.contains("uid 1000") && msg.contains("1001"), "{msg}");
    }

    #[test]
    fn daemon_claim_is_trusted() {
        let aiosd = principal(998, false, true);
        assert_eq!(run_as(&aiosd, 1000), Ok(1000));
        assert_eq!(run_as(&aiosd, 0), Ok(998));
    }
}
