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
    assert_eq!(c.model.provider, "local");
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
    assert_eq!(
        c.providers.0["openai"].base_url.as_deref(),
        Some("http://127.0.0.1:9/v1")
    );
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

/// A malformed key file line is reported by place and kind only: the
/// secret on it never reaches the message (which is logged and sent to
/// users), in Display or Debug.
#[test]
fn malformed_key_file_lines_are_never_quoted() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("keys.toml");
    let secret = "sk-FAKE0123456789abcdefSECRET";
    let cases: [(&[u8], KeyFileProblem, usize, usize); 6] = [
        // A key pasted alone on a line.
        (
            b"anthropic = \"ok\"\nsk-FAKE0123456789abcdefSECRET\n",
            KeyFileProblem::Syntax,
            2,
            30,
        ),
        // Unquoted key: a syntax error on line 2.
        (
            b"# keys\nopenai = sk-FAKE0123456789abcdefSECRET\n",
            KeyFileProblem::Syntax,
            2,
            10,
        ),
        // toml's own message would quote the value of a wrong type.
        (
            b"openai = [\"sk-FAKE0123456789abcdefSECRET\"]\n",
            KeyFileProblem::NotAString,
            1,
            10,
        ),
        (
            b"[openai]\nkey = \"sk-FAKE0123456789abcdefSECRET\"\n",
            KeyFileProblem::NotAString,
            1,
            1,
        ),
        (
            b"openai = \"sk-FAKE0123456789abcdefSECRET\"\nopenai = \"sk-FAKE0123456789abcdefSECRET\"\n",
            KeyFileProblem::DuplicateKey,
            2,
            1,
        ),
        (
            b"openai = \"sk-FAKE0123456789abcdefSECRET\xff\"\n",
            KeyFileProblem::NotUtf8,
            1,
            40,
        ),
    ];
    for (text, problem, line, column) in cases {
        std::fs::write(&f, text).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = keys::api_key("openai", Some(&f)).unwrap_err();
        let shown = format!("{err} {err:?} {err:#}");
        assert!(!shown.contains(secret), "the key leaked: {shown}");
        assert!(!shown.contains("FAKE"), "part of the key leaked: {shown}");
        match &err {
            ConfigError::KeyFile {
                file,
                line: l,
                column: c,
                problem: p,
            } => {
                assert_eq!(
                    (file.as_path(), *p, *l, *c),
                    (f.as_path(), problem, line, column),
                    "{shown}"
                );
            }
            other => panic!("not a KeyFile error: {other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with(&format!("{}:{line}:{column}: ", f.display())),
            "{err}"
        );
    }
}

#[test]
fn the_key_file_can_be_named_by_aios_key_file() {
    // Safe here: no other test of this crate reads AIOS_KEY_FILE.
    unsafe { std::env::set_var("AIOS_KEY_FILE", "/etc/aios/keys.toml") };
    assert_eq!(
        keys::default_key_file().as_deref(),
        Some(std::path::Path::new("/etc/aios/keys.toml"))
    );
    unsafe { std::env::remove_var("AIOS_KEY_FILE") };
}

/// Load with `user.toml` holding `text` (and no system file).
fn load_user_text(text: &str) -> (tempfile::TempDir, Result<Config, ConfigError>) {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("user.toml"), text);
    let r = load_from(&sources(dir.path()), &Overrides::default());
    (dir, r)
}

#[test]
fn named_instances_resolve_with_their_kind_and_the_built_ins_remain() {
    let (_d, c) = load_user_text(
        "[providers.claude]\nkind = \"anthropic\"\nmodel = \"claude-sonnet-4-5\"\n\n\
         [providers.lab]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:8000/v1\"\nmodel = \"qwen2.5-7b\"\n\n\
         [model]\nprovider = \"claude\"\nfallback = [\"lab\", \"local\"]\n",
    );
    let c = c.unwrap();
    let instances = c.instances().unwrap();
    let names: Vec<&str> = instances.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        ["openai", "anthropic", "local", "scripted", "claude", "lab"]
    );
    let lab = instances.iter().find(|i| i.name == "lab").unwrap();
    assert_eq!(lab.kind, ProviderKind::OpenaiCompatible);
    assert_eq!(lab.model(), "qwen2.5-7b");
    assert_eq!(lab.key_env, None);
    let claude = instances.iter().find(|i| i.name == "claude").unwrap();
    assert_eq!(claude.key_env.as_deref(), Some("ANTHROPIC_API_KEY"));
    assert_eq!(c.model.fallback, ["lab", "local"]);
    // Prices: built-in for a known cloud model, free for a local server.
    let p = c.price(claude, "claude-sonnet-4-5-20250929").unwrap();
    assert_eq!((p.input_per_mtok, p.output_per_mtok), (3.0, 15.0));
    assert_eq!(c.price(lab, "qwen2.5-7b").unwrap().input_per_mtok, 0.0);
    let gpt = instances.iter().find(|i| i.name == "openai").unwrap();
    assert!(
        c.price(gpt, "some-new-model").is_none(),
        "unknown, not zero"
    );
}

