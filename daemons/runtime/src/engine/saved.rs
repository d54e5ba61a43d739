//! Saved prompt prefixes: the KV cache of a prompt's fixed part (the
//! instructions and the tool list a request names) written to a file the
//! first time it is evaluated, and loaded by later requests with the same
//! fixed part instead of evaluating it again.
//!
//! Loading is a copy of about 12 KiB per token for the 0.5B model (tens of
//! milliseconds for a 2,000-token tool list), where evaluating the same
//! tokens takes seconds on two cores. Unlike the kept sequence
//! ([`super::kept`]), a saved prefix takes no cells while unused: every
//! cell in the cache is attended over by every token, so a long prefix
//! held beside requests slows each of them down.
//!
//! Files are named after the model and a fingerprint of the prefix's
//! tokens; the tokens are stored in the file too, and a load whose tokens
//! differ (a fingerprint collision, another build) is refused. At most
//! [`CAPACITY`] files are kept, the least recently used removed first.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Saved prefixes kept per model: a few tool groups and their variants.
pub(super) const CAPACITY: usize = 24;

/// Shortest prefix worth a file: below this, evaluating is as quick as
/// reading it back.
pub(super) const MIN_TOKENS: usize = 64;

/// Where one model's saved prefixes live.
#[derive(Debug, Clone)]
pub(super) struct SavedPrefixes {
    dir: PathBuf,
    /// The model file's stem and size: another model's cache is garbage.
    tag: String,
}

impl SavedPrefixes {
    /// Prefixes of the model at `model`, under `dir`.
    pub(super) fn new(dir: &Path, model: &Path) -> Self {
        let size = std::fs::metadata(model).map_or(0, |m| m.len());
        let stem = model
            .file_stem()
            .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
        SavedPrefixes {
            dir: dir.join("prefixes"),
            tag: format!("{stem}-{size}"),
        }
    }

    /// The file for the prefix of these token ids.
    pub(super) fn path(&self, tokens: &[i32]) -> PathBuf {
        self.dir
            .join(format!("{}-{:016x}.kv", self.tag, fingerprint(tokens)))
    }

    /// The directory, created if missing (private: a prompt may hold what
    /// a user said).
    pub(super) fn ensure_dir(&self) -> std::io::Result<&Path> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        Ok(&self.dir)
    }

    /// Mark `file` as just used, so eviction keeps it.
    pub(super) fn touch(file: &Path) {
        if let Ok(f) = std::fs::File::options().append(true).open(file) {
            let _ = f.set_modified(SystemTime::now());
        }
    }

    /// Remove the least recently used files of this model beyond
    /// [`CAPACITY`].
    pub(super) fn evict(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mine = format!("{}-", self.tag);
        let files: Vec<(PathBuf, SystemTime)> = entries
            .flatten()
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with(&mine) && name.ends_with(".kv")
            })
            .filter_map(|e| {
                let modified = e.metadata().and_then(|m| m.modified()).ok()?;
                Some((e.path(), modified))
            })
            .collect();
        for file in victims(files, CAPACITY) {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// FNV-1a over the token ids and their count.
pub(super) fn fingerprint(tokens: &[i32]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in tokens
        .iter()
        .flat_map(|t| t.to_le_bytes())
        .chain((tokens.len() as u64).to_le_bytes())
    {
        h ^= u64::from(byte);
        h = h.wrapping_mul(PRIME);
    }
    h
}

/// The files to remove so that at most `cap` remain: the oldest first.
pub(super) fn victims(mut files: Vec<(PathBuf, SystemTime)>, cap: usize) -> Vec<PathBuf> {
    if files.len() <= cap {
        return Vec::new();
    }
    // Newest first; ties by name, so the choice does not depend on the
    // directory's order.
    files.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    files.split_off(cap).into_iter().map(|(p, _)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fingerprints_tell_order_and_length_apart() {
        assert_ne!(fingerprint(&[1, 2, 3]), fingerprint(&[3, 2, 1]));
        assert_ne!(fingerprint(&[1, 2]), fingerprint(&[1, 2, 0]));
        assert_ne!(fingerprint(&[]), fingerprint(&[0]));
        assert_eq!(fingerprint(&[7, 8]), fingerprint(&[7, 8]));
    }

    #[test]
    fn eviction_removes_the_least_recently_used_beyond_the_cap() {
        let t = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let files = vec![
            (PathBuf::from("b"), t(20)),
            (PathBuf::from("a"), t(10)),
            (PathBuf::from("c"), t(30)),
            (PathBuf::from("d"), t(5)),
        ];
        assert_eq!(
            victims(files.clone(), 2),
            vec![PathBuf::from("a"), PathBuf::from("d")]
        );
        assert!(victims(files, 4).is_empty());
    }

    #[test]
    fn paths_carry_the_model_and_differ_per_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("tiny.gguf");
        std::fs::write(&model, b"12345").unwrap();
        let s = SavedPrefixes::new(dir.path(), &model);
        let a = s.path(&[1, 2, 3]);
        assert!(
            a.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("tiny-5-")
        );
        assert_ne!(a, s.path(&[1, 2, 4]));
    }
}
