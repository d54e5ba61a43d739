//! One memoryd per state directory: an exclusive `flock` on `memoryd.lock` beside the
//! database, held for the life of the process.
//!
//! Two memoryd processes on one state directory would corrupt nothing (SQLite serialises
//! them) but the second would fail its writes with SQLite error 14 and its indexer would race
//! the first one's over the same tantivy directories. The kernel drops the lock when the
//! process ends, however it ends, so a `kill -9` leaves no stale lock behind.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// The lock file's name inside the state directory.
pub const LOCK_FILE: &str = "memoryd.lock";

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// Another process holds the lock.
    #[error(
        "another memoryd ({holder}) already serves the state directory {dir}: it holds the lock \
         {lock}; stop it first, or give this one another state directory (AIOS_STATE_DIR)"
    )]
    Held {
        /// The state directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// `pid N` as the holder wrote it, or `pid unknown`.
        holder: String,
    },
    /// The lock file could not be opened, read or written.
    #[error("cannot use the lock file {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct InstanceLock {
    _file: Flock<File>,
    path: PathBuf,
}

impl InstanceLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the exclusive lock on `state_dir/memoryd.lock` without waiting and writes this
/// process's pid into the file, so a second memoryd can name the holder.
pub fn lock(state_dir: &Path) -> Result<InstanceLock, InstanceError> {
    let path = state_dir.join(LOCK_FILE);
    let io = |source| InstanceError::Io {
        path: path.clone(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(f) => f,
        Err((mut file, Errno::EWOULDBLOCK)) => {
            let mut text = String::new();
            // Best effort: the holder may not have written its pid yet.
            let _ = file.read_to_string(&mut text);
            let holder = match text.trim().parse::<u32>() {
                Ok(pid) => format!("pid {pid}"),
                Err(_) => "pid unknown".to_owned(),
            };
            return Err(InstanceError::Held {
                dir: state_dir.to_path_buf(),
                lock: path,
                holder,
            });
        }
        Err((_, e)) => return Err(io(std::io::Error::from(e))),
    };
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(InstanceLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path()).unwrap();
        // flock locks belong to the open file description: a second open in the same
        // process conflicts just as another process would.
        let err = lock(dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())),
            "{msg}"
        );
        assert!(msg.contains(&first.path().display().to_string()), "{msg}");
        drop(first);
        lock(dir.path()).unwrap();
    }
}
