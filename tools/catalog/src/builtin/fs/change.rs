//! What the changing file tools share: capturing a file's state before a
//! change, storing it as a snapshot (with toolsd's credentials), writing a
//! file atomically through its directory descriptor, and the result shape
//! with its undo handle.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};

use aios_domain::UndoRecord;
use nix::errno::Errno;
use nix::fcntl::{OFlag, RenameFlags, openat, renameat};
use nix::sys::stat::{FileStat, Mode, fchmod, fstat};
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fsync, ftruncate, unlinkat};
use serde::Serialize;
use serde_json::json;

use super::at::{Kind, Target, temp_name};
use super::snapshot::{Before, FileBefore, MAX_SNAPSHOT, Store};
use crate::{Access, ToolCtx, ToolError};

/// Mode of a file a tool creates, unless the call says otherwise.
pub(crate) const NEW_FILE_MODE: u32 = 0o644;

/// The result of a file change: summary first, then the undo handle.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeResult {
    /// One line: what happened.
    pub summary: String,
    /// The path changed.
    pub path: String,
    /// Bytes the file has now (0 after a delete).
    pub bytes: u64,
    /// Bytes it had before, when it existed.
    pub previous_bytes: Option<u64>,
    /// The call that reverses this one, or null (see `undo_note`).
    pub undo: Option<UndoRecord>,
    /// Why there is no undo, or what it does not cover.
    pub undo_note: Option<String>,
    /// Snapshot id of the previous state, when one was taken.
    pub snapshot: Option<String>,
    /// Set when the file had to be rewritten in place instead of replaced
    /// atomically (its owner could not be kept otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A file's state before a change, as the caller sees it.
#[derive(Debug, Clone)]
pub(crate) enum Prior {
    /// Nothing was there.
    Missing,
    /// A regular file, with its content when it fits a snapshot.
    File {
        st: FileStat,
        content: Option<Vec<u8>>,
    },
}

impl Prior {
    /// Size in bytes, when a file was there.
    pub fn size(&self) -> Option<u64> {
        match self {
            Prior::Missing => None,
            Prior::File { st, .. } => Some(u64::try_from(st.st_size).unwrap_or(0)),
        }
    }

    /// The stat, when a file was there.
    pub fn stat(&self) -> Option<&FileStat> {
        match self {
            Prior::Missing => None,
            Prior::File { st, .. } => Some(st),
        }
    }
}

/// Read what is at `t` before changing it. Only a missing path or a
/// regular file is accepted; content is read when at most `MAX_SNAPSHOT`.
/// Runs inside `ctx.blocking` (the caller's credentials).
pub(crate) fn capture(t: &Target, access: &Access, tool: &str) -> Result<Prior, ToolError> {
    let (kind, st) = t.kind(access)?;
    match (kind, st) {
        (Kind::Missing, _) => Ok(Prior::Missing),
        (Kind::File, Some(st)) => {
            let size = u64::try_from(st.st_size).unwrap_or(0);
            if size > MAX_SNAPSHOT {
                return Ok(Prior::File { st, content: None });
            }
            let (content, st) = t.read_all(access, tool, MAX_SNAPSHOT)?;
            Ok(Prior::File {
                st,
                content: Some(content),
            })
        }
        (k, _) => Err(t.refuse(tool, k)),
    }
}

/// The snapshot of one change: its id, or why there is none.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snap {
    pub id: Option<String>,
    pub note: Option<String>,
}

/// Store `prior` of `path` as a snapshot, with toolsd's own credentials.
/// No state directory or a file too big: no snapshot, and a note saying
/// why. A store that fails is an error: the change must not run without
/// the undo it promised.
pub(crate) async fn save(ctx: &ToolCtx, path: &str, prior: &Prior) -> Result<Snap, ToolError> {
    let Some(dir) = ctx.state_dir().map(std::path::Path::to_path_buf) else {
        return Ok(Snap {
            id: None,
            note: Some("no undo: toolsd has no state directory to keep snapshots in".into()),
        });
    };
    let file = match prior {
        Prior::Missing => None,
        Prior::File { content: None, st } => {
            return Ok(Snap {
                id: None,
                note: Some(format!(
                    "no undo: the previous file was {}, over the snapshot limit of {}",
                    crate::util::human_bytes(u64::try_from(st.st_size).unwrap_or(0)),
                    crate::util::human_bytes(MAX_SNAPSHOT)
                )),
            });
        }
        Prior::File {
            content: Some(c),
            st,
        } => Some(FileBefore {
            content: c.clone(),
            mode: st.st_mode & 0o7777,
            uid: st.st_uid,
            gid: st.st_gid,
        }),
    };
    let before = Before {
        path: path.to_string(),
        file,
    };
    let taken_by = ctx.access().identity().uid;
    let id = tokio::task::spawn_blocking(move || Store::open(&dir)?.save(&before, taken_by))
        .await
        .map_err(|e| ToolError::failed(format!("snapshot store: {e}")))?
        .map_err(|e| {
            ToolError::failed(format!(
                "{}; nothing was changed (the change would have had no undo)",
                e.message()
            ))
        })?;
    Ok(Snap {
        id: Some(id),
        note: None,
    })
}

