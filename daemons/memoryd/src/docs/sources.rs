//! Finding the documentation files on disk and reading them (the I/O half of the docs
//! ingester; what the files mean is decided by the pure modules beside it).
//!
//! - **Man pages**: every `man<section>/` of every man directory, plain or gzipped.
//!   Symbolic links to a page that is indexed anyway are aliases and skipped; a link to a
//!   page outside the man directories is indexed under the link's name. When two
//!   directories hold the same `name.section`, the first in manpath order wins, as `man`
//!   would show it. Translations (`de/`, `pt_BR/`, …) are not section directories and
//!   are left out: the questions are asked in one language, and mixing translations of
//!   one page would split its hits.
//! - **READMEs**: `<doc dir>/<package>/README*`, plain, Markdown or gzipped; a package
//!   directory that is a link to another is read once.

use std::collections::HashSet;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::manpath::{self, PageFile};

/// Largest man page read, uncompressed (the largest real pages are about 1 MB).
pub const MAN_MAX_BYTES: u64 = 8 * 1024 * 1024;

/// What a found file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A man page.
    Man(PageFile),
    /// A package's README.
    Readme {
        /// The package (its directory's name).
        package: String,
        /// The file's name without `.gz`.
        file: String,
        /// The file is gzip-compressed.
        gzip: bool,
    },
}

/// A documentation file found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The file to read (the target, for links).
    pub path: PathBuf,
    /// What it is.
    pub kind: Kind,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Size in bytes (as stored, compressed or not).
    pub size: i64,
}

impl Found {
    /// The key prefix of its documents: `man:chattr.1`, `doc:tar/README`.
    pub fn prefix(&self) -> String {
        match &self.kind {
            Kind::Man(p) => format!("man:{}", p.page()),
            Kind::Readme { package, file, .. } => format!("doc:{package}/{file}"),
        }
    }

    fn gzip(&self) -> bool {
        match &self.kind {
            Kind::Man(p) => p.gzip,
            Kind::Readme { gzip, .. } => *gzip,
        }
    }
}

fn stamp(path: &Path) -> Option<(i64, i64)> {
    let m = std::fs::metadata(path).ok()?;
    m.is_file().then(|| {
        (
            m.mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec()),
            i64::try_from(m.size()).unwrap_or(i64::MAX),
        )
    })
}

fn sorted_entries(dir: &Path) -> Vec<std::fs::DirEntry> {
    let mut v: Vec<std::fs::DirEntry> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(Result::ok).collect(),
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::debug!(dir = %dir.display(), "cannot list documentation directory: {e}");
            }
            Vec::new()
        }
    };
    v.sort_by_key(std::fs::DirEntry::file_name);
    v
}

/// Every man page under `dirs`, deduplicated (see the module doc).
pub fn scan_man(dirs: &[PathBuf]) -> Vec<Found> {
    let mut files: Vec<Found> = Vec::new();
    let mut links: Vec<(PathBuf, PageFile)> = Vec::new();
    for dir in dirs {
        for sec in sorted_entries(dir) {
            let sec_name = sec.file_name().to_string_lossy().into_owned();
            let Some(section) = manpath::section_dir(&sec_name) else {
                continue;
            };
            if !sec.path().is_dir() {
                continue;
            }
            for e in sorted_entries(&sec.path()) {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some(page) = manpath::page_file(&name, section) else {
                    continue;
                };
                let Ok(ft) = e.file_type() else { continue };
                if ft.is_symlink() {
                    links.push((e.path(), page));
                } else if ft.is_file()
                    && let Some((mtime_ns, size)) = stamp(&e.path())
                {
                    files.push(Found {
                        path: e.path(),
                        kind: Kind::Man(page),
                        mtime_ns,
                        size,
                    });
                }
            }
        }
    }
    let real: HashSet<PathBuf> = files
        .iter()
        .filter_map(|f| std::fs::canonicalize(&f.path).ok())
        .collect();
    for (link, mut page) in links {
        let Ok(target) = std::fs::canonicalize(&link) else {
            continue; // dangling
        };
        if real.contains(&target) {
            continue; // an alias of a page indexed on its own
        }
        let Some((mtime_ns, size)) = stamp(&target) else {
            continue;
        };
        page.gzip = target.extension().is_some_and(|e| e == "gz");
        files.push(Found {
            path: target,
            kind: Kind::Man(page),
            mtime_ns,
            size,
        });
    }
    dedupe(files)
}

/// The first file of each prefix (and of each path) wins.
fn dedupe(files: Vec<Found>) -> Vec<Found> {
    let mut prefixes = HashSet::new();
    let mut paths = HashSet::new();
    files
        .into_iter()
        .filter(|f| prefixes.insert(f.prefix()) && paths.insert(f.path.clone()))
        .collect()
}

/// Extensions of README files that are not text.
const NOT_TEXT: &[&str] = &[
    "pdf", "html", "htm", "png", "jpg", "gif", "svg", "ps", "dvi", "bz2", "xz", "zst", "zip",
];

