//! Theme files: the shipped ones are valid, and each kind of mistake is
//! reported with its file, line and key.

use std::path::Path;

use super::*;

fn one(name: &str, text: &str) -> ThemeSet {
    let mut sources = embedded_sources();
    sources.push((name.into(), format!("{name}.toml"), text.into()));
    ThemeSet::from_sources(&sources)
}

fn problems(text: &str) -> Vec<String> {
    one("t", text)
        .problems
        .iter()
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn the_shipped_themes_load_and_pass_the_check() {
    let set = ThemeSet::embedded();
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    assert_eq!(
        set.names(),
        ["console-16", "default-dark", "high-contrast", "light"]
    );
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../themes");
    let found = check_dir(&dir, &crate::transcript::highlight::theme_names());
    assert!(
        found.is_empty(),
        "{}",
        found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Every file in themes/ is compiled in.
    let files = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(files, EMBEDDED.len());
}

#[test]
fn a_child_inherits_styles_and_its_palette_recolours_them() {
    let set = one(
        "mine",
        "inherits = \"default-dark\"\n[palette]\nred = \"#ff0000\"\n[styles]\nuser = { fg = \"red\" }\n",
    );
    assert!(set.problems.is_empty(), "{:?}", set.problems);
    let mine = set.get("mine").unwrap_or_else(default_styles);
    let user = mine.roles[Role::User as usize];
    assert_eq!(user.fg, Some(Color::Rgb(255, 0, 0)));
    assert!(
        !user.add_modifier.contains(Modifier::BOLD),
        "a style is replaced whole"
    );
    // The parent's error style uses `red` from the child's palette.
    assert_eq!(
        mine.roles[Role::Error as usize].fg,
        Some(Color::Rgb(255, 0, 0))
    );
    assert_eq!(mine.syntect.as_deref(), Some("base16-ocean.dark"));
}

#[test]
fn mistakes_name_the_file_line_and_key() {
    let base = "inherits = \"default-dark\"\n";
    assert_eq!(
        problems(&format!("{base}colour = \"red\"\n")),
        ["t.toml:2: colour: unknown key"]
    );
    assert_eq!(
        problems(&format!("{base}[styles]\nuser = {{ fg = \"bleu\" }}\n")),
        [format!(
            "t.toml:3: styles.user.fg: unknown colour \"bleu\" (a [palette] name, #rrggbb, or one of {})",
            color::NAMES.join(", ")
        )]
    );
    assert_eq!(
        problems(&format!("{base}[styles]\nusr = {{ bold = true }}\n")),
        ["t.toml:3: styles.usr: unknown key"]
    );
    assert_eq!(
        problems(&format!("{base}[styles]\nuser = {{ blink = true }}\n")),
        ["t.toml:3: styles.user.blink: unknown key"]
    );
    assert_eq!(
        problems(&format!("{base}[palette]\nx = \"#12345\"\n")),
        [format!(
            "t.toml:3: palette.x: unknown colour \"#12345\" (a [palette] name, #rrggbb, or one of {})",
            color::NAMES.join(", ")
        )]
    );
    assert_eq!(
        problems("[styles]\nuser = { bold = true }\n"),
        [format!(
            "t.toml:1: styles: no style for {}",
            ROLES
                .iter()
                .map(|r| r.1)
                .filter(|k| *k != "user")
                .collect::<Vec<_>>()
                .join(", ")
        )]
    );
    assert_eq!(
        problems("inherits = \"nothing\"\n"),
        ["t.toml:1: inherits: no theme called \"nothing\" to inherit from"]
    );
    assert_eq!(
        problems(&format!("{base}glyphs = \"emoji\"\n")),
        ["t.toml:2: glyphs: no glyph set \"emoji\" (one of unicode, cp437, ascii)"]
    );
    assert_eq!(
        problems("\n\nstyles = [\n"),
        ["t.toml:3: not valid TOML: unclosed array, expected `]`"]
    );
}

#[test]
fn an_inherits_cycle_is_found() {
    let set = ThemeSet::from_sources(&[
        ("a".into(), "a.toml".into(), "inherits = \"b\"\n".into()),
        ("b".into(), "b.toml".into(), "\ninherits = \"a\"\n".into()),
    ]);
    let found: Vec<String> = set.problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        found,
        [
            "b.toml:2: inherits: inherits in a circle: a -> b -> a",
            "a.toml:1: inherits: inherits in a circle: b -> a -> b",
        ]
    );
}

#[test]
fn an_unknown_syntect_theme_is_reported_by_the_check() {
    let set = one(
        "t",
        "inherits = \"default-dark\"\nsyntect = \"monokai-ish\"\n",
    );
    let known = crate::transcript::highlight::theme_names();
    let found: Vec<String> = set
        .check_syntect(&known)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("t.toml:2: syntect: syntect has no theme \"monokai-ish\""));
}

#[test]
fn a_broken_user_file_keeps_the_compiled_in_theme() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("light.toml"), "inherits = 3\n")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("mine.toml"),
        "inherits = \"light\"\ndescription = \"mine\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let set = ThemeSet::load(Some(dir.path()));
    let found: Vec<String> = set.problems.iter().map(ToString::to_string).collect();
    assert!(
        found[0].ends_with("light.toml:1: inherits: expected a string"),
        "{found:?}"
    );
    // The compiled-in light stands, and the user's own theme builds on it.
    assert_eq!(set.get("light"), ThemeSet::embedded().get("light"));
    assert!(set.get("mine").is_some());
}

/// The shipped themes and the roles, as docs/TUI.md shows them.
fn markdown() -> String {
    let set = ThemeSet::embedded();
    let mut out = String::from("| theme | syntect theme | glyphs | for |\n|---|---|---|---|\n");
    for name in set.names() {
        let Some(s) = set.get(&name) else { continue };
        let glyphs = match s.glyphs {
            Some(g) if g == Glyphs::CONSOLE => "cp437",
            Some(g) if g == Glyphs::ASCII => "ascii",
            Some(_) => "unicode",
            None => "the terminal's",
        };
        out.push_str(&format!(
            "| `{name}` | {} | {glyphs} | {} |\n",
            s.syntect.as_deref().unwrap_or(NO_SYNTECT),
            s.description
        ));
    }
    out.push_str("\n| role (`[styles]` key) | what it styles |\n|---|---|\n");
    for (_, key, doc) in ROLES {
        out.push_str(&format!("| `{key}` | {doc} |\n"));
    }
    out
}

/// docs/TUI.md carries the generated tables between markers.
#[test]
fn docs_tui_md_lists_the_themes_and_roles() {
    crate::generated_docs::ensure_section(
        "TUI.md",
        "<!-- themes:begin (generated from themes/ and shell/src/transcript/theme.rs) -->\n",
        "<!-- themes:end -->",
        &markdown(),
        "themes/ and the roles",
    );
}
