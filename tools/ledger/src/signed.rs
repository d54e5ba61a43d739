//! Signed checkpoints: the chain's end ([`Checkpoint`]), its time and the
//! ledger's path, signed with an ed25519 key that toolsd keeps in its
//! private state directory ([`CheckpointKey`]).
//!
//! Exported (`aios audit checkpoint --out FILE`) and kept where an attacker
//! who can rewrite the ledger cannot reach, a [`SignedCheckpoint`] lets
//! `aios audit verify --against FILE` detect a ledger truncated or
//! rewritten below it ([`crate::Ledger::verify_against`]); the signature
//! proves the file was issued by that toolsd and not edited since, so a
//! forged checkpoint cannot vouch for a rewritten chain.
//!
//! The signed bytes are a fixed text layout ([`SignedCheckpoint::message`]),
//! not JSON, so a verifier in any language reproduces them without a
//! canonical-JSON encoder.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{LedgerError, LedgerErrorKind};
use crate::ledger::Checkpoint;

/// The `format` of every checkpoint this build writes and reads.
pub const CHECKPOINT_FORMAT: &str = "aios-ledger-checkpoint/1";

/// An exported checkpoint: where the chain ended, when, and a signature
/// over both by the exporting toolsd's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedCheckpoint {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// The last entry's id, which is also the number of entries.
    pub entries: u64,
    /// That entry's hash.
    pub head_hash: String,
    /// When the checkpoint was taken, Unix milliseconds.
    pub unix_ms: i64,
    /// The ledger file it was taken from (for people; signed too).
    pub ledger: String,
    /// The signer's ed25519 public key, hex.
    pub public_key: String,
    /// The ed25519 signature over [`SignedCheckpoint::message`], hex.
    pub signature: String,
}

fn invalid(message: impl Into<String>) -> LedgerError {
    LedgerError::new(LedgerErrorKind::Invalid, message)
}

impl SignedCheckpoint {
    /// The bytes the signature covers: the format, then the entries, head
    /// hash, time and ledger path, one per line.
    pub fn message(&self) -> Vec<u8> {
        format!(
            "{}\n{}\n{}\n{}\n{}",
            self.format, self.entries, self.head_hash, self.unix_ms, self.ledger
        )
        .into_bytes()
    }

    /// The checkpoint to verify the ledger against.
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            id: self.entries,
            hash: self.head_hash.clone(),
        }
    }

    /// Parse an exported checkpoint file's text.
    pub fn from_json(text: &str) -> Result<SignedCheckpoint, LedgerError> {
        serde_json::from_str(text).map_err(|e| {
            invalid(format!(
                "not an aiOS ledger checkpoint ({e}); give a file written by `aios audit checkpoint --out`"
            ))
        })
    }

    /// The file's text: pretty JSON and a final newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Check the signature, and that the signer is `trusted` (the key of
    /// the toolsd that verifies, so a checkpoint signed by any other key,
    /// one an attacker made, is refused). Returns the checkpoint.
    pub fn verify(&self, trusted: &VerifyingKey) -> Result<Checkpoint, LedgerError> {
        if self.format != CHECKPOINT_FORMAT {
            return Err(invalid(format!(
                "checkpoint format {:?} is not {CHECKPOINT_FORMAT:?}; this aiOS cannot check it",
                self.format
            )));
        }
        let key = hex_array::<32>(&self.public_key, "public_key")?;
        let key = VerifyingKey::from_bytes(&key).map_err(|e| {
            invalid(format!(
                "the checkpoint's public_key is not an ed25519 key ({e})"
            ))
        })?;
        let sig = Signature::from_bytes(&hex_array::<64>(&self.signature, "signature")?);
        key.verify_strict(&self.message(), &sig).map_err(|_| {
            invalid(
                "the checkpoint's signature does not match its contents: the file was edited after it \
                 was exported; do not trust it",
            )
        })?;
        if key != *trusted {
            return Err(invalid(format!(
                "the checkpoint was signed by key {}, not by this toolsd's key {}: it was exported \
                 elsewhere or forged, so it cannot vouch for this ledger",
                self.public_key,
                hex::encode(trusted.as_bytes())
            )));
        }
        Ok(self.checkpoint())
    }
}

fn hex_array<const N: usize>(text: &str, field: &str) -> Result<[u8; N], LedgerError> {
    let bytes = hex::decode(text.trim())
        .map_err(|e| invalid(format!("the checkpoint's {field} is not hex ({e})")))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        invalid(format!(
            "the checkpoint's {field} has {} bytes; an ed25519 {field} has {N}",
            b.len()
        ))
    })
}

/// toolsd's checkpoint signing key: 32 random bytes (hex) in a file of
/// mode 0600 owned by toolsd's user, created on first use.
pub struct CheckpointKey {
    path: PathBuf,
    key: SigningKey,
}

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("CheckpointKey")
            .field("path", &self.path)
            .field("public_key", &self.public_hex())
            .finish()
    }
}

impl CheckpointKey {
    /// The key file's name in toolsd's state directory.
    pub const FILE_NAME: &'static str = "checkpoint.key";

