//! Who is calling, as the kernel vouches for it: a [`Principal`] built
//! once per connection, when it is accepted, from `SO_PEERCRED` and
//! `SO_PEERGROUPS`.
//!
//! Nothing is read later by process id: a pid can be reused, so rights
//! taken from `/proc/<pid>` at request time could be borrowed from an
//! unrelated process. The groups the peer held when it connected are the
//! ones that count.

use std::os::fd::{AsFd, AsRawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;

use crate::domain::{ADMIN_GROUPS, Principal, SERVICE_USER};

/// `SO_PEERGROUPS` from `asm-generic/socket.h` (the same on x86_64 and
/// arm64); the `libc` crate does not export it for glibc targets.
const SO_PEERGROUPS: libc::c_int = 59;

/// Users whose daemons are trusted peers besides root and the server's own
/// uid: the service user, and the gateway's own user on the image.
pub(crate) const DAEMON_USERS: &[&str] = &[SERVICE_USER, crate::domain::GATEWAY_USER];

/// Build a principal from raw credentials and the peer's supplementary
/// groups (both as the kernel reported them at connect time).
pub fn principal_from_creds(uid: u32, gid: u32, pid: Option<u32>, groups: &[u32]) -> Principal {
    let server_uid = nix::unistd::geteuid().as_raw();
    let admin = uid == 0 || in_admin_group(gid, groups);
    Principal {
        uid,
        gid,
        pid,
        admin,
        trusted_peer: uid == 0 || uid == server_uid || daemon_uids().contains(&uid),
    }
}

/// The principal of this very process (for in-process calls and tests).
pub fn current_principal() -> Principal {
    let groups: Vec<u32> = nix::unistd::getgroups()
        .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_default();
    principal_from_creds(
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
        Some(std::process::id()),
        &groups,
    )
}

/// Uids of [`DAEMON_USERS`] that exist on this system.
pub(crate) fn daemon_uids() -> &'static [u32] {
    static UIDS: std::sync::OnceLock<Vec<u32>> = std::sync::OnceLock::new();
    UIDS.get_or_init(|| {
        DAEMON_USERS
            .iter()
            .filter_map(|name| nix::unistd::User::from_name(name).ok().flatten())
            .map(|u| u.uid.as_raw())
            .collect()
    })
}

/// Whether the primary group or any supplementary group is an admin group.
/// Resolved per connection, so a group change applies to new connections.
fn in_admin_group(gid: u32, groups: &[u32]) -> bool {
    ADMIN_GROUPS
        .iter()
        .filter_map(|name| nix::unistd::Group::from_name(name).ok().flatten())
        .map(|g| g.gid.as_raw())
        .any(|admin| admin == gid || groups.contains(&admin))
}

/// The supplementary groups of the peer of `sock`, as the kernel recorded
/// them when the peer connected.
pub(crate) fn peer_groups(sock: &impl AsFd) -> std::io::Result<Vec<u32>> {
    let fd = sock.as_fd().as_raw_fd();
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut len = libc::socklen_t::try_from(groups.len() * std::mem::size_of::<libc::gid_t>())
            .map_err(|_| std::io::Error::other("too many peer groups"))?;
        // SAFETY: `groups` is a valid, writable buffer of `len` bytes, and
        // the kernel writes at most `len` bytes and updates `len`.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let n = usize::try_from(len).unwrap_or(0) / std::mem::size_of::<libc::gid_t>();
        if rc == 0 {
            groups.truncate(n);
            return Ok(groups);
        }
        let err = std::io::Error::last_os_error();
        // ERANGE: the buffer was too small and `len` says what is needed.
        if err.raw_os_error() == Some(libc::ERANGE) && n > groups.len() && n <= 65_536 {
            groups.resize(n, 0);
            continue;
        }
        return Err(err);
    }
}

/// An accepted connection and the principal of its peer, fixed at accept
/// time; tonic hands the principal to every request on the connection.
pub(crate) struct PeerStream {
    inner: UnixStream,
    principal: PeerPrincipal,
}

/// The connect-info tonic puts into each request's extensions: the peer's
/// principal, or why it could not be determined (then every call fails
/// closed).
#[derive(Clone, Debug)]
pub(crate) struct PeerPrincipal(pub(crate) Result<Principal, String>);

impl PeerStream {
    pub(crate) fn new(inner: UnixStream) -> PeerStream {
        let principal = PeerPrincipal(peer_principal(&inner));
        PeerStream { inner, principal }
    }
}

fn peer_principal(s: &UnixStream) -> Result<Principal, String> {
    let cred = s
        .peer_cred()
        .map_err(|e| format!("cannot read peer credentials: {e}"))?;
    let groups = peer_groups(s).map_err(|e| format!("cannot read peer groups: {e}"))?;
    Ok(principal_from_creds(
        cred.uid(),
        cred.gid(),
        cred.pid().and_then(|p| u32::try_from(p).ok()),
        &groups,
    ))
}

impl tonic::transport::server::Connected for PeerStream {
    type ConnectInfo = PeerPrincipal;

    fn connect_info(&self) -> PeerPrincipal {
        self.principal.clone()
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Extract the principal of a tonic request served over a Unix socket.
///
/// A request without peer credentials (which our servers never accept)
/// yields an error rather than a default identity: fail closed.
pub(crate) fn principal_of<T>(req: &tonic::Request<T>) -> Result<Principal, tonic::Status> {
    if let Some(p) = req.extensions().get::<Principal>() {
        return Ok(p.clone());
    }
    match req.extensions().get::<PeerPrincipal>() {
        Some(PeerPrincipal(Ok(p))) => Ok(p.clone()),
        Some(PeerPrincipal(Err(why))) => Err(tonic::Status::unauthenticated(why.clone())),
        None => Err(tonic::Status::unauthenticated(
            "no peer credentials on this connection",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_admin_and_trusted() {
        let p = principal_from_creds(0, 0, None, &[]);
        assert!(p.admin && p.trusted_peer);
    }

    #[tokio::test]
    async fn peer_groups_are_read_from_the_socket() {
        let (a, _b) = UnixStream::pair().unwrap();
        let mine: Vec<u32> = nix::unistd::getgroups()
            .unwrap()
            .into_iter()
            .map(|g| g.as_raw())
            .collect();
        let mut got = peer_groups(&a).unwrap();
        let mut want = mine;
        got.sort_unstable();
        want.sort_unstable();
        want.dedup();
        got.dedup();
        assert_eq!(got, want);
    }
}
