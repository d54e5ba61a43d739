//! Saved approvals ("always" grants): the rule an approval writes, and
//! saving, listing and revoking them in the user's policy file.
//!
//! A grant is an ordinary `allow` rule whose id starts with `grant-`. It
//! lives in the user's file, so like any user rule it can never loosen a
//! system `ask` or `deny`. Every write is atomic (temp file, fsync,
//! rename, fsync of the directory), leaves the rest of the file byte for
//! byte as it was, and is refused unless the whole new file loads.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use aios_domain::{PolicyInput, Resource, Verdict};

use crate::error::{PolicyError, PolicyErrorKind};
use crate::file;
use crate::glob::escape;
use crate::rule::{PortSpec, Rule, RuleExample, RuleSpec};

/// Ids of saved grants start with this.
pub(crate) const GRANT_PREFIX: &str = "grant-";

/// The "always" rule for `input`: its exact tool, its effect, and each of
/// its resources as an exact matcher, with the call itself as an example
/// that must match. Shown to the user (`Rule::to_toml`) before saving.
pub fn grant_rule(input: &PolicyInput) -> Rule {
    let mut spec = RuleSpec::new(
        format!("{GRANT_PREFIX}{}", timestamp()),
        Verdict::Allow,
        vec![escape(&input.tool)],
    );
    spec.effect = vec![input.effect];
    let mut untyped = false;
    for r in &input.resources {
        match r {
            Resource::Path(p) if p.starts_with('/') => push(&mut spec.paths, escape(p)),
            Resource::Service(s) if !s.is_empty() => push(&mut spec.services, escape(s)),
            Resource::Package(s) if !s.is_empty() => push(&mut spec.packages, escape(s)),
            Resource::User(s) if !s.is_empty() => push(&mut spec.users, escape(s)),
            Resource::Port(p) => push(&mut spec.ports, PortSpec::Number(i64::from(*p))),
            Resource::Cidr(c) if is_net(c) => push(&mut spec.cidrs, c.clone()),
            _ => untyped = true,
        }
    }
    if untyped {
        // Kinds without a typed matcher: list every resource in its
        // `kind:value` form, so the grant still covers only this call's.
        spec.resources = Some(
            input
                .resources
                .iter()
                .map(|r| escape(&r.to_string()))
                .collect(),
        );
    }
    let shown: Vec<String> = input.resources.iter().map(ToString::to_string).collect();
    spec.reason = Some(if shown.is_empty() {
        format!("saved approval: always allow {}", input.tool)
    } else {
        format!(
            "saved approval: always allow {} on {}",
            input.tool,
            shown.join(", ")
        )
    });
    spec.examples = vec![RuleExample {
        tool: input.tool.clone(),
        resources: shown,
        effect: Some(input.effect),
        principal: None,
        session: None,
        home: None,
        matches: true,
    }];
    Rule::compile(spec.clone(), "grant", None).unwrap_or_else(|_| Rule::inert(spec))
}

fn push<T>(list: &mut Option<Vec<T>>, item: T) {
    list.get_or_insert_with(Vec::new).push(item);
}

fn is_net(text: &str) -> bool {
    text.parse::<ipnet::IpNet>().is_ok() || text.parse::<std::net::IpAddr>().is_ok()
}

/// Appends `rule` to the user's policy file and returns the id it was
/// saved under (its own, or with `-2`, `-3`… if that id is taken). The
/// file's other content and comments are kept; it is created with mode
/// 0600 in a directory created 0700 if missing.
pub fn save_grant(user_file: &Path, rule: &Rule) -> Result<String, PolicyError> {
    let label = user_file.display().to_string();
    let _lock = lock(user_file, &label)?;
    let existing = read_existing(user_file, &label)?;
    let current =
        file::parse(&existing, &label).map_err(|e| refuse(&label, "add a grant to", &e))?;
    let taken = |id: &str| current.rules.iter().any(|r| r.id() == id);
    let mut id = rule.id().to_string();
    let mut n = 2;
    while taken(&id) {
        id = format!("{}-{n}", rule.id());
        n += 1;
    }
    let mut spec = rule.spec().clone();
    spec.id = id.clone();
    let block = Rule::inert(spec).to_toml();
    let mut text = existing;
    if !text.is_empty() {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push('\n');
    }
    text.push_str(&block);
    // The whole new file must load, or nothing is written.
    file::parse(&text, &label)?;
    write_atomic(user_file, &text, &label)?;
    Ok(id)
}

