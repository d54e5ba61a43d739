//! Unix-socket transport: binding with safe permissions, serving a set of
//! services, and connecting clients.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tonic::transport::{Channel, Endpoint};

/// Largest message either side accepts (a 1 MiB prompt plus history fits).
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// Transport failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Could not create, bind or chmod the socket.
    #[error("cannot listen on {path}: {source}")]
    Bind {
        /// Socket path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Another live server already owns the socket.
    #[error("{path} is already served by a running daemon")]
    InUse {
        /// Socket path.
        path: PathBuf,
    },
    /// Could not reach the daemon.
    #[error("cannot connect to {path}: {message}")]
    Connect {
        /// Socket path.
        path: PathBuf,
        /// Cause.
        message: String,
    },
    /// The server failed while serving.
    #[error("server error: {0}")]
    Serve(String),
}

/// Bind a Unix socket at `path` with mode 0660.
///
/// The parent directory is created 0770 if missing. A stale socket file
/// (nobody accepting) is replaced; a live one is an error, so two daemons
/// never fight over one socket.
///
/// Nothing here changes a path after creating it: the socket gets its mode
/// from the umask it is created under (a chmod by name afterwards would
/// follow a link swapped in by someone who can write the directory), and a
/// missing directory is created with its mode.
pub async fn bind(path: &Path) -> Result<UnixListener, TransportError> {
    use std::os::unix::fs::DirBuilderExt;
    let bind_err = |source| TransportError::Bind {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent()
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o770)
            .create(dir)
            .map_err(bind_err)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) => {
            use std::os::unix::fs::FileTypeExt;
            if !meta.file_type().is_socket() {
                return Err(bind_err(std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "something other than a socket is in the way; remove it if it is stale",
                )));
            }
            if UnixStream::connect(path).await.is_ok() {
                return Err(TransportError::InUse {
                    path: path.to_path_buf(),
                });
            }
            std::fs::remove_file(path).map_err(bind_err)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(bind_err(e)),
    }
    // The umask gives the socket exactly 0660 at creation, so it is never
    // briefly more open and never needs a chmod by name.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o117));
    let listener = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    listener.map_err(bind_err)
}

/// Connect a gRPC channel to the Unix socket at `path`, failing fast when
/// nobody listens.
pub async fn connect(path: &Path) -> Result<Channel, TransportError> {
    let owned = path.to_path_buf();
    // The URI is ignored: the connector always dials the socket.
    let endpoint = Endpoint::from_static("http://aios.local")
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        // Detect a peer that froze (SIGSTOP, deadlock) rather than died.
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    endpoint
        .connect_with_connector(tower::service_fn(move |_| {
            let p = owned.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(dial(&p).await?)) }
        }))
        .await
        .map_err(|e| TransportError::Connect {
            path: path.to_path_buf(),
            message: error_chain(&e),
        })
}

/// A channel to the Unix socket at `path` that connects on first use and
/// reconnects after the daemon restarts; calls to an absent daemon fail
/// fast with `Unavailable`.
pub fn connect_lazy(path: &Path) -> Channel {
    let owned = path.to_path_buf();
    Endpoint::from_static("http://aios.local")
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_timeout(Duration::from_secs(10))
        .keep_alive_while_idle(true)
        .connect_with_connector_lazy(tower::service_fn(move |_| {
            let p = owned.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(dial(&p).await?)) }
        }))
}

/// Connect to a daemon's socket and check who serves it: root, this
/// process's own uid, or an aiOS daemon user. Anyone else who managed to
/// put a socket at a daemon's path is refused before a byte is sent.
async fn dial(path: &Path) -> std::io::Result<UnixStream> {
    let stream = UnixStream::connect(path).await?;
    let server = stream.peer_cred()?.uid();
    if trusted_server(server) {
        return Ok(stream);
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!(
            "refusing {}: it is served by uid {server}, which is neither root, this user, nor an aiOS daemon user ({})",
            path.display(),
            crate::principal::DAEMON_USERS.join(", ")
        ),
    ))
}

/// Whether a server running as `uid` may be trusted as an aiOS daemon.
pub(crate) fn trusted_server(uid: u32) -> bool {
    uid == 0
        || uid == nix::unistd::geteuid().as_raw()
        || crate::principal::daemon_uids().contains(&uid)
}

/// Render an error with its sources, for messages a user reads.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn socket_is_0660_and_live_socket_is_not_stolen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.sock");
        let _l = bind(&path).await.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        assert!(matches!(
            bind(&path).await,
            Err(TransportError::InUse { .. })
        ));
    }

    #[tokio::test]
    async fn a_link_or_file_at_the_socket_path_is_never_replaced_or_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("x.sock");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = bind(&link).await.unwrap_err();
        assert!(err.to_string().contains("other than a socket"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the link's target was chmodded");
        let file = dir.path().join("y.sock");
        std::fs::write(&file, "data").unwrap();
        assert!(bind(&file).await.is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "data");
    }

    #[tokio::test]
    async fn stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sock");
        drop(bind(&path).await.unwrap());
        assert!(path.exists());
        bind(&path).await.unwrap();
    }

    #[tokio::test]
    async fn connect_to_missing_socket_fails_fast() {
        let dir = tempfile::tempdir().unwrap();
        let err = connect(&dir.path().join("none.sock")).await.unwrap_err();
        assert!(err.to_string().contains("none.sock"), "{err}");
    }
}
