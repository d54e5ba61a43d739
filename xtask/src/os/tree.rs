//! The root filesystem as data: a sorted map from path to entry (directory,
//! file, symlink, device) with owner and mode, built from host directories,
//! generated files and explicit entries, then packed into a cpio archive.
//!
//! Keeping the tree in memory (file contents stay on the host until
//! packing) means owners and device nodes need no root privileges and no
//! scratch directory, and the same tree packs identically every time.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::cpio;

/// Where a file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// A host file, read when packing.
    Host(PathBuf),
    /// Generated contents.
    Bytes(Vec<u8>),
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File(Data),
    /// A symbolic link to this target.
    Symlink(String),
    /// A character device (major, minor).
    CharDev(u32, u32),
}

/// One path in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What it is.
    pub kind: Kind,
    /// Permission bits (`0o7777` mask), without the type.
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
}

impl Entry {
    /// A root-owned directory.
    pub fn dir(mode: u32) -> Entry {
        Entry {
            kind: Kind::Dir,
            mode,
            uid: 0,
            gid: 0,
        }
    }

    /// A root-owned file with generated contents.
    pub fn bytes(data: impl Into<Vec<u8>>, mode: u32) -> Entry {
        Entry {
            kind: Kind::File(Data::Bytes(data.into())),
            mode,
            uid: 0,
            gid: 0,
        }
    }

    /// A root-owned copy of a host file.
    pub fn host(path: &Path, mode: u32) -> Entry {
        Entry {
            kind: Kind::File(Data::Host(path.to_path_buf())),
            mode,
            uid: 0,
            gid: 0,
        }
    }

    /// A root-owned character device.
    pub fn char_dev(major: u32, minor: u32, mode: u32) -> Entry {
        Entry {
            kind: Kind::CharDev(major, minor),
            mode,
            uid: 0,
            gid: 0,
        }
    }

    /// A symlink.
    pub fn symlink(target: &str) -> Entry {
        Entry {
            kind: Kind::Symlink(target.to_string()),
            mode: 0o777,
            uid: 0,
            gid: 0,
        }
    }
}

/// Normalize an image path: no leading `/`, no `.` or empty components,
/// `..` resolved (never above the root).
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// The whole image.
#[derive(Debug, Default)]
pub struct Tree {
    entries: BTreeMap<String, Entry>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Tree {
        Tree::default()
    }

    /// The entry at `path` (after following symlinked parent directories).
    pub fn get(&self, path: &str) -> Option<&Entry> {
        let p = self.resolve_parents(path).ok()?;
        self.entries.get(&p)
    }

    /// The entry stored at exactly `path` (no symlink resolution): for
    /// walking [`Tree::paths`].
    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Every path, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Number of entries.
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    /// Rewrite `path` so that no parent component is a symlink in the tree
    /// (a full base has `/lib -> usr/lib`): `lib/x/libc.so` becomes
    /// `usr/lib/x/libc.so`. The last component is left alone.
    fn resolve_parents(&self, path: &str) -> anyhow::Result<String> {
        let mut current = normalize(path);
        // Bounded: a symlink loop must not hang the build.
        for _ in 0..40 {
            let parts: Vec<&str> = current.split('/').collect();
            let mut rewritten = None;
            for i in 1..parts.len() {
                let prefix = parts[..i].join("/");
                if let Some(Entry {
                    kind: Kind::Symlink(target),
                    ..
                }) = self.entries.get(&prefix)
                {
                    let base = if target.starts_with('/') {
                        target.clone()
                    } else {
                        format!("{}/{target}", parts[..i - 1].join("/"))
                    };
                    rewritten = Some(normalize(&format!("{base}/{}", parts[i..].join("/"))));
                    break;
                }
            }
            match rewritten {
                Some(r) => current = r,
                None => return Ok(current),
            }
        }
        bail!("too many levels of symbolic links resolving {path:?} in the image")
    }

