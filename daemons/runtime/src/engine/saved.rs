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

use llama_cpp_2::token::LlamaToken;

use super::{Engine, KEPT, WORK, kept};
use crate::Cancel;
use crate::error::RuntimeError;

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

/// The engine's side of saved prefixes: warming queued ones in the kept
/// sequence, and loading or saving a request's fixed part.
impl Engine<'_> {
    /// Start warming the next queued prefix that is not saved yet: it is
    /// filled in the kept sequence like a kept prefix, then saved and
    /// dropped ([`Engine::warm_step`]).
    pub(super) fn next_warm(&mut self) {
        let Some(saved) = self.saved.clone() else {
            // Nowhere to save them: warming would be wasted.
            self.warm_queue.clear();
            return;
        };
        while let Some(tokens) = self.warm_queue.pop_front() {
            let ids: Vec<i32> = tokens.iter().map(|t| t.0).collect();
            let file = saved.path(&ids);
            // Held only while it is evaluated, but a request may come
            // meanwhile: half the context stays free for it.
            if file.is_file() || tokens.len() > self.ctx.n_ctx() as usize / 2 {
                continue;
            }
            let common = kept::common_prefix(&self.seqs[KEPT], &tokens);
            self.truncate_seq(KEPT, common);
            self.kept_target = tokens;
            self.warm_file = Some(file);
            return;
        }
    }

    /// The prefix being warmed is complete: save it (unless a request
    /// saved it meanwhile) and free its cells.
    pub(super) fn finish_warm(&mut self) {
        let (Some(file), Some(saved)) = (self.warm_file.take(), self.saved.clone()) else {
            return;
        };
        if !file.is_file() {
            self.save_seq(KEPT, &saved, &file);
        }
        self.kept_target.clear();
        self.truncate_seq(KEPT, 0);
    }

    /// Bring the work sequence through the prompt's fixed part `fixed`
    /// (the first tokens of `tokens`): load its saved cache, or, when it is
    /// one of the warmed prefixes, evaluate it and save it for the next
    /// request. Returns how many tokens were
    /// loaded rather than evaluated. Saving and loading are best effort:
    /// a failure only means evaluating.
    pub(super) fn through_saved(
        &mut self,
        fixed: &str,
        tokens: &[LlamaToken],
        cancel: &Cancel,
    ) -> Result<usize, RuntimeError> {
        let Some(saved) = self.saved.clone() else {
            return Ok(0);
        };
        let fixed = self.tokenize(fixed);
        let have = self.seqs[WORK].len();
        // Only a whole prefix of the prompt with something after it (the
        // last token's logits are needed), and only when the cache does not
        // hold it already.
        if fixed.len() < MIN_TOKENS
            || fixed.len() >= tokens.len()
            || !tokens.starts_with(&fixed)
            || have >= fixed.len()
        {
            return Ok(0);
        }
        let ids: Vec<i32> = fixed.iter().map(|t| t.0).collect();
        let file = saved.path(&ids);
        let wanted = self.warm_set.contains(&fingerprint(&ids));
        if !wanted && !file.is_file() {
            return Ok(0);
        }
        if file.is_file() {
            self.truncate_seq(WORK, 0);
            let id = i32::try_from(WORK).unwrap_or(0);
            match self.ctx.state_seq_load_file(&file, id, fixed.len()) {
                Ok((loaded, _)) if loaded == fixed => {
                    self.seqs[WORK] = loaded;
                    SavedPrefixes::touch(&file);
                    return Ok(fixed.len());
                }
                Ok(_) | Err(_) => {
                    tracing::warn!(file = %file.display(), "a saved prompt prefix does not match; evaluating it");
                    let _ = self
                        .ctx
                        .clear_kv_cache_seq(u32::try_from(WORK).ok(), None, None);
                    self.seqs[WORK].clear();
                    let _ = std::fs::remove_file(&file);
                }
            }
        }
        let have = self.seqs[WORK].len();
        self.eval(WORK, &fixed[have..], cancel)?;
        self.save_seq(WORK, &saved, &file);
        Ok(0)
    }

    /// Write sequence `seq` (exactly a prompt's fixed part) to `file`,
    /// through a temporary file renamed over it: a crash or a full disk
    /// never leaves half a cache.
    fn save_seq(&self, seq: usize, saved: &SavedPrefixes, file: &std::path::Path) {
        let tmp = file.with_extension("kv.tmp");
        let id = i32::try_from(seq).unwrap_or(0);
        let result = saved
            .ensure_dir()
            .map_err(|e| e.to_string())
            .and_then(|_| {
                self.ctx
                    .state_seq_save_file(&tmp, id, &self.seqs[seq])
                    .map_err(|e| e.to_string())
            })
            .and_then(|_| std::fs::rename(&tmp, file).map_err(|e| e.to_string()));
        match result {
            Ok(()) => {
                tracing::debug!(file = %file.display(), tokens = self.seqs[seq].len(), "saved a prompt prefix");
                saved.evict();
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                tracing::warn!(file = %file.display(), "cannot save a prompt prefix: {e}");
            }
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
