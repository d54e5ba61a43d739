//! `aios model list | pull | use | info`: the local models.
//!
//! The catalogue, the directories and the verified download are
//! `aios-models`' (shared with `cargo xtask model` and the runtime daemon);
//! this module is the command line over them. `use` records the choice in
//! the user's configuration (`[providers.local] model_path`), editing the
//! file in place so its comments and other settings survive.

use std::path::{Path, PathBuf};

use aios_models::{Located, ModelErrorKind, UrlSource};

use crate::cli::{Cli, ModelAction};
use crate::exit::{Exit, Failure};
use crate::printer;

/// Run `aios model ...`.
pub fn run(cli: &Cli, action: ModelAction) -> Result<Exit, Failure> {
    let config = aios_config::load(&cli.overrides())?;
    let dirs = aios_models::model_dirs();
    let active = aios_models::locate(config.local_model_path().as_deref(), None, &dirs);
    match action {
        ModelAction::List { json } => {
            print(list_text(&dirs, active.ok().as_ref(), json || cli.json))
        }
        ModelAction::Pull {
            source,
            sha256,
            verify,
        } => pull(&source, sha256.as_deref(), verify),
        ModelAction::Use { model } => use_model(&model, &dirs),
        ModelAction::Info { model, json } => {
            let located = match model {
                Some(m) => aios_models::locate(None, Some(&m), &dirs),
                None => active,
            }
            .map_err(model_failure)?;
            print(info_text(&located, json || cli.json))
        }
    }
}

fn print(text: Result<String, Failure>) -> Result<Exit, Failure> {
    let mut out = printer::stdout();
    printer::write_out(&mut out, format_args!("{}", text?))?;
    Ok(Exit::Success)
}

/// `aios model list` as text, for the configuration `config`: the
/// catalogue and the installed models, `*` on the one the runtime loads.
pub fn list_for(config: &aios_config::Config) -> Result<String, Failure> {
    let dirs = aios_models::model_dirs();
    let active = aios_models::locate(config.local_model_path().as_deref(), None, &dirs);
    list_text(&dirs, active.ok().as_ref(), false)
}

/// `aios model info NAME` as text.
pub fn info_for(name: &str) -> Result<String, Failure> {
    let dirs = aios_models::model_dirs();
    let located = aios_models::locate(None, Some(name), &dirs).map_err(model_failure)?;
    info_text(&located, false)
}

fn model_failure(e: aios_models::ModelError) -> Failure {
    let code = match e.kind() {
        ModelErrorKind::UnknownModel | ModelErrorKind::NotInstalled => Exit::Usage,
        _ => Exit::Failed,
    };
    Failure::new(code, e.to_string())
}

fn user_dir() -> Result<PathBuf, Failure> {
    aios_models::user_model_dir().ok_or_else(|| {
        Failure::usage("neither AIOS_MODEL_DIR nor HOME is set: cannot place the model directory")
    })
}

fn list_text(dirs: &[PathBuf], active: Option<&Located>, json: bool) -> Result<String, Failure> {
    let installed = aios_models::installed(dirs);
    let is_active = |path: &Path| active.is_some_and(|a| a.path == path);
    let mut rows: Vec<serde_json::Value> = Vec::new();
    for spec in aios_models::MODELS {
        let here = installed.iter().find(|i| i.name == spec.name);
        rows.push(serde_json::json!({
            "name": spec.name,
            "description": spec.description,
            "size": spec.size,
            "license": spec.license,
            "installed": here.map(|i| i.path.display().to_string()),
            "size_ok": here.and_then(|i| i.size_ok),
            "active": here.is_some_and(|i| is_active(&i.path)),
            "default": spec.name == aios_models::DEFAULT_MODEL,
        }));
    }
    for i in installed.iter().filter(|i| i.spec.is_none()) {
        rows.push(serde_json::json!({
            "name": i.name,
            "description": "not in the catalogue",
            "size": i.size,
            "license": null,
            "installed": i.path.display().to_string(),
            "size_ok": null,
            "active": is_active(&i.path),
            "default": false,
        }));
    }
    let mut out = String::new();
    if json {
        let text = crate::sanitize::to_json(&serde_json::json!({ "models": rows }))
            .map_err(|e| Failure::new(Exit::Failed, format!("cannot write JSON: {e}")))?;
        return Ok(format!("{text}\n"));
    }
    let width = rows
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::len))
        .max()
        .unwrap_or(0);
    for r in &rows {
        let mark = if r["active"] == true { "*" } else { " " };
        let state = match (r["installed"].as_str(), r["size_ok"].as_bool()) {
            (None, _) => "not installed".to_string(),
            (Some(_), Some(false)) => "DAMAGED (wrong size; pull again)".to_string(),
            (Some(p), _) => p.to_string(),
        };
        out.push_str(&format!(
            "{mark} {:<width$}  {:>7}  {}\n      {state}\n",
            r["name"].as_str().unwrap_or_default(),
            human_size(r["size"].as_u64().unwrap_or(0)),
            r["description"].as_str().unwrap_or_default(),
        ));
    }
    if active.is_none() {
        out.push_str(&format!(
            "no local model is in place: `aios model pull {}`\n",
            aios_models::DEFAULT_MODEL
        ));
    }
    Ok(out)
}

