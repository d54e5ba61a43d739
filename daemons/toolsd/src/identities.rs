//! Who a call acts for, looked up in the user database at most once per
//! uid every [`Identities::TTL`]: a lookup reads `/etc/passwd` and scans
//! `/etc/group` (about 20 µs, blocking, on an async worker), which would
//! otherwise cost every call. A change of a user's groups reaches toolsd's
//! calls within the TTL, as it reaches a user's processes at their next
//! login.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aios_catalog::{Access, Identity};
use aios_proto::{ADMIN_GROUPS, Caller, SessionKind};

/// Most users remembered; past it, expired entries go, then all.
const MAX_ENTRIES: usize = 1024;

/// The [`Access`] of each uid calls act for, refreshed every `ttl`.
#[derive(Debug)]
pub(crate) struct Identities {
    ttl: Duration,
    cache: Mutex<HashMap<u32, (Instant, Access, Caller)>>,
    lookups: AtomicU64,
}

impl Identities {
    /// How long a looked-up user is trusted unchanged.
    pub const TTL: Duration = Duration::from_secs(10);

    pub fn new(ttl: Duration) -> Identities {
        Identities {
            ttl,
            cache: Mutex::new(HashMap::new()),
            lookups: AtomicU64::new(0),
        }
    }

    /// The access of a call acting for `uid` (its kernel credentials when
    /// it is not toolsd's own uid).
    #[cfg(test)]
    pub fn access(&self, uid: u32) -> Access {
        self.lookup(uid).0
    }

    /// The access of a call acting for `uid`, and that user as policy sees
    /// them (name, group names, admin, home).
    pub fn lookup(&self, uid: u32) -> (Access, Caller) {
        let now = Instant::now();
        if let Some((at, access, caller)) = self.lock().get(&uid)
            && now.duration_since(*at) < self.ttl
        {
            return (access.clone(), caller.clone());
        }
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let identity = Identity::lookup(uid);
        let caller = caller_of(&identity);
        let access = Access::as_user(identity);
        let mut cache = self.lock();
        if cache.len() >= MAX_ENTRIES {
            cache.retain(|_, (at, _, _)| now.duration_since(*at) < self.ttl);
            if cache.len() >= MAX_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(uid, (now, access.clone(), caller.clone()));
        (access, caller)
    }

    /// User database lookups made so far.
    #[cfg(test)]
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, (Instant, Access, Caller)>> {
        // The map holds plain data and every update is a single insert or
        // retain, so a panic elsewhere cannot leave it half-changed.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A user as policy sees them. An unknown uid has no groups and is no
/// administrator (fail closed); root always is one.
pub(crate) fn caller_of(id: &Identity) -> Caller {
    let mut gids = vec![id.gid];
    gids.extend(id.groups.iter().copied().filter(|g| *g != id.gid));
    let groups: Vec<String> = gids
        .into_iter()
        .filter_map(|g| {
            nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(g))
                .ok()
                .flatten()
                .map(|g| g.name)
        })
        .collect();
    let admin = id.uid == 0 || groups.iter().any(|g| ADMIN_GROUPS.contains(&g.as_str()));
    Caller {
        uid: id.uid,
        user: id.name.clone().unwrap_or_default(),
        groups,
        admin,
        home: id
            .home
            .as_ref()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        session_kind: SessionKind::Interactive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lookup_per_uid_within_the_ttl() {
        let ids = Identities::new(Duration::from_secs(3600));
        let a = ids.access(65534);
        let b = ids.access(65534);
        assert_eq!(a.identity(), b.identity());
        assert_eq!(ids.lookups(), 1);
        ids.access(0);
        assert_eq!(ids.lookups(), 2);
    }

    #[test]
    fn root_is_an_administrator_and_nobody_is_not() {
        let ids = Identities::new(Duration::from_secs(3600));
        let (_, root) = ids.lookup(0);
        assert!(root.admin);
        assert_eq!(root.user, "root");
        assert!(root.groups.contains(&"root".to_string()), "{root:?}");
        let (_, nobody) = ids.lookup(65534);
        assert!(!nobody.admin, "{nobody:?}");
        let (_, ghost) = ids.lookup(4_000_000_000);
        assert!(!ghost.admin && ghost.groups.is_empty() && ghost.user.is_empty());
    }

    #[test]
    fn expired_entries_are_looked_up_again() {
        let ids = Identities::new(Duration::ZERO);
        ids.access(65534);
        ids.access(65534);
        assert_eq!(ids.lookups(), 2);
    }
}
