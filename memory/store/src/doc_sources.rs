//! The files a collection is fed from (the `docs` collection: man pages and READMEs).
//!
//! One row per file records its path, modification time and size as last read, and the
//! documents it became (keys `<prefix>#0` … `<prefix>#<chunks - 1>`). The ingester compares
//! a fresh scan with these rows and changes only what differs. A file's documents, their
//! queue entries and its row are written in one transaction, so after `kill -9` a file is
//! either wholly in its old state or wholly in its new one, and a restart re-reads it at
//! most once more.

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use crate::documents::NewDoc;
use crate::error::Result;
use crate::store::Store;

/// The collection the machine's own documentation is indexed in. Its index updates are
/// applied after every other collection's ([`Store::queue_batch`]): a backlog of thousands
/// of man pages must not delay the remembering of a conversation.
pub const DOCS_COLLECTION: &str = "docs";

/// One source file as last read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocSource {
    /// The file's path.
    pub path: String,
    /// Its modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Its size in bytes.
    pub size: i64,
    /// Its documents' keys are `<prefix>#<i>`.
    pub prefix: String,
    /// How many documents it became.
    pub chunks: u32,
}

/// A file (re)read: its row and its documents (keys `<prefix>#<i>`, in order).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceUpdate {
    /// The row to record.
    pub source: DocSource,
    /// Its documents.
    pub docs: Vec<NewDoc>,
}

/// Key of chunk `i` of a source with `prefix`.
pub fn chunk_key(prefix: &str, i: u32) -> String {
    format!("{prefix}#{i}")
}

fn delete_chunks(
    tx: &Transaction<'_>,
    collection: &str,
    prefix: &str,
    chunks: u32,
) -> rusqlite::Result<()> {
    let mut del =
        tx.prepare_cached("DELETE FROM documents WHERE collection = ?1 AND key = ?2 RETURNING id")?;
    let mut enqueue = tx.prepare_cached(
        "INSERT INTO index_queue (collection, doc_id, op) VALUES (?1, ?2, 'delete')",
    )?;
    for i in 0..chunks {
        let id: Option<i64> = del
            .query_row(params![collection, chunk_key(prefix, i)], |r| r.get(0))
            .optional()?;
        if let Some(id) = id {
            enqueue.execute(params![collection, id])?;
        }
    }
    Ok(())
}