fn pull(source: &str, sha256: Option<&str>, verify: bool) -> Result<Exit, Failure> {
    let dir = user_dir()?;
    let mut progress = |line: &str| printer::say(line);
    let path = match aios_models::spec(source) {
        Ok(spec) => {
            if sha256.is_some() {
                return Err(Failure::usage(format!(
                    "{source} is in the catalogue with a pinned sha256; --sha256 is for URLs"
                )));
            }
            aios_models::fetch(
                spec,
                &dir,
                aios_models::FetchOptions { verify },
                &mut progress,
            )
        }
        Err(unknown) => {
            let Some(sha) = sha256 else {
                if source.starts_with("https://") || source.starts_with("hf:") {
                    return Err(Failure::usage(format!(
                        "pulling {source} needs --sha256 HEX: the hash you expect is the only trust"
                    )));
                }
                return Err(model_failure(unknown));
            };
            let src = UrlSource::parse(source, sha).map_err(|e| Failure::usage(e.to_string()))?;
            aios_models::fetch_url(&src, &dir, &mut progress)
        }
    }
    .map_err(model_failure)?;
    let mut out = printer::stdout();
    printer::write_out(&mut out, format_args!("{}\n", path.display()))?;
    Ok(Exit::Success)
}

fn use_model(model: &str, dirs: &[PathBuf]) -> Result<Exit, Failure> {
    let located = aios_models::locate(None, Some(model), dirs).map_err(model_failure)?;
    let path = std::fs::canonicalize(&located.path).map_err(|e| {
        Failure::new(
            Exit::Failed,
            format!("cannot resolve {}: {e}", located.path.display()),
        )
    })?;
    let file = aios_config::xdg_config_home()
        .map(|d| d.join("aios/aios.toml"))
        .ok_or_else(|| Failure::usage("HOME is not set: cannot find your configuration file"))?;
    set_model_path(&file, &path)?;
    printer::say(&format!(
        "the local model is now {} ({}); written to {}. Restart the runtime to load it: \
         `aios daemons stop && aios daemons start`",
        located.name,
        path.display(),
        file.display()
    ));
    Ok(Exit::Success)
}

/// Set `[providers.local] model_path` in the TOML file at `file`, keeping
/// everything else in it as it was.
fn set_model_path(file: &Path, model: &Path) -> Result<(), Failure> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Failure::new(
                Exit::Failed,
                format!("cannot read {}: {e}", file.display()),
            ));
        }
    };
    let updated = with_model_path(&text, model).map_err(|e| {
        Failure::usage(format!(
            "{} is not valid TOML ({e}); fix it first",
            file.display()
        ))
    })?;
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            Failure::new(
                Exit::Failed,
                format!("cannot create {}: {e}", parent.display()),
            )
        })?;
    }
    let tmp = file.with_extension("toml.tmp");
    std::fs::write(&tmp, updated)
        .and_then(|()| std::fs::rename(&tmp, file))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Failure::new(
                Exit::Failed,
                format!("cannot write {}: {e}", file.display()),
            )
        })
}