    /// Insert (or replace) `path`, creating missing parents as root-owned
    /// 0755 directories.
    pub fn insert(&mut self, path: &str, entry: Entry) -> anyhow::Result<()> {
        let p = self.resolve_parents(path)?;
        if p.is_empty() {
            bail!("cannot replace the image root with {path:?}");
        }
        let mut prefix = String::new();
        let parts: Vec<&str> = p.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            match self.entries.get(&prefix) {
                None => {
                    self.entries.insert(prefix.clone(), Entry::dir(0o755));
                }
                Some(Entry {
                    kind: Kind::Dir, ..
                }) => {}
                Some(other) => bail!(
                    "cannot add {path:?}: {prefix:?} in the image is {:?}, not a directory",
                    other.kind
                ),
            }
        }
        // A directory that already exists keeps its children; only its
        // metadata changes.
        self.entries.insert(p, entry);
        Ok(())
    }

    /// Set owner and mode of an existing entry (or create a directory).
    pub fn own(&mut self, path: &str, uid: u32, gid: u32, mode: u32) -> anyhow::Result<()> {
        let p = self.resolve_parents(path)?;
        match self.entries.get_mut(&p) {
            Some(e) => {
                e.uid = uid;
                e.gid = gid;
                e.mode = mode;
                Ok(())
            }
            None => self.insert(
                path,
                Entry {
                    kind: Kind::Dir,
                    mode,
                    uid,
                    gid,
                },
            ),
        }
    }

    /// Add every file under the host directory `dir` at image path `at`.
    /// With `keep_owners`, owners and modes come from the host (a
    /// debootstrap base); otherwise everything is root-owned and only the
    /// permission bits are kept (the repository overlay, whose files git
    /// checks out as the current user).
    pub fn add_host_dir(&mut self, dir: &Path, at: &str, keep_owners: bool) -> anyhow::Result<()> {
        let mut stack = vec![(dir.to_path_buf(), normalize(at))];
        while let Some((host, image)) = stack.pop() {
            let mut names: Vec<_> = std::fs::read_dir(&host)
                .with_context(|| format!("cannot read {}", host.display()))?
                .collect::<Result<_, _>>()
                .with_context(|| format!("cannot read {}", host.display()))?;
            names.sort_by_key(|e| e.file_name());
            for de in names {
                let path = de.path();
                let name = de.file_name().to_string_lossy().into_owned();
                let target = if image.is_empty() {
                    name
                } else {
                    format!("{image}/{name}")
                };
                let meta = std::fs::symlink_metadata(&path)
                    .with_context(|| format!("cannot stat {}", path.display()))?;
                let ft = meta.file_type();
                let (uid, gid) = if keep_owners {
                    (meta.uid(), meta.gid())
                } else {
                    (0, 0)
                };
                let mode = meta.mode() & 0o7777;
                let kind = if ft.is_dir() {
                    stack.push((path.clone(), target.clone()));
                    Kind::Dir
                } else if ft.is_symlink() {
                    let t = std::fs::read_link(&path)
                        .with_context(|| format!("cannot read link {}", path.display()))?;
                    Kind::Symlink(t.to_string_lossy().into_owned())
                } else if ft.is_file() {
                    Kind::File(Data::Host(path.clone()))
                } else if ft.is_char_device() {
                    let rdev = meta.rdev();
                    Kind::CharDev(libc_major(rdev), libc_minor(rdev))
                } else {
                    // Sockets, FIFOs and block devices have no place in an
                    // initramfs (devtmpfs provides devices).
                    continue;
                };
                // Insert at the literal path: the host tree's own symlinks
                // are data here, not directions.
                self.insert_literal(
                    &target,
                    Entry {
                        kind,
                        mode,
                        uid,
                        gid,
                    },
                )?;
            }
        }
        Ok(())
    }

    /// Insert without resolving symlinked parents (for copying a tree as
    /// it is); existing directories keep their children.
    fn insert_literal(&mut self, path: &str, entry: Entry) -> anyhow::Result<()> {
        let p = normalize(path);
        if let Some((parent, _)) = p.rsplit_once('/')
            && !self.entries.contains_key(parent)
        {
            self.insert_literal(parent, Entry::dir(0o755))?;
        }
        self.entries.insert(p, entry);
        Ok(())
    }

    /// Pack the tree as a newc cpio archive into `out`.
    pub fn write_cpio<W: Write>(&self, out: W) -> anyhow::Result<W> {
        let mut w = cpio::Writer::new(out, 0);
        for (path, e) in &self.entries {
            let (ty, data, rdev): (u32, Vec<u8>, (u32, u32)) = match &e.kind {
                Kind::Dir => (cpio::S_IFDIR, Vec::new(), (0, 0)),
                Kind::File(Data::Bytes(b)) => (cpio::S_IFREG, b.clone(), (0, 0)),
                Kind::File(Data::Host(h)) => (
                    cpio::S_IFREG,
                    std::fs::read(h).with_context(|| format!("cannot read {}", h.display()))?,
                    (0, 0),
                ),
                Kind::Symlink(t) => (cpio::S_IFLNK, t.as_bytes().to_vec(), (0, 0)),
                Kind::CharDev(ma, mi) => (cpio::S_IFCHR, Vec::new(), (*ma, *mi)),
            };
            w.member(
                &cpio::Header {
                    name: path.clone(),
                    mode: ty | (e.mode & 0o7777),
                    uid: e.uid,
                    gid: e.gid,
                    rdev,
                },
                &data,
            )
            .with_context(|| format!("cannot pack {path}"))?;
        }
        Ok(w.finish()?)
    }
}

