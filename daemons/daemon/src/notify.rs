//! `sd_notify`-compatible readiness notification.

use std::os::unix::net::UnixDatagram;

/// Why a notification could not be sent.
#[derive(Debug)]
pub struct NotifyError(std::io::Error);

impl std::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write to $NOTIFY_SOCKET: {}", self.0)
    }
}

impl std::error::Error for NotifyError {}

/// Send `state` (e.g. `READY=1`) to `$NOTIFY_SOCKET`; a no-op when unset.
/// Abstract socket names (leading `@`) are supported, as systemd uses them.
pub fn notify(state: &str) -> Result<(), NotifyError> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let sock = UnixDatagram::unbound().map_err(NotifyError)?;
    let bytes = path.as_encoded_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).map_err(NotifyError)?;
        sock.send_to_addr(state.as_bytes(), &addr)
            .map_err(NotifyError)?;
    } else {
        sock.send_to(state.as_bytes(), &path).map_err(NotifyError)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_ready_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        // Only this test touches NOTIFY_SOCKET in this crate's test binary.
        unsafe { std::env::set_var("NOTIFY_SOCKET", &path) };
        notify("READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
