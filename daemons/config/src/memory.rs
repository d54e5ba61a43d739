//! `[memory]`: what memoryd indexes of the machine's own documentation (the `docs`
//! collection), declared once here for memoryd, its confinement and the docs.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Largest README (uncompressed bytes) read into `docs` by default: READMEs past this are
/// mostly changelogs and generated listings, not answers.
pub const DEFAULT_DOC_MAX_BYTES: u64 = 256 * 1024;

/// The directories searched for man pages when neither `[memory] manpath` nor `MANPATH`
/// is set and the system's manpath cannot be derived.
pub const DEFAULT_MAN_DIRS: &[&str] = &["/usr/share/man", "/usr/local/share/man"];

/// `[memory]`: the documentation memoryd indexes in the background.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    /// Index the installed man pages and `/usr/share/doc` READMEs into the `docs`
    /// collection (environment: `AIOS_MEMORY_DOCS=0|1`).
    pub docs: bool,
    /// Where man pages are, spelled as `MANPATH` is: a colon-separated list in which an
    /// empty element stands for the system's manpath. Unset: the `MANPATH` environment
    /// variable (which overrides this key, like every environment variable), else the
    /// system's manpath (from `/etc/manpath.config` and `PATH`, as `manpath` derives it),
    /// else `/usr/share/man:/usr/local/share/man`.
    pub manpath: Option<String>,
    /// Directories of per-package documentation whose `*/README*` files are indexed
    /// (plain, Markdown or gzipped).
    pub doc_dirs: Vec<PathBuf>,
    /// READMEs larger than this many bytes (after decompression) are skipped.
    pub doc_max_bytes: u64,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            docs: true,
            manpath: None,
            doc_dirs: vec![PathBuf::from("/usr/share/doc")],
            doc_max_bytes: DEFAULT_DOC_MAX_BYTES,
        }
    }
}

impl MemoryConfig {
    /// The directories named explicitly (the non-empty `manpath` elements and `doc_dirs`):
    /// what memoryd's confinement must let it read besides the system directories.
    pub fn docs_read_roots(&self) -> Vec<PathBuf> {
        if !self.docs {
            return Vec::new();
        }
        let mut roots: Vec<PathBuf> = self
            .manpath
            .as_deref()
            .unwrap_or_default()
            .split(':')
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .collect();
        roots.extend(self.doc_dirs.iter().cloned());
        roots
    }
}

/// `AIOS_MEMORY_DOCS` as a boolean.
pub(crate) fn parse_flag(var: &str, v: &str) -> Result<bool, crate::ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(crate::ConfigError::Env {
            var: var.into(),
            message: format!("{v:?} is not a boolean: use 1 or 0 (true or false)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn read_roots_are_the_explicit_directories_only() {
        let c = MemoryConfig {
            manpath: Some(":/opt/man::/srv/man:".into()),
            ..MemoryConfig::default()
        };
        assert_eq!(
            c.docs_read_roots(),
            vec![
                PathBuf::from("/opt/man"),
                PathBuf::from("/srv/man"),
                PathBuf::from("/usr/share/doc")
            ]
        );
        let off = MemoryConfig { docs: false, ..c };
        assert!(off.docs_read_roots().is_empty());
    }

    #[test]
    fn flags_are_words_or_digits() {
        assert!(parse_flag("X", "1").unwrap());
        assert!(!parse_flag("X", "False").unwrap());
        assert!(
            parse_flag("X", "maybe")
                .unwrap_err()
                .to_string()
                .contains("X")
        );
    }
}