/// The saved grants in the user's policy file, in file order; none if the
/// file does not exist.
pub fn list_grants(user_file: &Path) -> Result<Vec<Rule>, PolicyError> {
    Ok(file::load(user_file)?
        .rules
        .into_iter()
        .filter(Rule::is_grant)
        .collect())
}

/// Removes the grant `id` from the user's policy file, keeping everything
/// else. `Ok(false)` if there is no rule with that id; an error if the id
/// names a hand-written rule rather than a grant.
pub fn revoke_grant(user_file: &Path, id: &str) -> Result<bool, PolicyError> {
    let label = user_file.display().to_string();
    let _lock = lock(user_file, &label)?;
    let existing = read_existing(user_file, &label)?;
    let current =
        file::parse(&existing, &label).map_err(|e| refuse(&label, "revoke a grant in", &e))?;
    let Some(rule) = current.rules.iter().find(|r| r.id() == id) else {
        return Ok(false);
    };
    if !rule.is_grant() {
        return Err(PolicyError::new(
            PolicyErrorKind::NotAGrant,
            &label,
            "is a hand-written rule, not a saved grant; edit the file to change or remove it",
        )
        .at_line(rule.line())
        .in_rule(id));
    }
    let mut doc: toml_edit::DocumentMut = existing.parse().map_err(|e: toml_edit::TomlError| {
        PolicyError::new(PolicyErrorKind::Syntax, &label, e.message().to_string())
    })?;
    let Some(tables) = doc.get_mut("rule").and_then(|i| i.as_array_of_tables_mut()) else {
        return Ok(false);
    };
    let Some(index) = tables
        .iter()
        .position(|t| t.get("id").and_then(|v| v.as_str()) == Some(id))
    else {
        return Ok(false);
    };
    tables.remove(index);
    let text = doc.to_string();
    file::parse(&text, &label)?;
    write_atomic(user_file, &text, &label)?;
    Ok(true)
}

/// Holds an exclusive lock on `.NAME.lock` beside the file for one
/// read-modify-write, so two shells saving grants at once cannot lose one.
/// (The file itself is replaced by rename, so it cannot carry the lock.)
fn lock(path: &Path, label: &str) -> Result<fs::File, PolicyError> {
    let io = |e: std::io::Error| {
        PolicyError::new(
            PolicyErrorKind::Io,
            label,
            format!("cannot lock it for writing: {e}; check its directory is writable"),
        )
    };
    let dir = parent_dir(path);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io)?;
    let f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(dir.join(format!(".{}.lock", file_name(path))))
        .map_err(io)?;
    f.lock().map_err(io)?;
    Ok(f)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "policy.toml".into())
}

fn refuse(label: &str, what: &str, e: &PolicyError) -> PolicyError {
    PolicyError::new(
        e.kind(),
        label,
        format!("will not {what} a file that does not load ({e}); fix it first"),
    )
    .at_line(e.line())
}

fn read_existing(path: &Path, label: &str) -> Result<String, PolicyError> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(PolicyError::new(
            PolicyErrorKind::Io,
            label,
            format!("cannot be read: {e}; check that it is a file and its permissions"),
        )),
    }
}

/// Replaces `path` with `text`: temp file beside it (0600), fsync, rename,
/// fsync of the directory, so a crash leaves the old file or the new one.
fn write_atomic(path: &Path, text: &str, label: &str) -> Result<(), PolicyError> {
    let io = |what: &str, e: std::io::Error| {
        PolicyError::new(
            PolicyErrorKind::Io,
            label,
            format!("{what}: {e}; check the directory exists and is writable"),
        )
    };
    let dir = parent_dir(path);
    let name = file_name(path);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io("cannot create a temporary file beside it", e))?;
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| io("cannot set mode 0600", e))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| io("cannot write", e))?;
        fs::rename(&tmp, path).map_err(|e| io("cannot replace it", e))?;
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("cannot sync its directory", e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `YYYYMMDD-HHMMSS` in UTC, for grant ids a person can date.
fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
    }
}