/// The undo record restoring `path` to snapshot `id`.
pub(crate) fn restore_undo(path: &str, id: &str, what: &str) -> UndoRecord {
    UndoRecord {
        tool: "fs.restore".into(),
        args: json!({"path": path, "snapshot": id}),
        summary: format!("restore {path} to {what}"),
    }
}

/// How a write replaced the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// Temporary file, fsync, rename over the old name.
    Atomic,
    /// The old file truncated and rewritten (its owner could not be kept
    /// by a replacement).
    InPlace,
}

/// Replace (or create) the file `t` with `content`, atomically: a
/// temporary file in the same directory, the previous file's owner and
/// mode (or `new_mode` for a new file, or always when `force_mode`), fsync, `renameat`, fsync of the
/// directory. When the caller may not give the temporary file the old
/// owner, the old file is rewritten in place instead, so ownership never
/// changes silently. Runs inside `ctx.blocking`.
pub(crate) fn write_file(
    t: &Target,
    access: &Access,
    prior: Option<&FileStat>,
    content: &mut dyn Read,
    new_mode: u32,
    force_mode: bool,
) -> Result<Written, ToolError> {
    let dir = t.dir.as_fd();
    let tmp = temp_name(&t.name);
    let fd = openat(
        dir,
        tmp.as_os_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| t.err(access, "write into the directory of", e))?;
    let cleanup = |e: ToolError| {
        let _ = unlinkat(dir, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
        e
    };
    let mut f = std::fs::File::from(fd);
    // Owner first: the kernel refuses it before any content is written,
    // and writing after it keeps no set-id bit it would clear.
    let mode = match prior {
        Some(st) => {
            let me = fstat(&f).map_err(|e| cleanup(t.err(access, "write", e)))?;
            if (me.st_uid, me.st_gid) != (st.st_uid, st.st_gid) {
                match fchown(
                    &f,
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                ) {
                    Ok(()) => {}
                    Err(Errno::EPERM) => {
                        drop(f);
                        let _ = unlinkat(dir, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
                        return write_in_place(
                            t,
                            access,
                            st,
                            content,
                            force_mode.then_some(new_mode),
                        );
                    }
                    Err(e) => return Err(cleanup(t.err(access, "keep the owner of", e))),
                }
            }
            if force_mode {
                new_mode
            } else {
                st.st_mode & 0o7777
            }
        }
        None => new_mode,
    };
    std::io::copy(content, &mut f).map_err(|e| cleanup(access.io_error(&t.path, "write", &e)))?;
    // After fchown and the writes, which clear set-id bits.
    fchmod(&f, Mode::from_bits_truncate(mode))
        .map_err(|e| cleanup(t.err(access, "set the mode of", e)))?;
    fsync(&f).map_err(|e| cleanup(t.err(access, "sync", e)))?;
    drop(f);
    // A new file must not replace one that appeared since it was looked
    // at: that one was never previewed nor snapshotted.
    let renamed = if prior.is_none() {
        nix::fcntl::renameat2(
            dir,
            tmp.as_os_str(),
            dir,
            t.name.as_os_str(),
            RenameFlags::RENAME_NOREPLACE,
        )
    } else {
        renameat(dir, tmp.as_os_str(), dir, t.name.as_os_str())
    };
    renamed.map_err(|e| {
        cleanup(match e {
            Errno::EEXIST => ToolError::failed(format!(
                "{} appeared while it was being written; nothing was changed, try again",
                t.path.display()
            )),
            e => t.err(access, "replace", e),
        })
    })?;
    sync_dir(&t.dir);
    Ok(Written::Atomic)
}

/// Rewrite the regular file `t` (which must still be the inode `st`) in
/// place.
fn write_in_place(
    t: &Target,
    access: &Access,
    st: &FileStat,
    content: &mut dyn Read,
    mode: Option<u32>,
) -> Result<Written, ToolError> {
    let fd = openat(
        t.dir.as_fd(),
        t.name.as_os_str(),
        OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| t.err(access, "write", e))?;
    let now = fstat(&fd).map_err(|e| t.err(access, "write", e))?;
    if Kind::of(&now) != Kind::File || (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
        return Err(ToolError::failed(format!(
            "{} was replaced while it was being written; nothing was changed, try again",
            t.path.display()
        )));
    }
    ftruncate(&fd, 0).map_err(|e| t.err(access, "truncate", e))?;
    let mut f = std::fs::File::from(fd);
    std::io::copy(content, &mut f).map_err(|e| access.io_error(&t.path, "write", &e))?;
    if let Some(m) = mode {
        fchmod(&f, Mode::from_bits_truncate(m)).map_err(|e| t.err(access, "set the mode of", e))?;
    }
    fsync(&f).map_err(|e| t.err(access, "sync", e))?;
    Ok(Written::InPlace)
}

/// Make a rename or unlink in `dir` durable. Some filesystems cannot
/// fsync a directory; the change itself has already happened.
pub(crate) fn sync_dir(dir: &OwnedFd) {
    let _ = fsync(dir);
}

/// Rename `from` to `to` (both through their parents' descriptors),
/// refusing to replace anything when `no_replace`.
pub(crate) fn rename(
    from: &Target,
    to: &Target,
    access: &Access,
    no_replace: bool,
) -> Result<(), ToolError> {
    let r = if no_replace {
        nix::fcntl::renameat2(
            from.dir.as_fd(),
            from.name.as_os_str(),
            to.dir.as_fd(),
            to.name.as_os_str(),
            RenameFlags::RENAME_NOREPLACE,
        )
    } else {
        renameat(
            from.dir.as_fd(),
            from.name.as_os_str(),
            to.dir.as_fd(),
            to.name.as_os_str(),
        )
    };
    r.map_err(|e| match e {
        Errno::EXDEV => ToolError::invalid(format!(
            "{} and {} are on different filesystems; use fs.copy, then fs.delete",
            from.path.display(),
            to.path.display()
        )),
        Errno::EEXIST => ToolError::failed(format!(
            "{} appeared while moving; nothing was changed, try again",
            to.path.display()
        )),
        e => from.err(access, "move", e),
    })?;
    sync_dir(&from.dir);
    sync_dir(&to.dir);
    Ok(())
}

/// `N bytes` in words with the previous size: `1.2 KiB (was 800 B)`.
pub(crate) fn sized(now: u64, before: Option<u64>) -> String {
    let h = crate::util::human_bytes;
    match before {
        Some(b) => format!("{} (was {})", h(now), h(b)),
        None => format!("{} (new file)", h(now)),
    }
}

/// The note for a file rewritten in place.
pub(crate) fn in_place_note(w: Written) -> Option<String> {
    (w == Written::InPlace).then(|| {
        "rewritten in place (not atomically): the caller may not give a replacement the file's owner"
            .to_string()
    })
}

/// Open the parent of `raw` and capture what is there now, as the caller
/// (inside `ctx.blocking`).
pub(crate) fn current(ctx: &ToolCtx, raw: &str, tool: &str) -> Result<(Target, Prior), ToolError> {
    let access = ctx.access();
    let t = Target::open(access, raw, "inspect")?;
    let prior = capture(&t, access, tool)?;
    Ok((t, prior))
}

/// A mode from its octal text (`644`, `0755`, `0o600`).
pub(crate) fn parse_mode(field: &str, s: &str) -> Result<u32, ToolError> {
    let t = s.trim();
    let digits = t.strip_prefix("0o").unwrap_or(t);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if !digits.is_empty() && m <= 0o7777 => Ok(m),
        _ => Err(ToolError::invalid(format!(
            "field `{field}`: {s:?} is not an octal mode; give 3 or 4 octal digits such as \"644\" or \"0755\""
        ))),
    }
}

/// A mode as `0644 (rw-r--r--)`.
pub(crate) fn mode_text(mode: u32) -> String {
    format!("{:04o} ({})", mode & 0o7777, rwx(mode))
}

/// The `rwxr-x---` form of permission bits, with set-id and sticky bits.
pub(crate) fn rwx(mode: u32) -> String {
    let mut s = String::with_capacity(9);
    for (shift, special, lower, upper) in [
        (6, 0o4000, 's', 'S'),
        (3, 0o2000, 's', 'S'),
        (0, 0o1000, 't', 'T'),
    ] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let x = bits & 1 != 0;
        s.push(match (mode & special != 0, x) {
            (true, true) => lower,
            (true, false) => upper,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        assert_eq!(parse_mode("mode", "644").unwrap(), 0o644);
        assert_eq!(parse_mode("mode", "0o4755").unwrap(), 0o4755);
        for bad in ["", "999", "rwx", "17777"] {
            let e = parse_mode("mode", bad).unwrap_err();
            assert!(e.message().contains("octal"), "{e}");
        }
        assert_eq!(rwx(0o754), "rwxr-xr--");
        assert_eq!(rwx(0o4755), "rwsr-xr-x");
        assert_eq!(rwx(0o1777), "rwxrwxrwt");
        assert_eq!(mode_text(0o100640), "0640 (rw-r-----)");
    }
}
