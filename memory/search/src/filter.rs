//! Filters: ChromaDB `where` / `where_document` parsed from JSON exactly as ChromaDB spells
//! them, plus the fixed-field [`Filter`] memoryd uses; all compiled to tantivy queries so they
//! apply before ranking on both the text and the vector side.
//!
//! Semantics that differ from, or pin down, ChromaDB:
//! - `$ne` and `$nin` match documents that lack the key (they are the complement of `$eq`/`$in`).
//! - `where` `$contains` matches a metadata value equal to the operand, or an array holding it.
//! - `where_document` `$contains` matches **words** (a phrase of tokens, case-insensitive),
//!   not arbitrary substrings as ChromaDB does: `"nginx"` matches "Nginx config" but `"ngin"`
//!   does not.

use std::ops::Bound;

use serde_json::Value;
use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::tokenizer::TextAnalyzer;

use crate::error::{Error, ErrorKind, Result};
use crate::index::Fields;

/// A scalar operand of a `where` comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A string, matched exactly (case-sensitive).
    Str(String),
    /// Any JSON number; ints and floats compare numerically (`5` equals `5.0`).
    Num(f64),
    /// A boolean.
    Bool(bool),
}

/// A comparison operator of a `where` clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `$eq`
    Eq,
    /// `$ne`
    Ne,
    /// `$gt`
    Gt,
    /// `$gte`
    Gte,
    /// `$lt`
    Lt,
    /// `$lte`
    Lte,
}

/// A parsed ChromaDB `where` metadata filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Where {
    /// `$and`: every clause holds.
    And(Vec<Where>),
    /// `$or`: at least one clause holds.
    Or(Vec<Where>),
    /// `{key: {$op: value}}` (and the shorthand `{key: value}` for `$eq`).
    Cmp {
        /// Metadata key.
        key: String,
        /// Operator.
        op: CmpOp,
        /// Operand.
        value: Scalar,
    },
    /// `$in` (or `$nin` when `negate`).
    In {
        /// Metadata key.
        key: String,
        /// Accepted values.
        values: Vec<Scalar>,
        /// `$nin`.
        negate: bool,
    },
    /// `$contains`: the value, or an array holding it.
    Contains {
        /// Metadata key.
        key: String,
        /// Operand.
        value: Scalar,
    },
}

/// A parsed ChromaDB `where_document` filter.
#[derive(Debug, Clone, PartialEq)]
pub enum WhereDocument {
    /// `$contains`: the document holds these words, in order.
    Contains(String),
    /// `$not_contains`.
    NotContains(String),
    /// `$and`.
    And(Vec<WhereDocument>),
    /// `$or`.
    Or(Vec<WhereDocument>),
}

fn bad(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidFilter, msg)
}

fn scalar(path: &str, v: &Value) -> Result<Scalar> {
    match v {
        Value::String(s) => Ok(Scalar::Str(s.clone())),
        Value::Bool(b) => Ok(Scalar::Bool(*b)),
        Value::Number(n) => n
            .as_f64()
            .map(Scalar::Num)
            .ok_or_else(|| bad(format!("where: `{path}`: number {n} is not representable"))),
        other => Err(bad(format!(
            "where: `{path}`: expected a string, number or boolean, got {}",
            kind_of(other)
        ))),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn clauses<'a>(path: &str, op: &str, v: &'a Value) -> Result<&'a Vec<Value>> {
    match v {
        Value::Array(items) if !items.is_empty() => Ok(items),
        _ => Err(bad(format!(
            "{path}: `{op}` takes a non-empty array of filters, got {}",
            kind_of(v)
        ))),
    }
}

impl Where {
    /// Parses a `where` filter as ChromaDB spells it, e.g.
    /// `{"$and": [{"kind": "fact"}, {"year": {"$gte": 2020}}]}`.
    pub fn parse(v: &Value) -> Result<Self> {
        Self::parse_at("where", v)
    }

