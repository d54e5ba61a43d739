//! The shell's one health probe of a daemon socket, used to find or start
//! the daemon set ([`crate::launch`]), to report on it ([`crate::doctor`])
//! and to wait for it ([`crate::wait`]).

use std::path::Path;

use aios_proto::{HealthClient, PingReply};

/// Ping the daemon on `socket`. When nobody answers, the error says why in
/// a few words, e.g. `/run/aios/aiosd.sock: connection refused`.
pub async fn ping(socket: &Path) -> Result<PingReply, String> {
    let channel = match aios_proto::connect(socket).await {
        Ok(channel) => channel,
        // The transport's message is long; a plain connect says clearly
        // whether the socket is missing, refused or forbidden. Only done
        // on failure, so a healthy daemon sees one connection per probe.
        Err(e) => {
            return Err(match tokio::net::UnixStream::connect(socket).await {
                Err(io) => describe_connect_error(socket, &io),
                Ok(_) => format!("{}: {e}", socket.display()),
            });
        }
    };
    HealthClient::new(channel)
        .ping()
        .await
        .map_err(|e| format!("{}: not answering: {}", socket.display(), e.message))
}

/// A short description of a failed socket connect.
pub fn describe_connect_error(socket: &Path, e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    let what = match e.kind() {
        ErrorKind::NotFound => "no such socket".to_string(),
        ErrorKind::ConnectionRefused => "connection refused".to_string(),
        ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    format!("{}: {what}", socket.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_then_a_dead_socket_is_described_in_a_few_words() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("aiosd.sock");
        let err = ping(&sock).await.unwrap_err();
        assert!(err.ends_with("aiosd.sock: no such socket"), "{err}");

        // A socket file nobody listens on: what a killed daemon leaves.
        drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
        let err = ping(&sock).await.unwrap_err();
        assert!(err.ends_with("aiosd.sock: connection refused"), "{err}");
    }
}
