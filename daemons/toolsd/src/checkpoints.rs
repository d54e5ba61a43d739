//! Signed ledger checkpoints, as toolsd issues and checks them: the
//! signing key lives in toolsd's private state directory (mode 0600,
//! created on first use, `aios_ledger::CheckpointKey`), so only this
//! toolsd can vouch for where its chain ended.
//!
//! `aios audit checkpoint` gets the chain's end from the ledger writer and
//! signs it here; `aios audit verify --against FILE` sends the file's text,
//! whose signature and signer are checked here before the ledger is
//! verified against it (a forged or edited checkpoint is an error, not a
//! verdict on the ledger).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aios_ledger::{Checkpoint, CheckpointKey, SignedCheckpoint};
use aios_proto::{AuditQuestion, now_unix_ms};
use serde_json::Value;

use crate::audit::Audit;

/// The checkpoint key, loaded once.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    key_path: Option<PathBuf>,
    ledger: PathBuf,
    key: Mutex<Option<Arc<CheckpointKey>>>,
}

impl Checkpoints {
    /// Checkpoints of the ledger at `ledger`, signed with the key kept in
    /// `state_dir` (none without one).
    pub fn new(state_dir: Option<PathBuf>, ledger: PathBuf) -> Checkpoints {
        Checkpoints {
            key_path: state_dir.map(|d| d.join(CheckpointKey::FILE_NAME)),
            ledger,
            key: Mutex::new(None),
        }
    }

    fn key(&self) -> Result<Arc<CheckpointKey>, String> {
        // Loading is a single assignment: a poisoned lock holds a whole
        // Option.
        let mut slot = self.key.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = &*slot {
            return Ok(k.clone());
        }
        let path = self.key_path.as_ref().ok_or(
            "toolsd has no private state directory to keep its checkpoint key in; see its log",
        )?;
        let key = Arc::new(CheckpointKey::load_or_create(path).map_err(|e| e.to_string())?);
        *slot = Some(key.clone());
        Ok(key)
    }

    /// The chain's end now, signed.
    pub async fn export(&self, audit: &Audit) -> Result<Value, String> {
        let key = self.key()?;
        let v = audit.ask(AuditQuestion::Checkpoint, None).await?;
        let cp: Checkpoint = serde_json::from_value(v)
            .map_err(|e| format!("the ledger sent a checkpoint this toolsd cannot read: {e}"))?;
        let signed = key.sign(&cp, now_unix_ms(), &self.ledger);
        serde_json::to_value(signed).map_err(|e| e.to_string())
    }

    /// Check an exported checkpoint's signature and signer; then verify the
    /// ledger against it.
    pub async fn verify_against(&self, audit: &Audit, text: String) -> Result<Value, CheckError> {
        let signed =
            SignedCheckpoint::from_json(&text).map_err(|e| CheckError::Bad(e.to_string()))?;
        let key = self.key().map_err(CheckError::Unavailable)?;
        signed
            .verify(&key.verifying_key())
            .map_err(|e| CheckError::Bad(e.to_string()))?;
        audit
            .ask(AuditQuestion::VerifyAgainst(text), None)
            .await
            .map_err(CheckError::Unavailable)
    }
}

/// Why a checkpoint could not be checked.
#[derive(Debug)]
pub(crate) enum CheckError {
    /// The checkpoint itself is bad: unreadable, edited, or signed by
    /// another key.
    Bad(String),
    /// The key or the ledger is unavailable.
    Unavailable(String),
}