/// `major()` of a Linux `dev_t`.
fn libc_major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)) as u32
}

/// `minor()` of a Linux `dev_t`.
fn libc_minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized() {
        assert_eq!(normalize("/usr//bin/./aios"), "usr/bin/aios");
        assert_eq!(normalize("usr/lib/../bin"), "usr/bin");
        assert_eq!(normalize("/../../etc"), "etc");
        assert_eq!(normalize("/"), "");
    }

    #[test]
    fn parents_are_created_and_symlinked_parents_followed() {
        let mut t = Tree::new();
        t.insert("usr/lib/x86_64-linux-gnu", Entry::dir(0o755))
            .unwrap();
        t.insert("lib", Entry::symlink("usr/lib")).unwrap();
        t.insert(
            "/lib/x86_64-linux-gnu/libc.so.6",
            Entry::bytes("elf", 0o755),
        )
        .unwrap();
        assert!(t.get("usr/lib/x86_64-linux-gnu/libc.so.6").is_some());
        assert!(t.get("lib/x86_64-linux-gnu/libc.so.6").is_some());
        assert!(!t.paths().any(|p| p == "lib/x86_64-linux-gnu/libc.so.6"));
        t.insert("a/b/c", Entry::bytes("x", 0o644)).unwrap();
        assert_eq!(t.get("a/b").unwrap().kind, Kind::Dir);
    }

    #[test]
    fn a_file_in_the_way_of_a_directory_is_an_error() {
        let mut t = Tree::new();
        t.insert("etc", Entry::bytes("not a dir", 0o644)).unwrap();
        let e = t
            .insert("etc/passwd", Entry::bytes("x", 0o644))
            .unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
    }

    #[test]
    fn symlink_loops_are_reported() {
        let mut t = Tree::new();
        t.insert("a", Entry::symlink("b")).unwrap();
        t.insert("b", Entry::symlink("a")).unwrap();
        assert!(t.insert("a/x", Entry::bytes("", 0o644)).is_err());
    }

    #[test]
    fn owners_and_modes_reach_the_archive() {
        let mut t = Tree::new();
        t.insert("var/lib/aios", Entry::dir(0o755)).unwrap();
        t.own("var/lib/aios", 900, 900, 0o750).unwrap();
        t.own("tmp", 0, 0, 0o1777).unwrap();
        t.insert("dev/console", Entry::char_dev(5, 1, 0o600))
            .unwrap();
        let bytes = t.write_cpio(Vec::new()).unwrap();
        let m = cpio::read_all(&bytes).unwrap();
        let find = |n: &str| m.iter().find(|x| x.0 == n).unwrap().clone();
        assert_eq!(find("var/lib/aios").1, cpio::S_IFDIR | 0o750);
        assert_eq!((find("var/lib/aios").2, find("var/lib/aios").3), (900, 900));
        assert_eq!(find("tmp").1, cpio::S_IFDIR | 0o1777);
        assert_eq!(find("dev/console").4, (5, 1));
        // Parents come before children.
        let names: Vec<_> = m.iter().map(|x| x.0.as_str()).collect();
        assert!(
            names.iter().position(|n| *n == "var") < names.iter().position(|n| *n == "var/lib")
        );
    }

    #[test]
    fn host_directories_are_copied_with_modes() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc/aios")).unwrap();
        std::fs::write(d.path().join("etc/aios/aios.toml"), "x").unwrap();
        let script = d.path().join("setup");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("etc/aios", d.path().join("link")).unwrap();
        let mut t = Tree::new();
        t.add_host_dir(d.path(), "/", false).unwrap();
        assert_eq!(t.get("setup").unwrap().mode, 0o755);
        assert_eq!(t.get("etc/aios/aios.toml").unwrap().uid, 0);
        assert_eq!(
            t.get("link").unwrap().kind,
            Kind::Symlink("etc/aios".into())
        );
        assert!(
            t.add_host_dir(&d.path().join("missing"), "/", false)
                .is_err()
        );
    }

    #[test]
    fn device_numbers_decode() {
        // makedev(5, 1) and makedev(259, 65537) in glibc's encoding.
        let make = |ma: u64, mi: u64| {
            ((ma & 0xffff_f000) << 32)
                | ((ma & 0xfff) << 8)
                | ((mi & 0xffff_ff00) << 12)
                | (mi & 0xff)
        };
        assert_eq!((libc_major(make(5, 1)), libc_minor(make(5, 1))), (5, 1));
        assert_eq!(
            (libc_major(make(259, 65537)), libc_minor(make(259, 65537))),
            (259, 65537)
        );
    }
}
