//! The tantivy schema of the text side and the handles of its fields.

use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, JsonObjectOptions, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions,
};

use crate::error::{Error, ErrorKind, Result};

/// Analyzer of the `text` field: tantivy's `en_stem` (simple tokenizer, long tokens dropped,
/// lower case, Snowball English stemmer), so "backups" finds "backup" and "rotated" finds
/// "rotate".
const TEXT_TOKENIZER: &str = "en_stem";

/// The schema's field handles.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    pub(crate) id: Field,
    pub(crate) key: Field,
    pub(crate) text: Field,
    pub(crate) kind: Field,
    pub(crate) host: Field,
    pub(crate) user: Field,
    pub(crate) session: Field,
    pub(crate) unix_ms: Field,
    pub(crate) tags: Field,
    pub(crate) metadata: Field,
    pub(crate) metadata_src: Field,
}

pub(super) fn schema() -> Schema {
    let mut b = Schema::builder();
    b.add_u64_field("id", INDEXED | FAST | STORED);
    b.add_text_field("key", STRING | STORED);
    let text = TextFieldIndexing::default()
        .set_tokenizer(TEXT_TOKENIZER)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    b.add_text_field(
        "text",
        TextOptions::default()
            .set_indexing_options(text)
            .set_stored(),
    );
    for name in ["kind", "host", "user", "session"] {
        b.add_text_field(name, STRING | FAST | STORED);
    }
    b.add_i64_field("unix_ms", INDEXED | FAST | STORED);
    b.add_text_field("tags", STRING | FAST | STORED);
    // Raw tokenizer: metadata strings match whole and case-sensitively, as in ChromaDB.
    let raw = TextFieldIndexing::default()
        .set_tokenizer("raw")
        .set_index_option(IndexRecordOption::Basic);
    b.add_json_field(
        "metadata",
        JsonObjectOptions::default()
            .set_indexing_options(raw)
            .set_fast("raw"),
    );
    // The metadata as given: the JSON field normalises 5.0 to 5, the caller gets back what it sent.
    b.add_text_field("metadata_src", STORED);
    b.build()
}

impl Fields {
    pub(super) fn of(schema: &Schema) -> Result<Self> {
        let get = |name: &str| {
            schema.get_field(name).map_err(|_| {
                Error::new(
                    ErrorKind::Corrupt,
                    format!("text index lacks field `{name}`: not an aios-search index"),
                )
            })
        };
        Ok(Self {
            id: get("id")?,
            key: get("key")?,
            text: get("text")?,
            kind: get("kind")?,
            host: get("host")?,
            user: get("user")?,
            session: get("session")?,
            unix_ms: get("unix_ms")?,
            tags: get("tags")?,
            metadata: get("metadata")?,
            metadata_src: get("metadata_src")?,
        })
    }
}
