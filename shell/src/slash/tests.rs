use super::*;

fn tools() -> Vec<String> {
    ["fs.list", "fs.read", "fs.write", "log.tail"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn commands_and_requests_about_paths_are_told_apart() {
    assert!(is_command("/help"));
    assert!(is_command("  /why 12"));
    assert!(is_command("/?"));
    assert!(!is_command("/etc/motd: what is it?"));
    assert!(!is_command("/tmp.txt"));
    assert!(!is_command("what is /tmp"));
    assert!(!is_command("/"));
}

#[test]
fn commands_parse_with_their_arguments() {
    assert_eq!(parse("/help"), Ok(Request::Help));
    assert_eq!(parse("/?"), Ok(Request::Help));
    assert_eq!(parse("/exit"), Ok(Request::Quit));
    assert_eq!(parse("/why #12"), Ok(Request::Why(12)));
    assert_eq!(parse("/undo 7"), Ok(Request::Undo(7)));
    assert_eq!(parse("/audit"), Ok(Request::Audit { limit: 20 }));
    assert_eq!(parse("/audit 5"), Ok(Request::Audit { limit: 5 }));
    assert_eq!(
        parse("/policy fs.write {\"path\": \"/etc/motd\", \"content\": \"a b\"}"),
        Ok(Request::Policy {
            tool: "fs.write".into(),
            args: "{\"path\": \"/etc/motd\", \"content\": \"a b\"}".into()
        })
    );
    assert_eq!(
        parse("/policy fs.read"),
        Ok(Request::Policy {
            tool: "fs.read".into(),
            args: "{}".into()
        })
    );
    assert_eq!(
        parse("/tools describe fs.read"),
        Ok(Request::Tools {
            describe: Some("fs.read".into())
        })
    );
    assert_eq!(
        parse("/grants revoke g1"),
        Ok(Request::Grants {
            revoke: Some("g1".into())
        })
    );
    assert_eq!(parse("/model"), Ok(Request::Model(None)));
    assert_eq!(
        parse("/theme light"),
        Ok(Request::Theme(Some("light".into())))
    );
}

#[test]
fn bad_arguments_say_the_usage() {
    let e = parse("/why").unwrap_err();
    assert!(
        e.contains("ledger entry id") && e.contains("/why ID"),
        "{e}"
    );
    let e = parse("/why twelve").unwrap_err();
    assert!(e.contains("\"twelve\" is not a ledger entry id"), "{e}");
    let e = parse("/clear all").unwrap_err();
    assert!(e.contains("takes no arguments"), "{e}");
    let e = parse("/audit -3").unwrap_err();
    assert!(e.contains("not a count"), "{e}");
}

#[test]
fn an_unknown_command_names_the_nearest() {
    let e = parse("/tols").unwrap_err();
    assert_eq!(
        e,
        "unknown command /tols: did you mean /tools? /help lists the commands"
    );
    assert!(parse("/hlep").unwrap_err().contains("did you mean /help?"));
    assert!(parse("/pol").unwrap_err().contains("/policy"));
    assert!(parse("/attach").unwrap_err().contains("give a session id"));
    assert_eq!(parse("/attach abc"), Ok(Request::Attach("abc".into())));
    assert_eq!(parse("/detach"), Ok(Request::Detach));
    let e = parse("/zzzzzz").unwrap_err();
    assert_eq!(e, "unknown command /zzzzzz: /help lists the commands");
}

#[test]
fn tab_completes_names_words_and_tools() {
    let t = tools();
    let c = complete(
        "/to",
        &Names {
            tools: &t,
            themes: &[],
        },
    );
    assert_eq!(c.line.as_deref(), Some("/tools "));
    assert!(c.choices.is_empty());
    // Two matches: extended to the common prefix and listed.
    let c = complete(
        "/t",
        &Names {
            tools: &t,
            themes: &[],
        },
    );
    assert_eq!(c.line, None);
    assert_eq!(c.choices, vec!["theme", "tools"]);
    let c = complete(
        "/s",
        &Names {
            tools: &t,
            themes: &[],
        },
    );
    assert_eq!(c.line.as_deref(), Some("/sessions"));
    assert_eq!(
        complete(
            "/tools d",
            &Names {
                tools: &t,
                themes: &[]
            }
        )
        .line
        .as_deref(),
        Some("/tools describe ")
    );
    let c = complete(
        "/tools describe f",
        &Names {
            tools: &t,
            themes: &[],
        },
    );
    assert_eq!(c.line.as_deref(), Some("/tools describe fs."));
    let c = complete(
        "/tools describe fs.",
        &Names {
            tools: &t,
            themes: &[],
        },
    );
    assert_eq!(c.line, None);
    assert_eq!(c.choices, vec!["fs.list", "fs.read", "fs.write"]);
    let c = complete(
        "/tools describe fs.w",
        &Names {
            tools: &t,
            themes: &[],
        },
    );
    assert_eq!(c.line.as_deref(), Some("/tools describe fs.write"));
    assert_eq!(
        complete(
            "/policy lo",
            &Names {
                tools: &t,
                themes: &[]
            }
        )
        .line
        .as_deref(),
        Some("/policy log.tail ")
    );
    // Not a command, or nothing to add.
    assert_eq!(
        complete(
            "hello",
            &Names {
                tools: &t,
                themes: &[]
            }
        ),
        Completion::default()
    );
    assert_eq!(
        complete(
            "/why 1",
            &Names {
                tools: &t,
                themes: &[]
            }
        ),
        Completion::default()
    );
    assert_eq!(
        complete(
            "/nope x",
            &Names {
                tools: &t,
                themes: &[]
            }
        ),
        Completion::default()
    );
}

#[test]
fn common_prefixes() {
    assert_eq!(common_prefix(&["fs.list", "fs.read"]), "fs.");
    assert_eq!(common_prefix(&["abc", "ab"]), "ab");
    assert_eq!(common_prefix(&["x", "y"]), "");
}

#[test]
fn names_are_unique_and_documented() {
    let mut names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    let n = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(n, names.len());
    assert!(COMMANDS.iter().all(|c| !c.doc.is_empty()));
    for (alias, target) in ALIASES {
        assert!(find(target).is_some() && find(alias).is_some());
    }
}

/// docs/TUI.md carries the generated command table between markers.
#[test]
fn docs_tui_md_lists_the_commands() {
    crate::generated_docs::ensure_section(
        "TUI.md",
        "<!-- commands:begin (generated from shell/src/slash/mod.rs) -->\n",
        "<!-- commands:end -->",
        &markdown(),
        "the commands",
    );
}

#[test]
fn typing_a_command_suggests_it() {
    assert_eq!(
        suggest("/wh").as_deref(),
        Some("/why ID — the chain behind a ledger entry, request to result")
    );
    assert_eq!(suggest("/t").as_deref(), Some("/tools  /theme"));
    assert!(suggest("/").unwrap().starts_with("/help  /clear  /model"));
    assert_eq!(
        suggest("/undo 3").as_deref(),
        Some("/undo ID — reverse a change by its ledger id (asks like any change)")
    );
    assert_eq!(suggest("/zz"), None);
    assert_eq!(suggest("/etc/motd"), None);
    assert_eq!(suggest("hello"), None);
}
