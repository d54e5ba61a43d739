//! The snapshot store behind `fs.restore`: what a file was before a tool
//! changed it, kept in toolsd's own state directory.
//!
//! Layout under `STATE_DIR/snapshots/` (directories 0700, files 0600):
//! - `objects/<sha256>`: file contents, content-addressed, so snapshotting
//!   the same content twice stores it once;
//! - `<id>.json`: one manifest per snapshot (path, whether the file
//!   existed, its content hash, mode, owner, who took it, when), where
//!   `<id>` is the sha256 of the manifest's bytes.
//!
//! The store is written with toolsd's own credentials (a plain
//! `spawn_blocking`, never inside [`crate::ToolCtx::blocking`]), because the
//! state directory is toolsd's and the caller must not be able to read
//! other users' snapshots. For the same reason a snapshot records who took
//! it, and `fs.restore` serves it only to that user or to root. Loading
//! checks the content against its hash, so a damaged object is reported,
//! never restored.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ToolError;

/// Largest file content a snapshot keeps; bigger files change without one.
pub(crate) const MAX_SNAPSHOT: u64 = 64 * 1024 * 1024;

/// What a snapshot records about one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// The path, absolute and normalised.
    pub path: String,
    /// Whether a regular file was there. `false`: restoring deletes it.
    pub existed: bool,
    /// sha256 of the content, when it existed.
    pub content: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// The uid of the caller whose call took it.
    pub taken_by: u32,
    /// Unix seconds.
    pub taken_at: i64,
}

/// A file's state before a change, ready to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Before {
    /// The path.
    pub path: String,
    /// Content, mode and owner when a regular file was there.
    pub file: Option<FileBefore>,
}

/// A regular file's previous content and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileBefore {
    /// The content.
    pub content: Vec<u8>,
    /// Permission bits.
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

/// The content-addressed store in one state directory.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    root: PathBuf,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Check that `id` is a snapshot id (64 lower-case hex digits), so it can
/// never name a file outside the store.
pub(crate) fn check_id(id: &str) -> Result<(), ToolError> {
    if id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(ToolError::invalid(format!(
            "field `snapshot`: {:?} is not a snapshot id (64 lower-case hex digits, as an undo record gives it)",
            crate::util::truncate(id, 80)
        )))
    }
}

fn store_err(what: &str, path: &Path, e: &std::io::Error) -> ToolError {
    ToolError::failed(format!(
        "snapshot store: cannot {what} {}: {e}",
        path.display()
    ))
}

impl Store {
    /// The store under `state_dir`, creating its directories (0700).
    pub fn open(state_dir: &Path) -> Result<Store, ToolError> {
        let root = state_dir.join("snapshots");
        let objects = root.join("objects");
        for d in [&root, &objects] {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(d)
                .map_err(|e| store_err("create", d, &e))?;
            let m = std::fs::symlink_metadata(d).map_err(|e| store_err("inspect", d, &e))?;
            if !m.is_dir() {
                return Err(ToolError::failed(format!(
                    "snapshot store: {} is not a directory; move it away",
                    d.display()
                )));
            }
            // An existing directory keeps whatever mode it had: tighten it.
            if m.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| store_err("restrict", d, &e))?;
            }
        }
        Ok(Store { root })
    }

    /// Store `before`, taken by uid `taken_by`; returns the snapshot id.
    pub fn save(&self, before: &Before, taken_by: u32) -> Result<String, ToolError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let manifest = match &before.file {
            Some(f) => {
                let hash = sha256_hex(&f.content);
                let obj = self.root.join("objects").join(&hash);
                if !obj.exists() {
                    write_new(&obj, &f.content)?;
                }
                Manifest {
                    path: before.path.clone(),
                    existed: true,
                    content: Some(hash),
                    size: f.content.len() as u64,
                    mode: f.mode & 0o7777,
                    uid: f.uid,
                    gid: f.gid,
                    taken_by,
                    taken_at: now,
                }
            }
            None => Manifest {
                path: before.path.clone(),
                existed: false,
                content: None,
                size: 0,
                mode: 0,
                uid: 0,
                gid: 0,
                taken_by,
                taken_at: now,
            },
        };
        let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| {
            ToolError::failed(format!("snapshot store: cannot encode manifest: {e}"))
        })?;
        let id = sha256_hex(&bytes);
        let path = self.root.join(format!("{id}.json"));
        if !path.exists() {
            write_new(&path, &bytes)?;
        }
        Ok(id)
    }

    /// Load snapshot `id`: its manifest and, when the file existed, its
    /// content (checked against its hash).
    pub fn load(&self, id: &str) -> Result<(Manifest, Option<Vec<u8>>), ToolError> {
        check_id(id)?;
        let path = self.root.join(format!("{id}.json"));
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ToolError::not_found(format!(
                "no snapshot {id}: it was never taken on this host, or the store was cleared"
            )),
            _ => store_err("read", &path, &e),
        })?;
        if sha256_hex(&bytes) != id {
            return Err(ToolError::failed(format!(
                "snapshot {id} is damaged (its manifest does not match its id); it cannot be restored"
            )));
        }
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
            ToolError::failed(format!("snapshot {id}: manifest {}: {e}", path.display()))
        })?;
        let content = match &m.content {
            None => None,
            Some(hash) => {
                check_id(hash)?;
                let obj = self.root.join("objects").join(hash);
                let c = std::fs::read(&obj).map_err(|e| store_err("read", &obj, &e))?;
                if sha256_hex(&c) != *hash {
                    return Err(ToolError::failed(format!(
                        "snapshot {id} is damaged (content {} does not match its hash); it cannot be restored",
                        obj.display()
                    )));
                }
                Some(c)
            }
        };
        Ok((m, content))
    }
}