fn with_model_path(text: &str, model: &Path) -> Result<String, toml_edit::TomlError> {
    let mut doc: toml_edit::DocumentMut = text.parse()?;
    let providers = doc.entry("providers").or_insert_with(|| {
        let mut t = toml_edit::Table::new();
        t.set_implicit(true);
        toml_edit::Item::Table(t)
    });
    if let Some(providers) = providers.as_table_like_mut() {
        let local = providers
            .entry("local")
            .or_insert(toml_edit::Item::Table(toml_edit::Table::new()));
        if let Some(local) = local.as_table_like_mut() {
            local.insert(
                "model_path",
                toml_edit::value(model.to_string_lossy().into_owned()),
            );
        }
    }
    Ok(doc.to_string())
}

fn info_text(located: &Located, json: bool) -> Result<String, Failure> {
    let dir = located.path.parent().unwrap_or(Path::new("."));
    let manifest = aios_models::Manifest::read(dir).ok();
    let entry = manifest
        .as_ref()
        .and_then(|m| m.get(&located.name))
        .cloned();
    let size = std::fs::metadata(&located.path)
        .map(|m| m.len())
        .unwrap_or(0);
    let spec = located.spec;
    let v = serde_json::json!({
        "name": located.name,
        "path": located.path.display().to_string(),
        "size": size,
        "sha256": entry.as_ref().map(|e| e.sha256.clone()).or(spec.map(|s| s.sha256.to_string())),
        "verified_size": spec.map(|s| s.size == size),
        "license": entry.as_ref().map(|e| e.license.clone()).or(spec.map(|s| s.license.to_string())),
        "context_length": entry.as_ref().map(|e| e.context_length).or(spec.map(|s| s.context_length)),
        "chat_template": entry.as_ref().map(|e| e.chat_template.clone()).or(spec.map(|s| s.chat_template.to_string())),
        "source": entry.as_ref().map(|e| e.source.clone()),
        "description": spec.map(|s| s.description),
    });
    let mut out = String::new();
    if json {
        let text = crate::sanitize::to_json(&v)
            .map_err(|e| Failure::new(Exit::Failed, format!("cannot write JSON: {e}")))?;
        return Ok(format!("{text}\n"));
    }
    if let Some(obj) = v.as_object() {
        for (k, val) in obj {
            let shown = match val {
                serde_json::Value::Null => "unknown".to_string(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push_str(&format!("{k:<15} {shown}\n"));
        }
    }
    Ok(out)
}

fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1_000_000_000 => format!("{:.1} GB", b as f64 / 1e9),
        b if b >= 1_000_000 => format!("{} MB", b / 1_000_000),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_path_is_set_keeping_comments_and_other_keys() {
        let text = "# mine\n[model]\nprovider = \"anthropic\" # keep\n\n[providers.local]\nmodel_path = \"/old.gguf\"\n";
        let out = with_model_path(text, Path::new("/m/new.gguf")).unwrap();
        assert!(
            out.contains("# mine") && out.contains("provider = \"anthropic\" # keep"),
            "{out}"
        );
        assert!(out.contains("model_path = \"/m/new.gguf\""), "{out}");
        assert!(!out.contains("/old.gguf"), "{out}");
        let parsed: toml::Table = out.parse().unwrap();
        assert_eq!(
            parsed["providers"]["local"]["model_path"].as_str(),
            Some("/m/new.gguf")
        );
    }

    #[test]
    fn model_path_is_added_to_an_empty_file() {
        let out = with_model_path("", Path::new("/m/x.gguf")).unwrap();
        let parsed: toml::Table = out.parse().unwrap();
        assert_eq!(
            parsed["providers"]["local"]["model_path"].as_str(),
            Some("/m/x.gguf")
        );
    }

    #[test]
    fn invalid_toml_is_refused_not_overwritten() {
        assert!(with_model_path("[[[", Path::new("/m/x.gguf")).is_err());
    }

    #[test]
    fn sizes_read_like_a_human_wrote_them() {
        assert_eq!(human_size(491_400_064), "491 MB");
        assert_eq!(human_size(1_117_320_768), "1.1 GB");
        assert_eq!(human_size(12), "12 B");
    }
}
