//! The audit ledger: an append-only, hash-chained record of every call
//! toolsd decides on, in its own SQLite file (WAL, `synchronous=FULL`).
//!
//! toolsd appends an intent [`AuditEntry`](aios_domain::AuditEntry) before a
//! change runs and an outcome after it, through one [`Ledger`]; if the
//! append fails the call does not run. `aios audit log`, `aios why` and
//! `aios audit verify` read it back with [`Ledger::query`], [`Ledger::why`]
//! and [`Ledger::verify`].
//!
//! Design decisions, and why:
//! - Each record's hash covers the previous hash, its id and the canonical
//!   JSON of its entry ([`entry_hash`]), so an edited, deleted, inserted or
//!   reordered entry breaks the chain at that point. The canonical text is
//!   stored as is and verification hashes the stored bytes: no
//!   re-serialisation, so old entries verify under any future encoder.
//! - Ids are assigned by the ledger (1, 2, 3…), not by SQLite, so a gap
//!   is itself evidence.
//! - A `head` row, updated in the append's transaction, records where the
//!   chain ends, so deleting the last entries is detected unless the head
//!   is rewritten too; an exported [`Checkpoint`] closes that gap for
//!   everything up to it. Exported as a [`SignedCheckpoint`] (ed25519,
//!   with toolsd's [`CheckpointKey`]), it cannot be forged or edited.
//! - SQL triggers refuse `UPDATE` and `DELETE`; that is defence in depth
//!   only, since whoever can write the file can drop them. `verify` is the
//!   check.
//! - The crate knows nothing of tokio, tonic or the tool catalogue: it is
//!   plain synchronous storage that toolsd drives from its own thread.
//!
//! See `docs/AUDIT.md` for the schema and what verification can and cannot
//! detect.

mod canonical;
mod error;
mod ledger;
mod query;
mod schema;
mod signed;
mod verify;

pub use canonical::{GENESIS_HASH, canonical_entry, entry_hash, hash_record};
pub use error::{LedgerError, LedgerErrorKind};
pub use ledger::{Checkpoint, Durability, Ledger};
pub use query::Query;
pub use schema::{APPLICATION_ID, LATEST_VERSION};
pub use signed::{CHECKPOINT_FORMAT, CheckpointKey, SignedCheckpoint};

#[cfg(test)]
mod tests {
    /// toolsd moves the ledger into its own thread or behind a mutex.
    #[test]
    fn ledger_is_send() {
        fn send<T: Send>() {}
        send::<crate::Ledger>();
    }
}