    fn parse_at(path: &str, v: &Value) -> Result<Self> {
        let Value::Object(map) = v else {
            return Err(bad(format!(
                "{path}: expected an object, got {}",
                kind_of(v)
            )));
        };
        if map.is_empty() {
            return Err(bad(format!(
                "{path}: empty filter object; omit `where` to match everything"
            )));
        }
        let mut parts = Vec::with_capacity(map.len());
        for (key, value) in map {
            let here = format!("{path}.{key}");
            let part = match key.as_str() {
                "$and" | "$or" => {
                    let subs = clauses(&here, key, value)?
                        .iter()
                        .enumerate()
                        .map(|(i, c)| Self::parse_at(&format!("{here}[{i}]"), c))
                        .collect::<Result<Vec<_>>>()?;
                    if key == "$and" {
                        Where::And(subs)
                    } else {
                        Where::Or(subs)
                    }
                }
                op if op.starts_with('$') => {
                    return Err(bad(format!(
                        "{here}: unknown logical operator `{op}`; use `$and` or `$or`, or a metadata key"
                    )));
                }
                _ => Self::parse_key(&here, key, value)?,
            };
            parts.push(part);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Where::And(parts)
        })
    }

    fn parse_key(path: &str, key: &str, v: &Value) -> Result<Self> {
        let Value::Object(ops) = v else {
            return Ok(Where::Cmp {
                key: key.to_owned(),
                op: CmpOp::Eq,
                value: scalar(path, v)?,
            });
        };
        let mut iter = ops.iter();
        let (Some((op, operand)), None) = (iter.next(), iter.next()) else {
            return Err(bad(format!(
                "{path}: expected exactly one operator like {{\"$eq\": value}}, got {} keys",
                ops.len()
            )));
        };
        let here = format!("{path}.{op}");
        let cmp = |op: CmpOp| -> Result<Where> {
            let value = scalar(&here, operand)?;
            if matches!(op, CmpOp::Gt | CmpOp::Gte | CmpOp::Lt | CmpOp::Lte)
                && !matches!(value, Scalar::Num(_))
            {
                return Err(bad(format!(
                    "{here}: range operators compare numbers; got {}",
                    kind_of(operand)
                )));
            }
            Ok(Where::Cmp {
                key: key.to_owned(),
                op,
                value,
            })
        };
        match op.as_str() {
            "$eq" => cmp(CmpOp::Eq),
            "$ne" => cmp(CmpOp::Ne),
            "$gt" => cmp(CmpOp::Gt),
            "$gte" => cmp(CmpOp::Gte),
            "$lt" => cmp(CmpOp::Lt),
            "$lte" => cmp(CmpOp::Lte),
            "$in" | "$nin" => {
                let values = clauses(&here, op, operand)?
                    .iter()
                    .enumerate()
                    .map(|(i, x)| scalar(&format!("{here}[{i}]"), x))
                    .collect::<Result<Vec<_>>>()?;
                Ok(Where::In {
                    key: key.to_owned(),
                    values,
                    negate: op == "$nin",
                })
            }
            "$contains" => Ok(Where::Contains {
                key: key.to_owned(),
                value: scalar(&here, operand)?,
            }),
            other => Err(bad(format!(
                "{path}: unknown operator `{other}`; supported: $eq $ne $gt $gte $lt $lte $in $nin $contains"
            ))),
        }
    }
}

impl WhereDocument {
    /// Parses a `where_document` filter, e.g. `{"$contains": "nginx"}`.
    pub fn parse(v: &Value) -> Result<Self> {
        Self::parse_at("where_document", v)
    }