fn old_source(
    tx: &Transaction<'_>,
    collection: &str,
    path: &str,
) -> rusqlite::Result<Option<(String, u32)>> {
    tx.prepare_cached("SELECT prefix, chunks FROM doc_sources WHERE collection = ?1 AND path = ?2")?
        .query_row(params![collection, path], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

impl Store {
    /// Every source file of `collection`, by path.
    pub fn doc_sources(&self, collection: &str) -> Result<Vec<DocSource>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT path, mtime_ns, size, prefix, chunks FROM doc_sources
                 WHERE collection = ?1 ORDER BY path",
            )
            .map_err(self.err("list documentation sources"))?;
        stmt.query_map([collection], |r| {
            Ok(DocSource {
                path: r.get(0)?,
                mtime_ns: r.get(1)?,
                size: r.get(2)?,
                prefix: r.get(3)?,
                chunks: r.get(4)?,
            })
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(self.err("list documentation sources"))
    }

    /// In one transaction: forgets the sources at `removed` (their documents are deleted
    /// and queued for removal from the indexes), then records each of `updated`, replacing
    /// the documents it had with its new ones (queued for indexing).
    pub fn sync_doc_sources(
        &self,
        collection: &str,
        removed: &[String],
        updated: &[SourceUpdate],
    ) -> Result<()> {
        let doing = format!(
            "record {} changed and {} removed documentation files in collection {collection:?}",
            updated.len(),
            removed.len()
        );
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err(&doing))?;
        let run = |tx: &Transaction<'_>| -> rusqlite::Result<()> {
            for path in removed {
                if let Some((prefix, chunks)) = old_source(tx, collection, path)? {
                    delete_chunks(tx, collection, &prefix, chunks)?;
                    tx.prepare_cached(
                        "DELETE FROM doc_sources WHERE collection = ?1 AND path = ?2",
                    )?
                    .execute(params![collection, path])?;
                }
            }
            let mut insert = tx.prepare_cached(
                "INSERT INTO documents (collection, key, text, metadata_json, embedding, unix_ms)
                 VALUES (?1, ?2, ?3, ?4, NULL, ?5)
                 ON CONFLICT (collection, key) DO UPDATE SET text = excluded.text,
                     metadata_json = excluded.metadata_json, embedding = NULL, unix_ms = excluded.unix_ms
                 RETURNING id",
            )?;
            let mut enqueue = tx.prepare_cached(
                "INSERT INTO index_queue (collection, doc_id, op) VALUES (?1, ?2, 'put')",
            )?;
            let mut record = tx.prepare_cached(
                "INSERT INTO doc_sources (collection, path, mtime_ns, size, prefix, chunks)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (collection, path) DO UPDATE SET mtime_ns = excluded.mtime_ns,
                     size = excluded.size, prefix = excluded.prefix, chunks = excluded.chunks",
            )?;
            for u in updated {
                let s = &u.source;
                if let Some((prefix, chunks)) = old_source(tx, collection, &s.path)? {
                    delete_chunks(tx, collection, &prefix, chunks)?;
                }
                for d in &u.docs {
                    let id: i64 = insert.query_row(
                        params![collection, d.key, d.text, d.metadata_json, d.unix_ms],
                        |r| r.get(0),
                    )?;
                    enqueue.execute(params![collection, id])?;
                }
                record.execute(params![
                    collection, s.path, s.mtime_ns, s.size, s.prefix, s.chunks
                ])?;
            }
            Ok(())
        };
        run(&tx).map_err(self.err(&doing))?;
        tx.commit().map_err(self.err(&doing))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn update(path: &str, prefix: &str, texts: &[&str], mtime_ns: i64) -> SourceUpdate {
        SourceUpdate {
            source: DocSource {
                path: path.into(),
                mtime_ns,
                size: 10,
                prefix: prefix.into(),
                chunks: texts.len() as u32,
            },
            docs: texts
                .iter()
                .enumerate()
                .map(|(i, t)| NewDoc {
                    key: chunk_key(prefix, i as u32),
                    text: (*t).into(),
                    metadata_json: "{}".into(),
                    embedding: None,
                    unix_ms: 1,
                })
                .collect(),
        }
    }

    fn keys(s: &Store) -> Vec<String> {
        s.documents_page(DOCS_COLLECTION, 0, 100)
            .unwrap()
            .into_iter()
            .map(|d| d.key)
            .collect()
    }

    #[test]
    fn a_reread_file_replaces_its_chunks_and_a_removed_one_loses_them() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("m.db")).unwrap();
        s.create_collection(DOCS_COLLECTION, "m", 4, 0).unwrap();
        s.sync_doc_sources(
            DOCS_COLLECTION,
            &[],
            &[
                update("/m/ls.1", "man:ls.1", &["a", "b", "c"], 1),
                update("/m/cp.1", "man:cp.1", &["d"], 1),
            ],
        )
        .unwrap();
        assert_eq!(keys(&s).len(), 4);
        // Edited to two chunks: the third goes.
        s.sync_doc_sources(
            DOCS_COLLECTION,
            &["/m/cp.1".into(), "/never/seen".into()],
            &[update("/m/ls.1", "man:ls.1", &["a2", "b2"], 2)],
        )
        .unwrap();
        let mut k = keys(&s);
        k.sort();
        assert_eq!(k, vec!["man:ls.1#0", "man:ls.1#1"]);
        let rows = s.doc_sources(DOCS_COLLECTION).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].mtime_ns, rows[0].chunks), (2, 2));
        // Every change is queued for the indexes: 4 puts, 3 deletes + 1 delete, 2 puts.
        let q = s.queue_batch(100).unwrap();
        assert_eq!(q.len(), 4 + 4 + 2);
        // Deleting the collection forgets its files, so they would be read again.
        s.delete_collection(DOCS_COLLECTION).unwrap();
        s.create_collection(DOCS_COLLECTION, "m", 4, 0).unwrap();
        assert!(s.doc_sources(DOCS_COLLECTION).unwrap().is_empty());
    }

    #[test]
    fn documentation_is_indexed_after_every_other_collection() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("m.db")).unwrap();
        s.create_collection(DOCS_COLLECTION, "m", 4, 0).unwrap();
        s.create_collection("notes", "m", 4, 0).unwrap();
        s.sync_doc_sources(
            DOCS_COLLECTION,
            &[],
            &[update("/m/ls.1", "man:ls.1", &["a", "b", "c"], 1)],
        )
        .unwrap();
        let note = NewDoc {
            key: "n".into(),
            text: "later but first".into(),
            metadata_json: "{}".into(),
            embedding: None,
            unix_ms: 1,
        };
        s.write_documents("notes", &[note], crate::WriteMode::Add)
            .unwrap();
        let q = s.queue_batch(2).unwrap();
        let order: Vec<&str> = q.iter().map(|i| i.collection.as_str()).collect();
        assert_eq!(order, vec!["notes", DOCS_COLLECTION]);
        assert!(
            q[1].seq < q[0].seq,
            "docs keep their own order after the others"
        );
        s.ack_queue(&q.iter().map(|i| i.seq).collect::<Vec<_>>())
            .unwrap();
        let rest = s.queue_batch(10).unwrap();
        assert_eq!(rest.len(), 2);
        assert!(rest[0].seq < rest[1].seq);
    }
}
