//! The [`Registry`]: every tool by name, its [`ToolSpec`] derived once from
//! the typed definition, lookup with "did you mean" suggestions, and
//! argument validation that names the failing field.
//!
//! The registry knows tools only through the [`Tool`] trait; the built-in
//! set adds itself ([`crate::builtin`] provides [`Registry::builtin`] and
//! [`RegistryBuilder::with_builtin`]), so this module does not depend on it.

use std::collections::BTreeMap;
use std::sync::Arc;

use std::path::Path;

use aios_domain::{ToolExample, ToolSpec};
use futures::future::BoxFuture;
use serde_json::Value;

use crate::{Assessment, Resource, Tool, ToolCtx, ToolError, ToolErrorKind};

/// A call whose arguments have been validated and put in canonical form,
/// ready to be assessed and run once.
pub struct Prepared {
    /// The tool's spec.
    pub spec: Arc<ToolSpec>,
    /// Resources this call touches, from its arguments alone.
    pub resources: Vec<Resource>,
    /// One line: what will happen.
    pub preview: String,
    /// The call's canonical arguments: the typed arguments after
    /// [`Tool::canonicalize`], serialised again (keys sorted, every field
    /// present, defaults filled in), so two spellings of one call are one
    /// value. Policy matches it, approvals are bound to its hash, and the
    /// ledger records it.
    pub canonical: Value,
    call: Box<dyn ErasedCall>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("tool", &self.spec.name)
            .field("resources", &self.resources)
            .field("preview", &self.preview)
            .field("canonical", &self.canonical)
            .finish()
    }
}

/// The identity of one exact call: SHA-256 over the tool's name and its
/// canonical arguments (compact JSON, keys sorted), in hex.
pub fn call_hash(tool: &str, canonical: &Value) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(tool.as_bytes());
    h.update(b"\n");
    h.update(canonical.to_string().as_bytes());
    hex::encode(h.finalize())
}

impl Prepared {
    /// The identity of this exact call ([`call_hash`]). An approval
    /// recorded for this hash covers this call and no other.
    pub fn call_hash(&self) -> String {
        call_hash(&self.spec.name, &self.canonical)
    }

    /// The tool's assessment of this call: effect, resources, preview.
    /// Changes nothing; runs with the context's credentials.
    pub fn assess<'a>(&'a self, ctx: &'a ToolCtx) -> BoxFuture<'a, Result<Assessment, ToolError>> {
        self.call.assess(ctx)
    }

    /// Run the call. The returned future is `'static`, so the executor can
    /// spawn it as its own task (and abort it).
    pub fn run(self, ctx: ToolCtx) -> BoxFuture<'static, Result<Value, ToolError>> {
        self.call.run(ctx)
    }
}

/// Object-safe face of a [`Tool`].
trait ErasedTool: Send + Sync {
    fn prepare(
        self: Arc<Self>,
        spec: Arc<ToolSpec>,
        args: Value,
        home: Option<&Path>,
    ) -> Result<Prepared, ToolError>;
}

/// Object-safe face of one prepared call.
trait ErasedCall: Send + Sync {
    fn assess<'a>(&'a self, ctx: &'a ToolCtx) -> BoxFuture<'a, Result<Assessment, ToolError>>;
    fn run(self: Box<Self>, ctx: ToolCtx) -> BoxFuture<'static, Result<Value, ToolError>>;
}

struct Erased<T>(T);

struct TypedCall<T: Tool> {
    tool: Arc<Erased<T>>,
    args: T::Args,
}

impl<T: Tool> ErasedCall for TypedCall<T> {
    fn assess<'a>(&'a self, ctx: &'a ToolCtx) -> BoxFuture<'a, Result<Assessment, ToolError>> {
        Box::pin(self.tool.0.assess(ctx, &self.args))
    }

    fn run(self: Box<Self>, ctx: ToolCtx) -> BoxFuture<'static, Result<Value, ToolError>> {
        let TypedCall { tool, args } = *self;
        Box::pin(async move { tool.0.run(ctx, args).await })
    }
}

impl<T: Tool> ErasedTool for Erased<T> {
    fn prepare(
        self: Arc<Self>,
        spec: Arc<ToolSpec>,
        args: Value,
        home: Option<&Path>,
    ) -> Result<Prepared, ToolError> {
        let mut args = parse_args::<T::Args>(&spec.name, args)?;
        self.0.canonicalize(&mut args, home)?;
        let canonical = serde_json::to_value(&args).map_err(|e| {
            ToolError::failed(format!(
                "{}: arguments cannot be put in canonical form: {e}",
                spec.name
            ))
        })?;
        let resources = self.0.resources(&args);
        let preview = self.0.preview(&args);
        Ok(Prepared {
            spec,
            resources,
            preview,
            canonical,
            call: Box::new(TypedCall { tool: self, args }),
        })
    }
}

struct Entry {
    spec: Arc<ToolSpec>,
    tool: Arc<dyn ErasedTool>,
}

/// Every tool this executor knows, by name.
pub struct Registry {
    tools: BTreeMap<String, Entry>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tools.keys()).finish()
    }
}