/// Write `bytes` to a new file `path` (0600) through a temporary name, so
/// a crash never leaves a partial object under its final name.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), ToolError> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(|e| store_err("create", &tmp, &e))?;
    let done = f
        .write_all(bytes)
        .and_then(|()| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = done {
        let _ = std::fs::remove_file(&tmp);
        return Err(store_err("write", path, &e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn file(content: &[u8], mode: u32) -> Before {
        Before {
            path: "/srv/x.conf".into(),
            file: Some(FileBefore {
                content: content.to_vec(),
                mode,
                uid: 1000,
                gid: 1000,
            }),
        }
    }

    #[test]
    fn round_trip_keeps_content_mode_and_owner() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = store.save(&file(b"old\n", 0o640), 1000).unwrap();
        check_id(&id).unwrap();
        let (m, content) = store.load(&id).unwrap();
        assert_eq!(content.as_deref(), Some(&b"old\n"[..]));
        assert_eq!(
            (m.mode, m.uid, m.gid, m.taken_by),
            (0o640, 1000, 1000, 1000)
        );
        assert!(m.existed);
        assert_eq!(m.path, "/srv/x.conf");
    }

    #[test]
    fn missing_file_snapshot_has_no_content() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = store
            .save(
                &Before {
                    path: "/tmp/new".into(),
                    file: None,
                },
                0,
            )
            .unwrap();
        let (m, content) = store.load(&id).unwrap();
        assert!(!m.existed);
        assert!(content.is_none());
    }

    #[test]
    fn store_is_private_and_content_addressed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.save(&file(b"same", 0o600), 1).unwrap();
        store.save(&file(b"same", 0o644), 2).unwrap();
        let root = dir.path().join("snapshots");
        assert_eq!(std::fs::metadata(&root).unwrap().mode() & 0o777, 0o700);
        let objects: Vec<_> = std::fs::read_dir(root.join("objects"))
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        assert_eq!(objects.len(), 1, "one content stored once");
        let name = objects[0].file_name().into_string().unwrap();
        assert_eq!(name, sha256_hex(b"same"));
        assert_eq!(objects[0].metadata().unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn damaged_content_and_bad_ids_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let id = store.save(&file(b"good", 0o600), 1).unwrap();
        let obj = dir
            .path()
            .join("snapshots/objects")
            .join(sha256_hex(b"good"));
        std::fs::write(&obj, b"evil").unwrap();
        let e = store.load(&id).unwrap_err();
        assert!(e.message().contains("damaged"), "{e}");
        for bad in ["../../etc/passwd", "ABC", &"g".repeat(64)] {
            let e = store.load(bad).unwrap_err();
            assert!(e.message().contains("not a snapshot id"), "{e}");
        }
        let e = store.load(&"0".repeat(64)).unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::NotFound, "{e}");
    }
}
