//! The documentation pass over real files in a temporary directory, a real store and real
//! indexes: what is found, what a re-run re-reads, and what a search finds.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use aios_store::Store;

use super::*;
use crate::search::{APPLY_BATCH, Query};

const CHATTR: &str = ".TH CHATTR 1\n.SH NAME\nchattr \\- change file attributes on a Linux file system\n\
.SH DESCRIPTION\nA file with the 'i' attribute cannot be modified: it cannot be deleted or renamed.\n\
The letters select the new attributes: append only (a), immutable (i).\n";
const CHMOD: &str = ".TH CHMOD 1\n.SH NAME\nchmod \\- change file mode bits\n\
.SH DESCRIPTION\n.B chmod\nchanges the file mode bits of each given file according to mode.\n";

fn gz(path: &Path, text: &str) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    w.write_all(text.as_bytes()).unwrap();
    w.finish().unwrap();
}

struct Fixture {
    dir: tempfile::TempDir,
    host: SearchHost,
    settings: DocsSettings,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let man = dir.path().join("man");
        std::fs::create_dir_all(man.join("man1")).unwrap();
        gz(&man.join("man1/chattr.1.gz"), CHATTR);
        std::fs::write(man.join("man1/chmod.1"), CHMOD).unwrap();
        std::fs::write(man.join("man1/lsattr.1"), ".so man1/chattr.1\n").unwrap();
        let doc = dir.path().join("doc/e2fsprogs");
        std::fs::create_dir_all(&doc).unwrap();
        std::fs::write(
            doc.join("README.md"),
            "# e2fsprogs\nTools for ext4 file systems.\n",
        )
        .unwrap();
        let store = Arc::new(Store::open(&dir.path().join("m.db")).unwrap());
        let host = SearchHost::open(store, &dir.path().join("search"), None).unwrap();
        let settings = DocsSettings {
            man_dirs: vec![man],
            doc_dirs: vec![dir.path().join("doc")],
            doc_max_bytes: 1024,
        };
        Fixture {
            dir,
            host,
            settings,
        }
    }

    fn pass(&self) -> PassStats {
        let progress = DocsProgress::default();
        let s = pass(&self.host, &self.settings, &progress, &|| {}).unwrap();
        assert!(!progress.ingesting() && progress.pending() == 0);
        while self.host.apply_pending(APPLY_BATCH).unwrap() > 0 {}
        s
    }

    fn search(&self, text: &str) -> Vec<(String, String)> {
        self.host
            .query(&Query {
                collection: DOCS_COLLECTION.into(),
                text: Some(text.into()),
                k: 5,
                ..Query::default()
            })
            .unwrap()
            .into_iter()
            .map(|h| {
                let m: serde_json::Value = serde_json::from_str(&h.doc.metadata_json).unwrap();
                (m["page"].as_str().unwrap().to_string(), h.doc.key)
            })
            .collect()
    }
}

#[test]
fn a_pass_indexes_pages_and_readmes_and_a_rerun_reads_only_what_changed() {
    let f = Fixture::new();
    let s = f.pass();
    assert_eq!((s.files, s.read, s.removed), (4, 4, 0), "{s:?}");
    let hits = f.search("how do I make a file immutable?");
    assert_eq!(hits[0].0, "chattr.1", "{hits:?}");
    assert_eq!(hits[0].1, "man:chattr.1#0");
    assert_eq!(f.search("ext4 tools")[0].0, "e2fsprogs/README.md");
    // The .so alias is recorded, with no documents of its own.
    assert!(f.search("lsattr").iter().all(|(p, _)| p != "lsattr.1"));

    // Nothing changed: nothing is read.
    assert_eq!(f.pass().read, 0);

    // chmod edited, chattr removed: one read, one removal, and the search follows.
    let man1 = f.dir.path().join("man/man1");
    std::fs::write(
        man1.join("chmod.1"),
        CHMOD.replace("mode bits", "permissions and immutable flags"),
    )
    .unwrap();
    std::fs::remove_file(man1.join("chattr.1.gz")).unwrap();
    let s = f.pass();
    assert_eq!((s.read, s.removed), (1, 1), "{s:?}");
    let hits = f.search("immutable");
    assert_eq!(
        hits.first().map(|h| h.0.as_str()),
        Some("chmod.1"),
        "{hits:?}"
    );
    assert!(hits.iter().all(|(p, _)| p != "chattr.1"), "{hits:?}");
    let c = f.host.store().get_collection(DOCS_COLLECTION).unwrap();
    assert_eq!(f.host.indexed_count(DOCS_COLLECTION).unwrap(), c.count);
}

#[test]
fn plan_compares_path_mtime_size_and_name() {
    let found = |path: &str, mtime_ns: i64| Found {
        path: path.into(),
        kind: Kind::Man(manpath::page_file("ls.1", "1").unwrap()),
        mtime_ns,
        size: 5,
    };
    let known = |path: &str, mtime_ns: i64| DocSource {
        path: path.into(),
        mtime_ns,
        size: 5,
        prefix: "man:ls.1".into(),
        chunks: 1,
    };
    let p = plan(
        &[
            found("/a/ls.1", 1),
            found("/b/ls.1", 2),
            found("/c/ls.1", 3),
        ],
        &[
            known("/a/ls.1", 1),
            known("/b/ls.1", 1),
            known("/gone/ls.1", 1),
        ],
    );
    assert_eq!(p.changed, vec![1, 2]);
    // A changed file is replaced, not removed.
    assert_eq!(p.removed, vec!["/gone/ls.1".to_string()]);
}

#[test]
fn each_chunk_names_its_page() {
    let f = Found {
        path: "/usr/share/man/man1/chattr.1.gz".into(),
        kind: Kind::Man(manpath::page_file("chattr.1.gz", "1").unwrap()),
        mtime_ns: 0,
        size: 0,
    };
    let docs = documents(&f, CHATTR, 7);
    assert_eq!(docs.len(), 1);
    let m: serde_json::Value = serde_json::from_str(&docs[0].metadata_json).unwrap();
    assert_eq!(m["page"], "chattr.1");
    assert_eq!(m["name"], "chattr");
    assert_eq!(m["section"], "1");
    assert_eq!(m["source"], "man");
    assert_eq!(m["kind"], "man");
    assert_eq!(m["chunk"], 0);
    assert_eq!(m["path"], "/usr/share/man/man1/chattr.1.gz");
    assert!(
        docs[0]
            .text
            .starts_with("chattr(1): chattr - change file attributes on a Linux file system\nNAME")
    );
}