impl Registry {
    /// An empty builder (tests add their own tools; the daemon starts from
    /// [`RegistryBuilder::with_builtin`]).
    pub fn builder() -> RegistryBuilder {
        RegistryBuilder {
            tools: BTreeMap::new(),
            error: None,
        }
    }

    /// Specs of every tool, sorted by name.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools.values().map(|e| (*e.spec).clone()).collect()
    }

    /// Names of every tool, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.keys().map(String::as_str)
    }

    /// The spec of `name`, or an error suggesting the closest names.
    pub fn spec(&self, name: &str) -> Result<Arc<ToolSpec>, ToolError> {
        self.entry(name).map(|e| e.spec.clone())
    }

    /// Validate `args` for `name` and return a call ready to run, with
    /// `~` left unexpanded (a path starting with `~` is then refused).
    pub fn prepare(&self, name: &str, args: Value) -> Result<Prepared, ToolError> {
        self.prepare_for(name, args, None)
    }

    /// Validate `args` for `name`, put them in canonical form for a caller
    /// whose home is `home`, and return a call ready to run.
    pub fn prepare_for(
        &self,
        name: &str,
        args: Value,
        home: Option<&Path>,
    ) -> Result<Prepared, ToolError> {
        let e = self.entry(name)?;
        e.tool.clone().prepare(e.spec.clone(), args, home)
    }

    /// Help text for one tool, derived from its spec.
    pub fn help(&self, name: &str) -> Result<String, ToolError> {
        Ok(help_text(&*self.spec(name)?))
    }

    fn entry(&self, name: &str) -> Result<&Entry, ToolError> {
        self.tools.get(name).ok_or_else(|| {
            let close = suggest(name, self.names());
            let hint = if close.is_empty() {
                format!(
                    "known tools: {}",
                    self.names().collect::<Vec<_>>().join(", ")
                )
            } else {
                format!(
                    "did you mean {}?",
                    close
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )
            };
            ToolError::new(
                ToolErrorKind::UnknownTool,
                format!("unknown tool `{name}`; {hint}"),
            )
        })
    }
}

/// Builds a [`Registry`]; registration errors surface at [`RegistryBuilder::try_build`].
pub struct RegistryBuilder {
    tools: BTreeMap<String, Entry>,
    error: Option<ToolError>,
}

impl std::fmt::Debug for RegistryBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.tools.keys()).finish()
    }
}

impl RegistryBuilder {
    /// Add one tool. A malformed or duplicate name is reported by
    /// [`RegistryBuilder::try_build`].
    pub fn register<T: Tool>(mut self, tool: T) -> Self {
        let name = tool.name();
        if let Err(e) = check_name(name) {
            self.error.get_or_insert(e);
            return self;
        }
        if self.tools.contains_key(name) {
            self.error.get_or_insert(ToolError::invalid(format!(
                "tool `{name}` is registered twice"
            )));
            return self;
        }
        let examples = match check_examples::<T>(name, tool.examples()) {
            Ok(x) => x,
            Err(e) => {
                self.error.get_or_insert(e);
                return self;
            }
        };
        let spec = ToolSpec {
            name: name.to_string(),
            description: tool.description().to_string(),
            args_schema: schema_of::<T::Args>(),
            effect: tool.effect(),
            resources: tool
                .resource_kinds()
                .iter()
                .map(|k| k.as_str().to_string())
                .collect(),
            examples,
        };
        self.tools.insert(
            name.to_string(),
            Entry {
                spec: Arc::new(spec),
                tool: Arc::new(Erased(tool)),
            },
        );
        self
    }

    /// The registry, or the first registration error.
    pub fn try_build(self) -> Result<Registry, ToolError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(Registry { tools: self.tools }),
        }
    }

    /// The registry, skipping any tool that failed to register (logged).
    /// The built-in set is checked by a unit test, so this loses nothing
    /// there.
    pub fn build(self) -> Registry {
        if let Some(e) = &self.error {
            tracing::error!("tool registration: {e}");
        }
        Registry { tools: self.tools }
    }
}

/// Each example's arguments must be JSON that the tool accepts: examples
/// teach models and people, so a wrong one is a registration error.
fn check_examples<T: Tool>(
    name: &str,
    examples: &[crate::Example],
) -> Result<Vec<ToolExample>, ToolError> {
    examples
        .iter()
        .map(|x| {
            let args: Value = serde_json::from_str(x.args).map_err(|e| {
                ToolError::invalid(format!(
                    "{name}: example {:?} has arguments that are not JSON: {e}",
                    x.request
                ))
            })?;
            parse_args::<T::Args>(name, args.clone()).map_err(|e| {
                ToolError::invalid(format!("example {:?}: {}", x.request, e.message()))
            })?;
            Ok(ToolExample {
                request: x.request.to_string(),
                args,
            })
        })
        .collect()
}

