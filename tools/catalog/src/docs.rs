//! `docs/TOOLS.md`, generated from the one definition of each tool: its
//! spec (name, effect, description, argument schema). A test keeps the
//! checked-in file identical to what this renders.

use aios_domain::ToolSpec;

/// The whole `docs/TOOLS.md` for `specs` (in the order given).
pub fn tools_markdown(specs: &[ToolSpec]) -> String {
    let mut s = String::from(
        "# Tools\n\n\
         Generated from the tool definitions in `tools/catalog` (do not edit by hand:\n\
         `AIOS_UPDATE_DOCS=1 cargo test -p aios-catalog tools_md` rewrites it).\n\
         `aios tools` lists the same tools from the running executor, and\n\
         `aios tools describe NAME` prints one of them.\n\n\
         | tool | effect | what it does |\n|---|---|---|\n",
    );
    for spec in specs {
        s.push_str(&format!(
            "| [`{}`](#{}) | {} | {} |\n",
            spec.name,
            anchor(&spec.name),
            spec.effect.describe(),
            cell(spec.summary())
        ));
    }
    for spec in specs {
        s.push_str(&format!(
            "\n## `{}`\n\n{}\n\nEffect: {}.\n",
            spec.name,
            spec.description.trim(),
            spec.effect.describe()
        ));
        if !spec.resources.is_empty() {
            s.push_str(&format!("Touches: {}.\n", spec.resources.join(", ")));
        }
        if !spec.examples.is_empty() {
            s.push_str("\nExamples:\n\n");
            for x in &spec.examples {
                s.push_str(&format!("- \"{}\" → `{}`\n", x.request, x.args));
            }
        }
        let args = spec.args();
        if args.is_empty() {
            s.push_str("\nNo arguments.\n");
            continue;
        }
        s.push_str("\n| argument | type | required | description |\n|---|---|---|---|\n");
        for a in args {
            s.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                a.name,
                cell(&a.ty),
                if a.required { "yes" } else { "no" },
                cell(&a.description)
            ));
        }
    }
    s
}

/// GitHub's heading anchor for `## \`fs.read\``.
fn anchor(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Text safe inside a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    #[test]
    fn docs_tools_md_is_generated_from_the_registry() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/TOOLS.md");
        let want = tools_markdown(&Registry::builtin().specs());
        if std::env::var_os("AIOS_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &want).unwrap();
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/TOOLS.md is out of date with the tool definitions; regenerate it with \
             `AIOS_UPDATE_DOCS=1 cargo test -p aios-catalog tools_md`"
        );
        for spec in Registry::builtin().specs() {
            assert!(have.contains(&format!("## `{}`", spec.name)));
        }
    }
}