    fn parse_at(path: &str, v: &Value) -> Result<Self> {
        let Value::Object(map) = v else {
            return Err(bad(format!(
                "{path}: expected an object, got {}",
                kind_of(v)
            )));
        };
        let mut iter = map.iter();
        let (Some((op, operand)), None) = (iter.next(), iter.next()) else {
            return Err(bad(format!(
                "{path}: expected exactly one operator like {{\"$contains\": \"text\"}}, got {} keys",
                map.len()
            )));
        };
        let here = format!("{path}.{op}");
        let text = || match operand {
            Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
            _ => Err(bad(format!(
                "{here}: expected a non-empty string, got {}",
                kind_of(operand)
            ))),
        };
        match op.as_str() {
            "$contains" => Ok(WhereDocument::Contains(text()?)),
            "$not_contains" => Ok(WhereDocument::NotContains(text()?)),
            "$and" | "$or" => {
                let subs = clauses(&here, op, operand)?
                    .iter()
                    .enumerate()
                    .map(|(i, c)| Self::parse_at(&format!("{here}[{i}]"), c))
                    .collect::<Result<Vec<_>>>()?;
                Ok(if op == "$and" {
                    WhereDocument::And(subs)
                } else {
                    WhereDocument::Or(subs)
                })
            }
            other => Err(bad(format!(
                "{path}: unknown operator `{other}`; supported: $contains $not_contains $and $or ($regex is not supported)"
            ))),
        }
    }
}

/// Everything a search or `get` may be restricted to. All set parts must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Document kind (exact).
    pub kind: Option<String>,
    /// Host (exact).
    pub host: Option<String>,
    /// User (exact).
    pub user: Option<String>,
    /// Session (exact).
    pub session: Option<String>,
    /// Tags that must all be present.
    pub tags: Vec<String>,
    /// Earliest `unix_ms`, inclusive.
    pub since_ms: Option<i64>,
    /// Latest `unix_ms`, exclusive.
    pub until_ms: Option<i64>,
    /// ChromaDB `where` over metadata.
    pub where_: Option<Where>,
    /// ChromaDB `where_document` over the text.
    pub where_document: Option<WhereDocument>,
}

impl Filter {
    /// True when the filter restricts nothing.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// The filter as a tantivy query, or `None` when it restricts nothing.
    pub(crate) fn to_query(
        &self,
        f: &Fields,
        analyzer: &mut TextAnalyzer,
    ) -> Result<Option<Box<dyn Query>>> {
        if self.is_empty() {
            return Ok(None);
        }
        let mut must: Vec<Box<dyn Query>> = Vec::new();
        for (field, value) in [
            (f.kind, &self.kind),
            (f.host, &self.host),
            (f.user, &self.user),
            (f.session, &self.session),
        ] {
            if let Some(v) = value {
                must.push(term_query(Term::from_field_text(field, v)));
            }
        }
        for tag in &self.tags {
            must.push(term_query(Term::from_field_text(f.tags, tag)));
        }
        if self.since_ms.is_some() || self.until_ms.is_some() {
            let lo = self.since_ms.map_or(Bound::Unbounded, |v| {
                Bound::Included(Term::from_field_i64(f.unix_ms, v))
            });
            let hi = self.until_ms.map_or(Bound::Unbounded, |v| {
                Bound::Excluded(Term::from_field_i64(f.unix_ms, v))
            });
            must.push(Box::new(RangeQuery::new(lo, hi)));
        }
        if let Some(w) = &self.where_ {
            must.push(where_query(f, w));
        }
        if let Some(w) = &self.where_document {
            must.push(doc_query(f, analyzer, w)?);
        }
        Ok(Some(if must.len() == 1 {
            must.remove(0)
        } else {
            Box::new(BooleanQuery::new(
                must.into_iter().map(|q| (Occur::Must, q)).collect(),
            ))
        }))
    }
}

fn term_query(t: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(t, IndexRecordOption::Basic))
}

fn not(q: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(vec![
        (Occur::Must, Box::new(AllQuery)),
        (Occur::MustNot, q),
    ]))
}

/// The term prefix of metadata `key`. Keys are flat (ChromaDB metadata is not nested), so a
/// dot is part of the key: escape it, or tantivy would read `a.b` as `{"a": {"b": …}}`.
fn json_term(f: &Fields, key: &str) -> Term {
    let escaped = key.replace('\\', "\\\\").replace('.', "\\.");
    Term::from_field_json_path(f.metadata, &escaped, false)
}

fn json_num(f: &Fields, key: &str, v: f64) -> Term {
    let mut t = json_term(f, key);
    t.append_type_and_fast_value(v);
    t
}

