//! Which directories hold man pages, and what a file in them is called. Pure: the caller
//! supplies the configuration text, `PATH` and an existence check.
//!
//! The search path follows man-db: `MANPATH` (or `[memory] manpath`) when set, where an
//! empty element (a leading, trailing or doubled colon) stands for the system's manpath;
//! otherwise the system's manpath. That is derived here as man-db's `manpath` derives it
//! (each `PATH` directory mapped through `MANPATH_MAP`, else its `../man` or
//! `../share/man`; then every `MANDATORY_MANPATH`) rather than by running `manpath`:
//! memoryd is confined by Landlock and may not execute programs.

use std::path::{Path, PathBuf};

/// A man page file name, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageFile {
    /// `chattr`.
    pub name: String,
    /// `1`, `3ssl`, `8`.
    pub section: String,
    /// The file is gzip-compressed.
    pub gzip: bool,
}

impl PageFile {
    /// `chattr.1`: how the page is named in search results.
    pub fn page(&self) -> String {
        format!("{}.{}", self.name, self.section)
    }
}

fn push_unique(out: &mut Vec<PathBuf>, p: PathBuf) {
    if !out.contains(&p) {
        out.push(p);
    }
}

/// The man directories to search, in order, without repeats.
pub fn resolve(manpath: Option<&str>, system: &dyn Fn() -> Vec<PathBuf>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    match manpath {
        Some(m) => {
            let mut system_done = false;
            for element in m.split(':') {
                if element.is_empty() {
                    if !system_done {
                        system_done = true;
                        for p in system() {
                            push_unique(&mut out, p);
                        }
                    }
                } else {
                    push_unique(&mut out, PathBuf::from(element));
                }
            }
        }
        None => {
            for p in system() {
                push_unique(&mut out, p);
            }
        }
    }
    out
}

/// The system's manpath from man-db's configuration (`/etc/manpath.config`) and `PATH`;
/// empty when neither yields an existing directory.
pub fn system_manpath(
    config: &str,
    path_env: &str,
    exists: &dyn Fn(&Path) -> bool,
) -> Vec<PathBuf> {
    let mut mandatory = Vec::new();
    let mut map: Vec<(PathBuf, PathBuf)> = Vec::new();
    for line in config.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("MANDATORY_MANPATH"), Some(dir), _) => mandatory.push(PathBuf::from(dir)),
            (Some("MANPATH_MAP"), Some(bin), Some(man)) => {
                map.push((PathBuf::from(bin), PathBuf::from(man)));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for dir in path_env.split(':').filter(|d| !d.is_empty()) {
        let dir = Path::new(dir);
        let mapped: Vec<&PathBuf> = map
            .iter()
            .filter(|(b, _)| b == dir)
            .map(|(_, m)| m)
            .collect();
        if mapped.is_empty() {
            if let Some(parent) = dir.parent() {
                for cand in [parent.join("man"), parent.join("share/man")] {
                    if exists(&cand) {
                        push_unique(&mut out, cand);
                    }
                }
            }
        } else {
            for m in mapped {
                if exists(m) {
                    push_unique(&mut out, m.clone());
                }
            }
        }
    }
    for m in mandatory {
        if exists(&m) {
            push_unique(&mut out, m);
        }
    }
    out
}

/// The section of a directory inside a man directory: `man1` → `1`, `man3` → `3`; `None`
/// for anything else (translations such as `de/` or `pt_BR/` included).
pub fn section_dir(name: &str) -> Option<&str> {
    let s = name.strip_prefix("man")?;
    let first = s.chars().next()?;
    (first.is_ascii_digit() && first != '0' || first == 'n' && s.len() == 1).then_some(s)
}

/// A page file in the directory of section `dir_section`: `chattr.1.gz` → chattr, 1,
/// gzip. `None` for files that are not pages of that section, or are compressed in a
/// way this reader does not handle (bzip2, xz, zstd).
pub fn page_file(file: &str, dir_section: &str) -> Option<PageFile> {
    let (stem, gzip) = match file.strip_suffix(".gz") {
        Some(s) => (s, true),
        None => (file, false),
    };
    if [".bz2", ".xz", ".lzma", ".zst", ".Z", ".z"]
        .iter()
        .any(|e| stem.ends_with(e))
    {
        return None;
    }
    let (name, section) = stem.rsplit_once('.')?;
    let wanted = dir_section.chars().next()?;
    if name.is_empty() || !section.starts_with(wanted) {
        return None;
    }
    Some(PageFile {
        name: name.to_string(),
        section: section.to_string(),
        gzip,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sys() -> Vec<PathBuf> {
        vec![
            PathBuf::from("/usr/share/man"),
            PathBuf::from("/usr/local/share/man"),
        ]
    }

    #[test]
    fn an_empty_manpath_element_is_the_system_manpath() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(resolve(Some("/opt/man"), &sys), vec![p("/opt/man")]);
        assert_eq!(
            resolve(Some("/opt/man:"), &sys),
            vec![
                p("/opt/man"),
                p("/usr/share/man"),
                p("/usr/local/share/man")
            ]
        );
        assert_eq!(
            resolve(Some(":/usr/share/man:/opt/man"), &sys),
            vec![
                p("/usr/share/man"),
                p("/usr/local/share/man"),
                p("/opt/man")
            ]
        );
        assert_eq!(resolve(None, &sys), sys());
    }

    #[test]
    fn the_system_manpath_follows_path_and_man_db_config() {
        let config = "\
# comment
MANDATORY_MANPATH /usr/man
MANDATORY_MANPATH /usr/share/man
MANDATORY_MANPATH /usr/local/share/man
MANPATH_MAP /bin /usr/share/man
MANPATH_MAP /usr/bin /usr/share/man
MANPATH_MAP /usr/local/bin /usr/local/man
MANPATH_MAP /usr/local/bin /usr/local/share/man
";
        let existing = [
            "/usr/share/man",
            "/usr/local/share/man",
            "/opt/tool/share/man",
        ];
        let exists = |p: &Path| existing.iter().any(|e| Path::new(e) == p);
        let got = system_manpath(
            config,
            "/usr/local/bin:/usr/bin:/opt/tool/bin:/bin",
            &exists,
        );
        assert_eq!(
            got,
            vec![
                PathBuf::from("/usr/local/share/man"),
                PathBuf::from("/usr/share/man"),
                PathBuf::from("/opt/tool/share/man"),
            ]
        );
    }

    #[test]
    fn page_files_are_named_by_name_and_section() {
        let f = page_file("chattr.1.gz", "1").unwrap();
        assert_eq!((f.page(), f.gzip), ("chattr.1".to_string(), true));
        assert_eq!(
            page_file("openssl-req.1ssl.gz", "1").unwrap().section,
            "1ssl"
        );
        assert_eq!(
            page_file("systemd.exec.5", "5").unwrap().name,
            "systemd.exec"
        );
        assert!(page_file("ls.1.bz2", "1").is_none());
        assert!(
            page_file("ls.1.gz", "8").is_none(),
            "wrong section directory"
        );
        assert!(page_file("README", "1").is_none());
        assert_eq!(section_dir("man8"), Some("8"));
        assert_eq!(section_dir("man3ssl"), Some("3ssl"));
        assert_eq!(section_dir("de"), None);
        assert_eq!(section_dir("man"), None);
    }
}