/// Names are `namespace.verb`: lowercase ASCII letters, digits and `_`.
fn check_name(name: &str) -> Result<(), ToolError> {
    let ok_part = |s: &str| {
        !s.is_empty()
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    match name.split_once('.') {
        Some((ns, verb)) if ok_part(ns) && ok_part(verb) => Ok(()),
        _ => Err(ToolError::invalid(format!(
            "tool name `{name}` is not `namespace.verb` (lowercase letters, digits, `_`)"
        ))),
    }
}

/// The JSON schema of `T` for models: draft 2020-12 with every subschema
/// inlined (providers handle `$ref` poorly), without the `$schema` and
/// `title` keys that only add tokens.
pub fn schema_of<T: schemars::JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let mut v = generator.into_root_schema_for::<T>().to_value();
    strip_integer_formats(&mut v);
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
        // The struct's own doc ("Arguments of `x`") repeats the tool's.
        o.remove("description");
        // An argument-less tool still takes an object.
        o.entry("type").or_insert_with(|| Value::from("object"));
        o.entry("properties")
            .or_insert_with(|| Value::Object(Default::default()));
    }
    v
}

/// Drop schemars' non-standard integer formats (`uint`, `uint64`…) that
/// some providers reject; the `minimum` beside them keeps the meaning.
fn strip_integer_formats(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| f.starts_with("int") || f.starts_with("uint"))
            {
                o.remove("format");
            }
            o.values_mut().for_each(strip_integer_formats);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_integer_formats),
        _ => {}
    }
}

/// Deserialize `args` into `T`, naming the failing field in the error.
/// `null` counts as `{}` so argument-less tools accept either.
pub fn parse_args<T: serde::de::DeserializeOwned>(tool: &str, args: Value) -> Result<T, ToolError> {
    let args = if args.is_null() {
        Value::Object(Default::default())
    } else {
        args
    };
    if !args.is_object() {
        return Err(ToolError::invalid(format!(
            "{tool}: arguments must be a JSON object, got {}",
            aios_domain::json_kind(&args)
        )));
    }
    serde_path_to_error::deserialize(args).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." || path.is_empty() {
            // Missing or unknown fields are reported at the top level, and
            // serde's message already names the field.
            ToolError::invalid(format!("{tool}: {inner}"))
        } else {
            ToolError::invalid(format!("{tool}: field `{path}`: {inner}"))
        }
    })
}

/// Up to three known names closest to `wanted`: same-namespace or
/// same-verb names first, then by edit distance.
fn suggest<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let wanted_l = wanted.to_ascii_lowercase();
    let (w_ns, w_verb) = wanted_l.split_once('.').unwrap_or(("", wanted_l.as_str()));
    let mut scored: Vec<(isize, usize, &str)> = names
        .filter_map(|n| {
            let d = edit_distance(&wanted_l, n);
            let (ns, verb) = n.split_once('.').unwrap_or(("", n));
            let bonus = usize::from(ns == w_ns && !w_ns.is_empty()) + usize::from(verb == w_verb);
            let limit = (wanted_l.len() / 3).max(2);
            if d <= limit || bonus > 0 {
                // Signed, so a shared namespace never hides which name is
                // closest; ties go to the smaller raw distance.
                Some((d as isize - 2 * bonus as isize, d, n))
            } else {
                None
            }
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(3)
        .map(|(_, _, n)| n.to_string())
        .collect()
}

/// Edit distance over chars, counting a swap of two neighbours as one
/// edit (optimal string alignment): `fs.lsit` is one edit from `fs.list`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// CLI/help text of a spec: name, effect, description and each argument
/// (the one rendering, [`ToolSpec::help`], shared with `aios tools`).
pub fn help_text(spec: &ToolSpec) -> String {
    spec.help()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_namespace_verb() {
        assert!(check_name("fs.list").is_ok());
        assert!(check_name("net.listening2").is_ok());
        for bad in [
            "fs",
            "fs.",
            ".list",
            "Fs.list",
            "fs.list.x",
            "fs-x.list",
            "fs.li st",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("same", "same"), 0);
        assert_eq!(edit_distance("fs.lsit", "fs.list"), 1);
    }
}

#[cfg(test)]
mod canonical_tests {
    use crate::Registry;
    use serde_json::json;

    #[test]
    fn two_spellings_of_one_call_have_one_canonical_form_and_hash() {
        let r = Registry::builtin();
        let a = r
            .prepare("fs.largest", json!({"top": 20, "path": "/var"}))
            .unwrap();
        // Keys in another order, and the absent option written out as null.
        let b = r
            .prepare(
                "fs.largest",
                json!({"path": "/var", "max_depth": null, "top": 20}),
            )
            .unwrap();
        assert_eq!(a.canonical, b.canonical);
        assert_eq!(a.call_hash(), b.call_hash());
        assert_eq!(a.call_hash().len(), 64);
        let keys: Vec<&String> = a.canonical.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "canonical keys are sorted");

        let other = r
            .prepare("fs.largest", json!({"path": "/var", "top": 21}))
            .unwrap();
        assert_ne!(a.call_hash(), other.call_hash());
        let same_args_other_tool = r.prepare("fs.list", json!({"path": "/var"})).unwrap();
        assert_ne!(
            r.prepare("fs.usage", json!({"path": "/var"}))
                .unwrap()
                .call_hash(),
            same_args_other_tool.call_hash()
        );
    }
}