/// `key == value`; numbers go through the fast-field range path, which coerces i64/u64/f64.
fn eq_query(f: &Fields, key: &str, value: &Scalar) -> Box<dyn Query> {
    match value {
        Scalar::Str(s) => {
            let mut t = json_term(f, key);
            t.append_type_and_str(s);
            term_query(t)
        }
        Scalar::Bool(b) => {
            let mut t = json_term(f, key);
            t.append_type_and_fast_value(*b);
            term_query(t)
        }
        Scalar::Num(n) => Box::new(RangeQuery::new(
            Bound::Included(json_num(f, key, *n)),
            Bound::Included(json_num(f, key, *n)),
        )),
    }
}

fn where_query(f: &Fields, w: &Where) -> Box<dyn Query> {
    match w {
        Where::And(subs) => Box::new(BooleanQuery::new(
            subs.iter()
                .map(|s| (Occur::Must, where_query(f, s)))
                .collect(),
        )),
        Where::Or(subs) => Box::new(BooleanQuery::new(
            subs.iter()
                .map(|s| (Occur::Should, where_query(f, s)))
                .collect(),
        )),
        Where::Contains { key, value } => eq_query(f, key, value),
        Where::In {
            key,
            values,
            negate,
        } => {
            let any: Box<dyn Query> = Box::new(BooleanQuery::new(
                values
                    .iter()
                    .map(|v| (Occur::Should, eq_query(f, key, v)))
                    .collect(),
            ));
            if *negate { not(any) } else { any }
        }
        Where::Cmp { key, op, value } => {
            let n = match value {
                Scalar::Num(n) => *n,
                // The parser only lets numbers reach the range operators.
                _ if *op == CmpOp::Ne => return not(eq_query(f, key, value)),
                _ => return eq_query(f, key, value),
            };
            let (lo, hi) = match op {
                CmpOp::Eq => return eq_query(f, key, value),
                CmpOp::Ne => return not(eq_query(f, key, value)),
                CmpOp::Gt => (Bound::Excluded(json_num(f, key, n)), Bound::Unbounded),
                CmpOp::Gte => (Bound::Included(json_num(f, key, n)), Bound::Unbounded),
                CmpOp::Lt => (Bound::Unbounded, Bound::Excluded(json_num(f, key, n))),
                CmpOp::Lte => (Bound::Unbounded, Bound::Included(json_num(f, key, n))),
            };
            Box::new(RangeQuery::new(lo, hi))
        }
    }
}

fn doc_query(f: &Fields, analyzer: &mut TextAnalyzer, w: &WhereDocument) -> Result<Box<dyn Query>> {
    Ok(match w {
        WhereDocument::Contains(text) => words_query(f, analyzer, text)?,
        WhereDocument::NotContains(text) => not(words_query(f, analyzer, text)?),
        WhereDocument::And(subs) => Box::new(BooleanQuery::new(
            subs.iter()
                .map(|s| Ok((Occur::Must, doc_query(f, analyzer, s)?)))
                .collect::<Result<Vec<_>>>()?,
        )),
        WhereDocument::Or(subs) => Box::new(BooleanQuery::new(
            subs.iter()
                .map(|s| Ok((Occur::Should, doc_query(f, analyzer, s)?)))
                .collect::<Result<Vec<_>>>()?,
        )),
    })
}

/// The words of `text`, in order, as the text field tokenises them.
fn words_query(f: &Fields, analyzer: &mut TextAnalyzer, text: &str) -> Result<Box<dyn Query>> {
    let mut terms = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(tok) = stream.next() {
        terms.push((tok.position, Term::from_field_text(f.text, &tok.text)));
    }
    match terms.len() {
        0 => Err(bad(format!(
            "where_document: `{text}` has no words to match; $contains matches whole words, not punctuation"
        ))),
        1 => Ok(terms.pop().map_or_else(
            || Box::new(EmptyQuery) as Box<dyn Query>,
            |(_, t)| term_query(t),
        )),
        _ => Ok(Box::new(PhraseQuery::new_with_offset(terms))),
    }
}
