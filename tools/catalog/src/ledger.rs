//! The audit ledger as the `audit.*` tools see it: a narrow trait the
//! executor implements over its ledger, so this crate reads the ledger
//! without knowing SQLite or the executor.

use aios_domain::AuditQuestion;
use futures::future::BoxFuture;
use serde_json::Value;

/// Answers questions about the audit ledger.
pub trait AuditReader: Send + Sync + std::fmt::Debug {
    /// Records (or a verify report) as JSON; with `only_uid`, records of
    /// calls acting for that uid alone.
    fn ask<'a>(
        &'a self,
        q: AuditQuestion,
        only_uid: Option<u32>,
    ) -> BoxFuture<'a, Result<Value, String>>;
}