#[test]
fn old_provider_tables_still_parse() {
    let (_d, c) = load_user_text(
        "[model]\nprovider = \"openai\"\n[providers.openai]\nbase_url = \"http://127.0.0.1:11434/v1\"\nmodel = \"llama3\"\ntimeout_secs = 60\nmax_retries = 2\n\
         [providers.anthropic]\nmax_tokens = 1024\n[providers.scripted]\nscript = \"/tmp/s.json\"\n[providers.local]\nmodel_path = \"/m.gguf\"\n",
    );
    let c = c.unwrap();
    let i = c.instances().unwrap();
    match &i[0].settings {
        Settings::OpenAi(o) => {
            assert_eq!(o.base_url, "http://127.0.0.1:11434/v1");
            assert_eq!((o.timeout_secs, o.max_retries), (60, 2));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&i[1].settings, Settings::Anthropic(a) if a.max_tokens == 1024));
    assert_eq!(
        c.provider_files(),
        [
            std::path::PathBuf::from("/m.gguf"),
            std::path::PathBuf::from("/tmp/s.json")
        ]
    );
}

#[test]
fn bad_instances_name_the_file_line_key_and_fix() {
    let cases: [(&str, &str, &[&str]); 6] = [
        (
            "[providers.lab]\nkind = \"openai-compatibel\"\n",
            "user.toml:2:",
            &["providers.lab.kind", "unknown variant", "openai-compatible"],
        ),
        (
            "# lab\n[providers.lab]\nkind = \"openai-compatible\"\nmodel = \"m\"\n",
            "user.toml:2:",
            &["providers.lab", "needs a base_url", "base_url = "],
        ),
        (
            "[providers.lab]\nkind = \"anthropic\"\nscript = \"x.json\"\n",
            "user.toml:3:",
            &[
                "providers.lab.script",
                "does not apply",
                "kind \"scripted\"",
            ],
        ),
        (
            "[providers.lab]\nbase_url = \"http://127.0.0.1:1/v1\"\n",
            "user.toml:1:",
            &["providers.lab", "has no kind", "\"openai-compatible\""],
        ),
        (
            "[model]\nprovider = \"scripted\"\nfallback = [\"claude\"]\n",
            "user.toml:3:",
            &["model.fallback", "\"claude\"", "[providers.claude]"],
        ),
        (
            "[providers.\"My Lab\"]\nkind = \"local\"\n",
            "user.toml:1:",
            &["not valid", "lowercase"],
        ),
    ];
    for (text, place, wants) in cases {
        let (_d, r) = load_user_text(text);
        let msg = r.unwrap_err().to_string();
        assert!(msg.contains(place), "{text:?}: {msg}");
        for w in wants {
            assert!(msg.contains(w), "{text:?}: want {w:?} in {msg}");
        }
    }
}

#[test]
fn a_fallback_set_in_one_file_and_broken_by_another_names_the_setter() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("etc.toml"),
        "[model]\nfallback = [\"lab\"]\n",
    );
    write(
        &dir.path().join("user.toml"),
        "[turn]\nmax_iterations = 3\n",
    );
    let msg = load_from(&sources(dir.path()), &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("etc.toml:2:"), "{msg}");
    assert!(msg.contains("model.fallback"), "{msg}");
    // Defined in the user file, the same chain is fine.
    write(
        &dir.path().join("user.toml"),
        "[providers.lab]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:1/v1\"\n",
    );
    load_from(&sources(dir.path()), &Overrides::default()).unwrap();
}

#[test]
fn the_theme_comes_from_the_file_or_aios_theme() {
    fn env(k: &str) -> Option<String> {
        (k == "AIOS_THEME").then(|| "high-contrast".into())
    }
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("user.toml"), "[ui]\ntheme = \"light\"\n");
    let mut s = sources(dir.path());
    let c = load_from(&s, &Overrides::default()).unwrap();
    assert_eq!(c.ui.theme.as_deref(), Some("light"));
    s.env = env;
    let c = load_from(&s, &Overrides::default()).unwrap();
    assert_eq!(c.ui.theme.as_deref(), Some("high-contrast"));
    write(
        &dir.path().join("user.toml"),
        "[ui]\ntheme = \"light\"\ncolour = 1\n",
    );
    assert!(load_from(&s, &Overrides::default()).is_err());
}

#[test]
fn the_local_listing_and_clarify_threshold_are_read_and_checked() {
    let (_d, c) = load_user_text("[providers.local]\nlisting = \"group\"\nclarify_below = 0.25\n");
    let c = c.unwrap();
    let local = c
        .instances()
        .unwrap()
        .into_iter()
        .find_map(|i| match i.settings {
            Settings::Local(l) => Some(l),
            _ => None,
        })
        .unwrap();
    assert_eq!(local.listing, crate::ToolListing::Group);
    assert_eq!(local.clarify_below, Some(0.25));

    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("user.toml"),
        "[providers.local]\nclarify_below = 1.5\n",
    );
    let msg = load_from(&sources(dir.path()), &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("user.toml:2:"), "{msg}");
    assert!(msg.contains("from 0 (never ask) to 1"), "{msg}");
    write(
        &dir.path().join("user.toml"),
        "[providers.local]\nlisting = \"everything\"\n",
    );
    let msg = load_from(&sources(dir.path()), &Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("candidates"), "{msg}");
}