/// Every `README*` of every package directory under `dirs` (see the module doc).
pub fn scan_readmes(dirs: &[PathBuf]) -> Vec<Found> {
    let mut files = Vec::new();
    let mut seen_dirs = HashSet::new();
    for dir in dirs {
        for pkg in sorted_entries(dir) {
            let Ok(real) = std::fs::canonicalize(pkg.path()) else {
                continue;
            };
            if !real.is_dir() || !seen_dirs.insert(real.clone()) {
                continue;
            }
            let package = pkg.file_name().to_string_lossy().into_owned();
            for e in sorted_entries(&real) {
                let name = e.file_name().to_string_lossy().into_owned();
                if !name.starts_with("README") && !name.starts_with("readme") {
                    continue;
                }
                let (file, gzip) = match name.strip_suffix(".gz") {
                    Some(s) => (s.to_string(), true),
                    None => (name.clone(), false),
                };
                let ext = Path::new(&file)
                    .extension()
                    .map(|e| e.to_string_lossy().to_ascii_lowercase());
                if ext.is_some_and(|e| NOT_TEXT.contains(&e.as_str())) {
                    continue;
                }
                let Ok(path) = std::fs::canonicalize(e.path()) else {
                    continue;
                };
                let Some((mtime_ns, size)) = stamp(&path) else {
                    continue;
                };
                files.push(Found {
                    path,
                    kind: Kind::Readme {
                        package: package.clone(),
                        file,
                        gzip,
                    },
                    mtime_ns,
                    size,
                });
            }
        }
    }
    dedupe(files)
}

/// The file's text, decompressed, at most `max` bytes; `None` (with the reason) when it
/// cannot be read or is not text.
pub fn read_text(f: &Found, max: u64) -> Result<String, String> {
    let file = std::fs::File::open(&f.path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    let limit = max.saturating_add(1);
    let read = if f.gzip() {
        flate2::read::MultiGzDecoder::new(file)
            .take(limit)
            .read_to_end(&mut bytes)
    } else {
        file.take(limit).read_to_end(&mut bytes)
    };
    read.map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max {
        match f.kind {
            // A man page that long is not one (or not one worth reading whole).
            Kind::Man(_) => return Err(format!("larger than {max} bytes")),
            // The start of a long README is its introduction: keep it.
            Kind::Readme { .. } => bytes.truncate(usize::try_from(max).unwrap_or(usize::MAX)),
        }
    }
    if bytes.contains(&0) {
        return Err("not text (it contains NUL bytes)".into());
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;

    fn gz(path: &Path, text: &str) {
        let f = std::fs::File::create(path).unwrap();
        let mut w = flate2::write::GzEncoder::new(f, flate2::Compression::default());
        w.write_all(text.as_bytes()).unwrap();
        w.finish().unwrap();
    }

    #[test]
    fn man_pages_are_found_once_in_manpath_order() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        let b = d.path().join("b");
        for p in [
            a.join("man1"),
            b.join("man1"),
            b.join("man8"),
            a.join("de/man1"),
        ] {
            std::fs::create_dir_all(p).unwrap();
        }
        gz(&a.join("man1/chattr.1.gz"), ".TH CHATTR 1\n");
        std::fs::write(b.join("man1/chattr.1"), ".TH CHATTR 1\n").unwrap();
        std::fs::write(b.join("man8/mkfs.8"), ".TH MKFS 8\n").unwrap();
        std::fs::write(a.join("de/man1/chattr.1"), ".TH CHATTR 1\n").unwrap();
        // An alias of an indexed page, and a dangling link.
        std::os::unix::fs::symlink("mkfs.8", b.join("man8/mkfs.ext4.8")).unwrap();
        std::os::unix::fs::symlink("nowhere.8", b.join("man8/gone.8")).unwrap();
        std::fs::write(b.join("man8/notes.txt"), "x").unwrap();
        let found = scan_man(&[a.clone(), b.clone()]);
        let got: Vec<(String, PathBuf)> =
            found.iter().map(|f| (f.prefix(), f.path.clone())).collect();
        assert_eq!(
            got,
            vec![
                ("man:chattr.1".to_string(), a.join("man1/chattr.1.gz")),
                ("man:mkfs.8".to_string(), b.join("man8/mkfs.8")),
            ]
        );
        assert_eq!(read_text(&found[0], 100).unwrap(), ".TH CHATTR 1\n");
        assert!(read_text(&found[0], 5).is_err(), "too large");
    }

    #[test]
    fn readmes_are_found_in_package_directories() {
        let d = tempfile::tempdir().unwrap();
        let doc = d.path().join("doc");
        std::fs::create_dir_all(doc.join("tar")).unwrap();
        std::fs::create_dir_all(doc.join("zz")).unwrap();
        gz(&doc.join("tar/README.Debian.gz"), "tar notes\n");
        std::fs::write(doc.join("tar/README.html"), "<p>").unwrap();
        std::fs::write(doc.join("tar/copyright"), "c").unwrap();
        std::os::unix::fs::symlink("tar", doc.join("tar-doc")).unwrap();
        let found = scan_readmes(&[doc]);
        let prefixes: Vec<String> = found.iter().map(Found::prefix).collect();
        assert_eq!(prefixes, vec!["doc:tar/README.Debian"]);
        assert_eq!(read_text(&found[0], 4).unwrap(), "tar ");
    }
}
