//! The machine's own documentation as the `docs` collection, end to end: a real memoryd
//! started by `aios`, a `MANPATH` holding real gzipped man pages copied from this system,
//! a README, and `aios memory search --collection docs` / `aios memory status`.
//! Then a page is edited and another removed, and after a restart the collection follows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use aios_tests::{Env, json_lines, wait_until};
use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(120);

/// Real pages: chattr from e2fsprogs, the rest from coreutils.
const PAGES: &[&str] = &[
    "chattr", "lsattr", "chmod", "chown", "cp", "ln", "ls", "mkdir", "mv", "rm", "touch",
];

fn aios_ok(env: &Env, args: &[&str]) -> String {
    let out = env.aios(args, b"", LIMIT);
    assert_eq!(
        out.status.code(),
        Some(0),
        "aios {args:?}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn status(env: &Env) -> Value {
    serde_json::from_str(aios_ok(env, &["memory", "status", "--json"]).trim()).unwrap()
}

fn docs_status(s: &Value) -> Option<Value> {
    s["collections"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == "docs")
        .cloned()
}

/// Waits until every documentation file is read and every chunk indexed.
fn wait_ready(env: &Env) -> Value {
    wait_until(
        "the docs collection to be ready",
        LIMIT,
        || status(env).to_string(),
        || {
            let s = status(env);
            let d = docs_status(&s)?;
            (d["ready"] == true && s["ready"] == true).then_some(d)
        },
    )
}

fn search(env: &Env, query: &str) -> Vec<Value> {
    json_lines(
        aios_ok(
            env,
            &["memory", "search", "--collection", "docs", query, "--json"],
        )
        .as_bytes(),
    )
}

fn page(hit: &Value) -> &str {
    hit["metadata"]["page"].as_str().unwrap()
}

/// A MANPATH directory with real pages copied from the system, and a doc directory.
fn corpus(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let man1 = root.join("man/man1");
    std::fs::create_dir_all(&man1).unwrap();
    for p in PAGES {
        let src = Path::new("/usr/share/man/man1").join(format!("{p}.1.gz"));
        assert!(
            src.is_file(),
            "{} is missing: install the pages this test reads (`apt-get install -y manpages man-db \
             e2fsprogs coreutils`), and if /etc/dpkg/dpkg.cfg.d/excludes drops /usr/share/man \
             (Docker images do), remove that line and reinstall (`.ci/run` does both)",
            src.display()
        );
        std::fs::copy(&src, man1.join(format!("{p}.1.gz"))).unwrap();
    }
    let doc = root.join("doc/aios-fixture");
    std::fs::create_dir_all(&doc).unwrap();
    std::fs::write(
        doc.join("README.md"),
        "# aios-fixture\nThe quokka backup tool keeps snapshots for thirty days.\n",
    )
    .unwrap();
    (root.join("man"), root.join("doc"))
}

#[test]
fn man_pages_on_manpath_answer_questions_and_follow_edits_after_a_restart() {
    let mut env = Env::empty();
    let (man, doc) = corpus(env.dir.path());
    env.vars.retain(|(k, _)| k != "AIOS_MEMORY_DOCS");
    env.vars.push(("MANPATH".into(), man.display().to_string()));
    std::fs::create_dir_all(env.user_config().parent().unwrap()).unwrap();
    std::fs::write(
        env.user_config(),
        format!(
            "[memory]\ndocs = true\ndoc_dirs = [{:?}]\n",
            doc.display().to_string()
        ),
    )
    .unwrap();

    let d = wait_ready(&env);
    // One README and every page but lsattr... all pages have at least one chunk.
    assert!(d["documents"].as_u64().unwrap() > PAGES.len() as u64, "{d}");
    assert_eq!(d["documents"], d["indexed"], "{d}");
    assert_eq!(d["pending_files"], 0, "{d}");

    // The question is answered from the machine's own chattr(1).
    let hits = search(&env, "how do I make a file immutable?");
    assert!(!hits.is_empty());
    assert_eq!(page(&hits[0]), "chattr.1", "{hits:#?}");
    assert_eq!(hits[0]["metadata"]["section"], "1");
    assert_eq!(hits[0]["metadata"]["source"], "man");
    assert!(hits[0]["id"].as_str().unwrap().starts_with("man:chattr.1#"));
    // MANPATH is honoured: every page comes from it, none from /usr/share/man.
    for h in search(&env, "file") {
        let path = h["metadata"]["path"].as_str().unwrap();
        assert!(
            path.starts_with(man.to_str().unwrap()) || path.starts_with(doc.to_str().unwrap()),
            "{h}"
        );
    }
    assert_eq!(
        page(&search(&env, "quokka snapshots")[0]),
        "aios-fixture/README.md"
    );
    let other = search(&env, "change the owner and group of a file");
    assert_eq!(page(&other[0]), "chown.1", "{other:#?}");

    // Plain output names the hit and its signal.
    let plain = aios_ok(
        &env,
        &["memory", "search", "--collection", "docs", "immutable"],
    );
    assert!(plain.contains("man:chattr.1#"), "{plain}");
    let st = aios_ok(&env, &["memory", "status"]);
    assert!(st.contains("docs: ") && st.contains("(ready)"), "{st}");

    // chmod edited, chattr removed; after a restart the collection follows.
    aios_ok(&env, &["daemons", "stop"]);
    let man1 = man.join("man1");
    std::fs::remove_file(man1.join("chmod.1.gz")).unwrap();
    std::fs::write(
        man1.join("chmod.1"),
        ".TH CHMOD 1\n.SH NAME\nchmod \\- change file mode bits\n.SH DESCRIPTION\n\
         The zorblax mode is new in this edition.\n",
    )
    .unwrap();
    std::fs::remove_file(man1.join("chattr.1.gz")).unwrap();
    let before = d["documents"].as_u64().unwrap();
    let d = wait_ready(&env);
    assert!(d["documents"].as_u64().unwrap() < before, "{d}");
    assert_eq!(d["documents"], d["indexed"], "{d}");
    assert_eq!(page(&search(&env, "zorblax")[0]), "chmod.1");
    assert!(
        search(&env, "immutable")
            .iter()
            .all(|h| page(h) != "chattr.1"),
        "the removed page is gone"
    );
}

#[test]
fn the_memory_search_tool_answers_the_model_from_the_docs() {
    let mut env = Env::scripted(&serde_json::json!({"turns": [
        {"text": "Let me look that up.",
         "tool_calls": [{"name": "memory.search", "args": {"query": "how do I make a file immutable?"}}]},
        {"text": "Use chattr +i."}
    ]}));
    let (man, doc) = corpus(env.dir.path());
    env.vars.retain(|(k, _)| k != "AIOS_MEMORY_DOCS");
    env.vars.push(("MANPATH".into(), man.display().to_string()));
    std::fs::create_dir_all(env.user_config().parent().unwrap()).unwrap();
    std::fs::write(
        env.user_config(),
        format!("[memory]\ndoc_dirs = [{:?}]\n", doc.display().to_string()),
    )
    .unwrap();
    wait_ready(&env);
    let events = env.run_json_ok("how do I make a file immutable?");
    let end = events
        .iter()
        .find(|e| e["type"] == "tool_call_end")
        .expect("the tool ran");
    assert_eq!(end["status"], "ok", "{end}");
    let result = &end["result"];
    assert_eq!(result["collection"], "docs", "{result}");
    assert_eq!(
        result["hits"][0]["metadata"]["page"], "chattr.1",
        "{result}"
    );
}