    /// Load the key at `path`, creating it (mode 0600, never through a
    /// symbolic link) if it does not exist. A key file that others may
    /// read or write, or that is not a regular file, is refused: a key
    /// someone else could have read proves nothing.
    pub fn load_or_create(path: &Path) -> Result<CheckpointKey, LedgerError> {
        let io = |doing: &str, e: std::io::Error| {
            LedgerError::new(
                LedgerErrorKind::Io,
                format!("cannot {doing} checkpoint key {}: {e}", path.display()),
            )
        };
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc_o_nofollow())
            .open(path)
        {
            Ok(mut f) => {
                let mut seed = [0u8; 32];
                File::open("/dev/urandom")
                    .and_then(|mut r| r.read_exact(&mut seed))
                    .map_err(|e| io("make random bytes for", e))?;
                f.write_all(hex::encode(seed).as_bytes())
                    .and_then(|()| f.sync_all())
                    .map_err(|e| {
                        let _ = std::fs::remove_file(path);
                        io("write", e)
                    })?;
                return Ok(CheckpointKey {
                    path: path.to_path_buf(),
                    key: SigningKey::from_bytes(&seed),
                });
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io("create", e)),
        }
        let mut f = OpenOptions::new()
            .read(true)
            .custom_flags(libc_o_nofollow())
            .open(path)
            .map_err(|e| io("open", e))?;
        let meta = f.metadata().map_err(|e| io("inspect", e))?;
        let own = nix_geteuid();
        if !meta.is_file() || meta.permissions().mode() & 0o077 != 0 || meta.uid() != own {
            return Err(LedgerError::new(
                LedgerErrorKind::Io,
                format!(
                    "checkpoint key {} must be a regular file of mode 0600 owned by uid {own}; it is \
                     not, so it may have been read or replaced: move it away (a new key is made) and \
                     export a new checkpoint",
                    path.display()
                ),
            ));
        }
        let mut text = String::new();
        f.read_to_string(&mut text).map_err(|e| io("read", e))?;
        let seed = hex::decode(text.trim())
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| {
                LedgerError::new(
                    LedgerErrorKind::Corrupt,
                    format!(
                        "checkpoint key {} does not hold 32 hex-encoded bytes; move it away (a new key \
                         is made) and export a new checkpoint",
                        path.display()
                    ),
                )
            })?;
        Ok(CheckpointKey {
            path: path.to_path_buf(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The public half, to check signatures with.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The public half, hex.
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().as_bytes())
    }

    /// Sign `checkpoint`, taken at `unix_ms` from the ledger at `ledger`.
    pub fn sign(&self, checkpoint: &Checkpoint, unix_ms: i64, ledger: &Path) -> SignedCheckpoint {
        let mut signed = SignedCheckpoint {
            format: CHECKPOINT_FORMAT.to_string(),
            entries: checkpoint.id,
            head_hash: checkpoint.hash.clone(),
            unix_ms,
            ledger: ledger.display().to_string(),
            public_key: self.public_hex(),
            signature: String::new(),
        };
        signed.signature = hex::encode(self.key.sign(&signed.message()).to_bytes());
        signed
    }
}

/// `O_NOFOLLOW`: a key path that is a symbolic link is refused.
fn libc_o_nofollow() -> i32 {
    nix::libc::O_NOFOLLOW
}

fn nix_geteuid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            id: 42,
            hash: "ab".repeat(32),
        }
    }

    #[test]
    fn a_key_is_created_0600_once_and_reused() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(CheckpointKey::FILE_NAME);
        let a = CheckpointKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = CheckpointKey::load_or_create(&path).unwrap();
        assert_eq!(a.public_hex(), b.public_hex());
        assert!(!format!("{a:?}").contains(&std::fs::read_to_string(&path).unwrap()));
    }

    #[test]
    fn a_readable_or_linked_key_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("k");
        CheckpointKey::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = CheckpointKey::load_or_create(&path).unwrap_err();
        assert!(e.to_string().contains("mode 0600"), "{e}");
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(CheckpointKey::load_or_create(&link).is_err());
        std::fs::write(d.path().join("bad"), "not hex").unwrap();
        std::fs::set_permissions(d.path().join("bad"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        let e = CheckpointKey::load_or_create(&d.path().join("bad")).unwrap_err();
        assert_eq!(e.kind(), LedgerErrorKind::Corrupt);
    }

    #[test]
    fn a_signed_checkpoint_round_trips_and_any_edit_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let key = CheckpointKey::load_or_create(&d.path().join("k")).unwrap();
        let signed = key.sign(
            &checkpoint(),
            1_700_000_000_000,
            Path::new("/var/lib/aios/l"),
        );
        let back = SignedCheckpoint::from_json(&signed.to_json()).unwrap();
        assert_eq!(back.verify(&key.verifying_key()).unwrap(), checkpoint());

        let mut fewer = back.clone();
        fewer.entries = 41;
        let e = fewer.verify(&key.verifying_key()).unwrap_err();
        assert!(e.to_string().contains("edited"), "{e}");
        let mut rehashed = back.clone();
        rehashed.head_hash = "cd".repeat(32);
        assert!(rehashed.verify(&key.verifying_key()).is_err());
        let mut later = back.clone();
        later.unix_ms += 1;
        assert!(later.verify(&key.verifying_key()).is_err());

        // Signed correctly, but by another key: refused too.
        let other = CheckpointKey::load_or_create(&d.path().join("other")).unwrap();
        let forged = other.sign(&checkpoint(), 1, Path::new("/x"));
        let e = forged.verify(&key.verifying_key()).unwrap_err();
        assert!(e.to_string().contains("not by this toolsd's key"), "{e}");

        assert!(SignedCheckpoint::from_json("{}").is_err());
        let mut wrong = back;
        wrong.format = "something/2".into();
        assert!(wrong.verify(&key.verifying_key()).is_err());
    }
}
