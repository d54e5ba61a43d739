//! `manifest.json`: what each model directory holds (name, file, sha256,
//! size, licence, context length, chat template, where it came from), so
//! `aios model list` and the runtime can say what a file is without
//! re-hashing half a gigabyte.

use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::catalog::ModelSpec;
use crate::error::{ModelError, ModelErrorKind};

/// The manifest's file name inside a model directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// One model present in a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The name users type.
    pub name: String,
    /// File name inside the directory.
    pub file: String,
    /// sha256 of the file (lowercase hex), verified when it was fetched.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// SPDX licence, when known.
    #[serde(default)]
    pub license: String,
    /// Trained context length, when known.
    #[serde(default)]
    pub context_length: u32,
    /// Which chat template applies.
    #[serde(default)]
    pub chat_template: String,
    /// Where it came from (`pypi:…`, a URL).
    #[serde(default)]
    pub source: String,
}

impl From<&ModelSpec> for ManifestEntry {
    fn from(spec: &ModelSpec) -> Self {
        let source = spec
            .parts
            .first()
            .map(|p| {
                format!(
                    "pypi:{}=={} ({} parts)",
                    p.package,
                    p.version,
                    spec.parts.len()
                )
            })
            .unwrap_or_default();
        ManifestEntry {
            name: spec.name.to_string(),
            file: spec.file_name(),
            sha256: spec.sha256.to_string(),
            size: spec.size,
            license: spec.license.to_string(),
            context_length: spec.context_length,
            chat_template: spec.chat_template.to_string(),
            source,
        }
    }
}

/// A directory's manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Models, sorted by name.
    pub models: Vec<ManifestEntry>,
}

impl Manifest {
    /// Parse a manifest's text.
    pub fn parse(text: &str) -> Result<Manifest, ModelError> {
        serde_json::from_str(text).map_err(|e| {
            ModelError::new(
                ModelErrorKind::Manifest,
                format!("{MANIFEST_FILE} is not a valid manifest ({e}); delete it and pull again"),
            )
        })
    }

    /// The manifest of `dir`; empty when there is none yet.
    pub fn read(dir: &Path) -> Result<Manifest, ModelError> {
        let path = dir.join(MANIFEST_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => Self::parse(&text)
                .map_err(|e| ModelError::new(e.kind(), format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(ModelError::io(
                format!("cannot read {}", path.display()),
                &e,
            )),
        }
    }

    /// The entry called `name`.
    pub fn get(&self, name: &str) -> Option<&ManifestEntry> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Add `entry`, replacing any entry of the same name; keeps the order.
    pub fn upsert(&mut self, entry: ManifestEntry) {
        self.models.retain(|m| m.name != entry.name);
        self.models.push(entry);
        self.models.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Write to `dir` atomically (a temporary file renamed over the old one),
    /// so a crash leaves the old manifest or the new one, never half of one.
    pub fn write(&self, dir: &Path) -> Result<(), ModelError> {
        let path = dir.join(MANIFEST_FILE);
        let tmp = dir.join(format!(".{MANIFEST_FILE}.tmp"));
        let mut text = serde_json::to_string_pretty(self).map_err(|e| {
            ModelError::new(
                ModelErrorKind::Manifest,
                format!("cannot encode the manifest: {e}"),
            )
        })?;
        text.push('\n');
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            ModelError::io(format!("cannot write {}", path.display()), &e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{MODELS, spec};

    #[test]
    fn upsert_replaces_and_sorts() {
        let mut m = Manifest::default();
        m.upsert(ManifestEntry::from(spec("smollm2-135m").unwrap()));
        m.upsert(ManifestEntry::from(spec("qwen2.5-coder-0.5b").unwrap()));
        let mut again = ManifestEntry::from(spec("smollm2-135m").unwrap());
        again.source = "https://example.test/x.gguf".into();
        m.upsert(again);
        let names: Vec<_> = m.models.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["qwen2.5-coder-0.5b", "smollm2-135m"]);
        assert_eq!(
            m.get("smollm2-135m").unwrap().source,
            "https://example.test/x.gguf"
        );
    }

    #[test]
    fn round_trips_through_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), Manifest::default());
        let mut m = Manifest::default();
        for s in MODELS {
            m.upsert(s.into());
        }
        m.write(dir.path()).unwrap();
        assert_eq!(Manifest::read(dir.path()).unwrap(), m);
    }

    #[test]
    fn a_broken_manifest_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(MANIFEST_FILE), "{not json").unwrap();
        let e = Manifest::read(dir.path()).unwrap_err();
        assert_eq!(e.kind(), ModelErrorKind::Manifest);
        assert!(e.to_string().contains("delete it"), "{e}");
    }

    #[test]
    fn older_manifests_without_new_fields_parse() {
        let m =
            Manifest::parse(r#"{"models":[{"name":"a","file":"a.gguf","sha256":"00","size":1}]}"#)
                .unwrap();
        assert_eq!(m.models[0].license, "");
    }
}
