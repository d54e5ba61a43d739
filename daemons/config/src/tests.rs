use std::io::Write;

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

fn sources(dir: &std::path::Path) -> Sources {
    Sources {
        system_file: dir.join("etc.toml"),
        user_file: Some(dir.join("user.toml")),
        env: no_env,
    }
}

fn write(path: &std::path::Path, text: &str) {
    std::fs::File::create(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

#[test]
fn defaults_without_files() {
    let dir = tempfile::tempdir().unwrap();
    let c = load_from(&sources(dir.path()), &Overrides::default()).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.model.provider, "scripted");
}

#[test]
fn layers_merge_user_over_system_and_flags_over_all() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("etc.toml"),
        "[model]\nprovider = \"openai\"\n[turn]\nmax_iterations = 3\n",
    );
    write(
        &dir.path().join("user.toml"),
        "[turn]\ntool_timeout_secs = 5\n",
    );
    let c = load_from(&sources(dir.path()), &Overrides::default()).unwrap();
    assert_eq!(c.model.provider, "openai");
    assert_eq!(c.turn.max_iterations, 3);
    assert_eq!(c.turn.tool_timeout_secs, 5);
    let c = load_from(
        &sources(dir.path()),
        &Overrides {
            provider: Some("anthropic".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.model.provider, "anthropic");
}

#[test]
fn environment_sits_between_files_and_flags() {
    fn env(k: &str) -> Option<String> {
        match k {
            "AIOS_PROVIDER" => Some("anthropic".into()),
            "OPENAI_BASE_URL" => Some("http://127.0.0.1:9/v1".into()),
            _ => None,
        }
    }
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("user.toml"),
        "[model]\nprovider = \"openai\"\n",
    );
    let mut s = sources(dir.path());
    s.env = env;
    let c = load_from(&s, &Overrides::default()).unwrap();
    assert_eq!(c.model.provider, "anthropic");
    assert_eq!(c.providers.openai.base_url, "http://127.0.0.1:9/v1");
    let c = load_from(
        &s,
        &Overrides {
            provider: Some("scripted".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.model.provider, "scripted");
}

#[test]
fn wrong_type_names_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let user = dir.path().join("user.toml");
    write(&user, "# comment\n[turn]\nmax_iterations = \"many\"\n");
    let err = load_from(&sources(dir.path()), &Overrides::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("user.toml:3:"), "{msg}");
    assert!(msg.contains("turn.max_iterations"), "{msg}");
}

#[test]
fn unknown_key_is_an_error_not_ignored() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("etc.toml"),
        "[model]\nprovidr = \"openai\"\n",
    );
    let msg = load_from(&sources(dir.path()), &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("etc.toml:2:"), "{msg}");
    assert!(msg.contains("providr"), "{msg}");
}

#[test]
fn broken_toml_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("user.toml"), "[model]\nprovider = \n");
    let msg = load_from(&sources(dir.path()), &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("user.toml:2:"), "{msg}");
}

#[test]
fn unknown_provider_is_actionable() {
    let dir = tempfile::tempdir().unwrap();
    let msg = load_from(
        &sources(dir.path()),
        &Overrides {
            provider: Some("gpt".into()),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(msg.contains("unknown provider \"gpt\""), "{msg}");
    assert!(msg.contains("openai, anthropic, local, scripted"), "{msg}");
}

#[test]
fn explicit_config_file_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_from(
        &sources(dir.path()),
        &Overrides {
            config_file: Some(dir.path().join("nope.toml")),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("nope.toml"), "{err}");
}

#[test]
fn key_file_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("keys.toml");
    write(&f, "scripted = \"k\"\n");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = keys::api_key("scripted", Some(&f)).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        keys::api_key("scripted", Some(&f)).unwrap().as_deref(),
        Some("k")
    );
}
