//! The image's hand-written daemon manifests (`rootfs/overlay`) agree with
//! the one table of the daemon set, `aios_config::Daemon`: the table says
//! which daemons exist, what each requires, which one runs privileged and
//! which one reads API keys; the manifests add only what is particular to
//! the image (users, directories). Drift in either fails here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use aios_config::Daemon;

fn services_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rootfs/overlay/etc/aios/services")
}

fn manifest(d: Daemon) -> aios_initd::spec::ServiceSpec {
    let file = services_dir().join(format!("{}.toml", d.name()));
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("the image has no manifest for {}: {e}", d.name()));
    aios_initd::manifest::parse(&file, &text)
        .unwrap_or_else(|e| panic!("{e}"))
        .spec
}

#[test]
fn every_daemon_of_the_table_has_an_image_manifest_that_agrees_with_it() {
    for d in Daemon::ALL {
        let spec = manifest(d);
        let who = d.name();
        assert_eq!(spec.name, who);
        assert_eq!(spec.description, d.description(), "{who}: description");
        assert_eq!(
            spec.command.first().map(String::as_str),
            Some(format!("/usr/bin/{who}").as_str()),
            "{who}: command"
        );
        for need in d.requires() {
            assert!(
                spec.requires.iter().any(|r| r == need.name()),
                "{who} must require {} (the daemon table says so)",
                need.name()
            );
        }
        let root = matches!(spec.user.as_deref(), None | Some("root"));
        assert_eq!(
            root,
            d.privileged(),
            "{who}: runs as {:?}, but the table says privileged = {}",
            spec.user,
            d.privileged()
        );
        assert_eq!(
            spec.environment.contains_key("AIOS_KEY_FILE"),
            d.reads_api_keys(),
            "{who}: only the daemon that reads API keys is given the key file"
        );
    }
}

#[test]
fn the_image_runs_no_daemon_the_table_does_not_know() {
    for entry in std::fs::read_dir(services_dir()).unwrap() {
        let file = entry.unwrap().path();
        let text = std::fs::read_to_string(&file).unwrap();
        let spec = aios_initd::manifest::parse(&file, &text).unwrap().spec;
        let Some(bin) = spec.command.first() else {
            continue;
        };
        let is_daemon_binary =
            bin.starts_with("/usr/bin/") && bin.ends_with('d') && !bin.ends_with("/initd");
        if is_daemon_binary {
            assert!(
                Daemon::ALL.iter().any(|d| d.name() == spec.name),
                "{} runs {bin}, which is not in the daemon table (aios_config::Daemon)",
                file.display()
            );
        }
    }
}
