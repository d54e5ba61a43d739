//! Manifest parsing and set validation, driven by manifest text.

use std::path::Path;
use std::time::Duration;

use super::*;

fn p(name: &str, text: &str) -> Result<Parsed, ManifestError> {
    parse(Path::new(&format!("/etc/aios/services/{name}.toml")), text)
}

fn err(name: &str, text: &str) -> String {
    p(name, text).unwrap_err().to_string()
}

#[test]
fn full_manifest_parses_with_every_field() {
    let text = r#"
name = "memoryd"
description = "memory"
command = ["/usr/bin/memoryd", "--socket", "/run/aios/memoryd.sock"]
user = "aios"
group = "aios"
supplementary_groups = ["adm"]
working_directory = "/var/lib/aios"
enabled = false
requires = ["base"]
after = ["net"]
readiness = "notify"
restart = "always"
start_timeout = "5s"
stop_timeout = "2s"
watchdog = "30s"
unset_environment = ["OPENAI_API_KEY"]

[environment]
AIOS_LOG = "debug"

[backoff]
initial = "50ms"
max = "2s"

[start_limit]
burst = 3
interval = "1m"

[limits]
nofile = 1024
nproc = 64
memory = "256M"
"#;
    let s = p("memoryd", text).unwrap().spec;
    assert_eq!(s.command[0], "/usr/bin/memoryd");
    assert_eq!(s.user.as_deref(), Some("aios"));
    assert_eq!(s.supplementary_groups, vec!["adm"]);
    assert!(!s.enabled);
    assert_eq!(s.requires, vec!["base"]);
    assert_eq!(s.after, vec!["net"]);
    assert_eq!(s.readiness, Readiness::Notify);
    assert_eq!(s.restart, RestartPolicy::Always);
    assert_eq!(s.backoff.initial, Duration::from_millis(50));
    assert_eq!(s.start_limit.burst, 3);
    assert_eq!(s.start_limit.interval, Duration::from_secs(60));
    assert_eq!(s.limits.memory, Some(256 << 20));
    assert_eq!(s.limits.nofile, Some(1024));
    assert_eq!(s.watchdog, Some(Duration::from_secs(30)));
    assert_eq!(s.environment["AIOS_LOG"], "debug");
    assert_eq!(s.unset_environment, vec!["OPENAI_API_KEY"]);
}

#[test]
fn minimal_manifest_gets_defaults() {
    let s = p("x", "command = [\"/bin/true\"]").unwrap().spec;
    assert_eq!(s.name, "x");
    assert_eq!(s.readiness, Readiness::None);
    assert_eq!(s.restart, RestartPolicy::OnFailure);
    assert!(s.enabled);
    assert_eq!(s.backoff, crate::spec::DEFAULT_BACKOFF);
}

#[test]
fn socket_readiness_is_a_table() {
    let s = p(
        "x",
        "command = [\"/bin/x\"]\nreadiness = { socket = \"/run/x.sock\" }\n",
    )
    .unwrap()
    .spec;
    assert_eq!(s.readiness, Readiness::Socket("/run/x.sock".into()));
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let e = err(
        "x",
        "command = [\"/bin/x\"]\nrestart = \"no\"\ncomand = 1\n",
    );
    assert!(e.starts_with("/etc/aios/services/x.toml:3:"), "{e}");
    assert!(e.contains("comand"), "{e}");
}

#[test]
fn bad_duration_names_line_and_dotted_key() {
    let e = err(
        "x",
        "command = [\"/bin/x\"]\n\n[backoff]\ninitial = \"10\"\n",
    );
    assert!(e.starts_with("/etc/aios/services/x.toml:4:"), "{e}");
    assert!(e.contains("key `backoff.initial`"), "{e}");
    assert!(e.contains("no unit"), "{e}");
}

#[test]
fn bad_restart_value_lists_choices() {
    let e = err("x", "command = [\"/bin/x\"]\nrestart = \"sometimes\"\n");
    assert!(
        e.contains(":2:") && e.contains("on-failure") && e.contains("key `restart`"),
        "{e}"
    );
}

#[test]
fn bad_readiness_value_lists_choices() {
    let e = err("x", "command = [\"/bin/x\"]\nreadiness = \"ready\"\n");
    assert!(e.contains(":2:") && e.contains("notify"), "{e}");
}

#[test]
fn empty_command_and_missing_command_are_refused() {
    let e = err("x", "command = []\n");
    assert!(
        e.contains(":1:") && e.contains("command must name a program"),
        "{e}"
    );
    let e = err("x", "name = \"x\"\n");
    assert!(e.contains("command"), "{e}");
}

#[test]
fn name_must_match_file_and_be_valid() {
    let e = err("x", "name = \"y\"\ncommand = [\"/bin/x\"]\n");
    assert!(
        e.contains(":1:") && e.contains("does not match the file name x.toml"),
        "{e}"
    );
    let e = err("X", "command = [\"/bin/x\"]\n");
    assert!(e.contains("not a valid service name"), "{e}");
}

#[test]
fn backoff_initial_above_max_is_refused() {
    let e = err(
        "x",
        "command = [\"/bin/x\"]\nbackoff = { initial = \"5s\", max = \"1s\" }\n",
    );
    assert!(
        e.contains(":2:") && e.contains("larger than backoff.max"),
        "{e}"
    );
}

#[test]
fn self_dependency_and_duplicate_deps_are_refused() {
    let e = err("x", "command = [\"/bin/x\"]\nrequires = [\"x\"]\n");
    assert!(e.contains(":2:") && e.contains("itself"), "{e}");
    let e = err(
        "x",
        "command = [\"/bin/x\"]\nrequires = [\"a\"]\nafter = [\"a\"]\n",
    );
    assert!(e.contains(":3:") && e.contains("listed twice"), "{e}");
}

#[test]
fn relative_working_directory_and_bad_env_are_refused() {
    let e = err("x", "command = [\"/bin/x\"]\nworking_directory = \"tmp\"\n");
    assert!(e.contains(":2:") && e.contains("absolute"), "{e}");
    let e = err(
        "x",
        "command = [\"/bin/x\"]\n[environment]\n\"A-B\" = \"1\"\n",
    );
    assert!(e.contains("invalid environment variable name"), "{e}");
    let e = err(
        "x",
        "command = [\"/bin/x\"]\nenvironment = { NOTIFY_SOCKET = \"/x\" }\n",
    );
    assert!(e.contains("NOTIFY_SOCKET"), "{e}");
}

#[test]
fn zero_start_limit_burst_means_no_limit() {
    let s = p("x", "command = [\"/bin/x\"]\n[start_limit]\nburst = 0\n")
        .unwrap()
        .spec;
    assert_eq!(s.start_limit.burst, 0);
    assert!(!s.start_limit.limited());
    assert_eq!(
        s.start_limit.interval,
        crate::spec::DEFAULT_START_LIMIT.interval
    );
    assert!(crate::spec::DEFAULT_START_LIMIT.limited());
}

#[test]
fn zero_start_limit_interval_is_refused() {
    let e = err(
        "x",
        "command = [\"/bin/x\"]\n\n[start_limit]\ninterval = \"0s\"\n",
    );
    assert!(
        e.contains(":3:") && e.contains("key `start_limit`") && e.contains("burst = 0"),
        "{e}"
    );
}

#[test]
fn exit_readiness_is_a_oneshot() {
    let s = p(
        "setup",
        "command = [\"/bin/setup\"]\nreadiness = \"exit\"\nrestart = \"no\"\n",
    )
    .unwrap()
    .spec;
    assert_eq!(s.readiness, Readiness::Exit);
    assert_eq!(s.restart, RestartPolicy::No);
    let s = p(
        "setup",
        "command = [\"/bin/setup\"]\nreadiness = \"exit\"\n",
    )
    .unwrap()
    .spec;
    assert_eq!(s.restart, RestartPolicy::OnFailure, "failures are retried");
}

#[test]
fn exit_readiness_refuses_restart_always_and_watchdog() {
    let e = err(
        "setup",
        "command = [\"/bin/setup\"]\nrestart = \"always\"\nreadiness = \"exit\"\n",
    );
    assert!(
        e.starts_with("/etc/aios/services/setup.toml:2:11: ")
            && e.contains("key `restart`")
            && e.contains("cannot be combined with readiness = \"exit\"")
            && e.contains("on-failure"),
        "{e}"
    );
    let e = err(
        "setup",
        "command = [\"/bin/setup\"]\nreadiness = \"exit\"\nwatchdog = \"5s\"\n",
    );
    assert!(
        e.contains(":3:") && e.contains("key `watchdog`") && e.contains("readiness = \"exit\""),
        "{e}"
    );
    // The error lists "exit" among the choices of a bad value.
    let e = err("x", "command = [\"/bin/x\"]\nreadiness = \"done\"\n");
    assert!(e.contains("exit") && e.contains("notify"), "{e}");
}

#[test]
fn memory_limit_accepts_integer_and_suffix() {
    let s = p(
        "x",
        "command = [\"/bin/x\"]\nlimits = { memory = 1048576 }\n",
    )
    .unwrap()
    .spec;
    assert_eq!(s.limits.memory, Some(1 << 20));
    let e = err(
        "x",
        "command = [\"/bin/x\"]\nlimits = { memory = \"lots\" }\n",
    );
    assert!(e.contains("invalid size"), "{e}");
}

fn set(manifests: &[(&str, &str)]) -> LoadReport {
    validate_set(manifests.iter().map(|(n, t)| p(n, t).unwrap()).collect())
}

#[test]
fn unknown_dependency_names_file_line_and_known_services() {
    let r = set(&[
        ("a", "command = [\"/bin/a\"]\n"),
        (
            "b",
            "command = [\"/bin/b\"]\n\nrequires = [\"a\", \"nope\"]\n",
        ),
    ]);
    assert_eq!(
        r.specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        vec!["a"]
    );
    let e = r.errors[0].to_string();
    assert!(e.starts_with("/etc/aios/services/b.toml:3:"), "{e}");
    assert!(
        e.contains("unknown service \"nope\"") && e.contains("known services: a"),
        "{e}"
    );
}

#[test]
fn cycle_is_reported_with_the_chain_and_dependents_are_rejected() {
    let r = set(&[
        ("a", "command = [\"/bin/a\"]\nrequires = [\"b\"]\n"),
        ("b", "command = [\"/bin/b\"]\nafter = [\"c\"]\n"),
        ("c", "command = [\"/bin/c\"]\nrequires = [\"a\"]\n"),
        ("d", "command = [\"/bin/d\"]\nrequires = [\"c\"]\n"),
        ("e", "command = [\"/bin/e\"]\n"),
    ]);
    assert_eq!(
        r.specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        vec!["e"]
    );
    let all = r
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(all.contains("dependency cycle: a (/etc/aios/services/a.toml:2) -> b (/etc/aios/services/b.toml:2) -> c (/etc/aios/services/c.toml:2) -> a"), "{all}");
    assert!(
        all.contains("\"d\" lists unknown service \"c\"")
            && all.contains("c exists but was rejected"),
        "{all}"
    );
}

#[test]
fn start_order_puts_dependencies_first() {
    let r = set(&[
        (
            "aiosd",
            "command = [\"/a\"]\nrequires = [\"memoryd\", \"toolsd\", \"gatewayd\"]\n",
        ),
        ("gatewayd", "command = [\"/g\"]\n"),
        ("memoryd", "command = [\"/m\"]\n"),
        ("toolsd", "command = [\"/t\"]\nafter = [\"memoryd\"]\n"),
    ]);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let names: Vec<_> = r.specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["gatewayd", "memoryd", "toolsd", "aiosd"]);
}

#[test]
fn load_dir_reports_bad_files_and_keeps_good_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.toml"), "command = [\"/bin/true\"]\n").unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "command = [\"/bin/true\"]\nrestart = 3\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("needs-bad.toml"),
        "command = [\"/bin/true\"]\nrequires = [\"bad\"]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("README.md"), "not a manifest").unwrap();
    std::fs::write(dir.path().join(".hidden.toml"), "garbage").unwrap();
    let r = load_dir(dir.path());
    assert_eq!(
        r.specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        vec!["good"]
    );
    assert_eq!(r.errors.len(), 2, "{:?}", r.errors);
    assert!(
        r.errors[0].to_string().contains("bad.toml:2:"),
        "{}",
        r.errors[0]
    );
    assert!(
        r.errors[1]
            .to_string()
            .contains("bad exists but was rejected"),
        "{}",
        r.errors[1]
    );
    assert!(load_dir(dir.path()).strict().is_err());
}

#[test]
fn missing_directory_is_a_read_error() {
    let r = load_dir(Path::new("/nonexistent/aios/services"));
    assert!(
        r.errors[0]
            .to_string()
            .contains("cannot read /nonexistent/aios/services")
    );
}

#[test]
fn absurd_durations_are_refused_with_file_line_column_and_key() {
    for (key, line, text) in [
        (
            "start_timeout",
            2,
            "command = [\"/bin/true\"]\nstart_timeout = \"18446744073709551615s\"\n",
        ),
        (
            "stop_timeout",
            2,
            "command = [\"/bin/true\"]\nstop_timeout = \"9999999999h\"\n",
        ),
        (
            "watchdog",
            2,
            "command = [\"/bin/true\"]\nwatchdog = \"8761h\"\n",
        ),
        (
            "backoff.max",
            4,
            "command = [\"/bin/true\"]\n\n[backoff]\nmax = \"18446744073709551615ms18446744073709551615s\"\n",
        ),
        (
            "start_limit.interval",
            4,
            "command = [\"/bin/true\"]\n\n[start_limit]\ninterval = \"1000000m\"\n",
        ),
    ] {
        let e = err("x", text);
        assert!(
            e.starts_with(&format!("/etc/aios/services/x.toml:{line}:"))
                && e.contains("too long: at most 8760h")
                && e.contains(&format!("(key `{key}`)")),
            "{key}: {e}"
        );
    }
}

mod trust {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn manifest(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, "command = [\"/bin/true\"]\n").unwrap();
        chmod(&path, 0o644);
        path
    }

    fn names(r: &LoadReport) -> Vec<&str> {
        r.specs.iter().map(|s| s.name.as_str()).collect()
    }

    #[test]
    fn a_directory_others_can_write_is_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        manifest(dir.path(), "a");
        for (mode, who) in [
            (0o775, "its group (mode 0775)"),
            (0o757, "everyone (mode 0757)"),
            (0o1777, "its group and everyone (mode 1777)"),
        ] {
            chmod(dir.path(), mode);
            let r = load_dir(dir.path());
            assert!(r.specs.is_empty(), "{mode:o}");
            assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
            let e = r.errors[0].to_string();
            assert!(
                e.starts_with(&format!("refusing {}: ", dir.path().display()))
                    && e.contains(&format!("the directory is writable by {who}"))
                    && e.contains(&format!("run `chmod go-w {}`", dir.path().display())),
                "{e}"
            );
        }
        chmod(dir.path(), 0o755);
        assert_eq!(names(&load_dir(dir.path())), vec!["a"]);
    }

    #[test]
    fn a_directory_of_another_user_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        manifest(dir.path(), "a");
        std::os::unix::fs::chown(dir.path(), Some(65534), None).unwrap();
        let r = load_dir(dir.path());
        assert!(r.specs.is_empty());
        let e = r.errors[0].to_string();
        assert!(
            e.contains("the directory belongs to uid 65534") && e.contains("run `chown 0 "),
            "{e}"
        );
    }

    #[test]
    fn writable_or_foreign_files_are_refused_and_the_rest_load() {
        let dir = tempfile::tempdir().unwrap();
        manifest(dir.path(), "good");
        let open = manifest(dir.path(), "open");
        chmod(&open, 0o666);
        let group = manifest(dir.path(), "group");
        chmod(&group, 0o664);
        let foreign = manifest(dir.path(), "foreign");
        std::os::unix::fs::chown(&foreign, Some(65534), Some(65534)).unwrap();
        // A link to a foreign file is judged by the file.
        let elsewhere = tempfile::tempdir().unwrap();
        let target = manifest(elsewhere.path(), "linked");
        std::os::unix::fs::chown(&target, Some(65534), None).unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("linked.toml")).unwrap();
        // A FIFO must be refused, not block the reader.
        nix::unistd::mkfifo(
            &dir.path().join("fifo.toml"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();

        let r = load_dir(dir.path());
        assert_eq!(names(&r), vec!["good"]);
        let errors: Vec<String> = r.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(errors.len(), 5, "{errors:#?}");
        let find = |name: &str| {
            errors
                .iter()
                .find(|e| e.starts_with(&format!("refusing {}: ", dir.path().join(name).display())))
                .unwrap_or_else(|| panic!("no error for {name}: {errors:#?}"))
                .clone()
        };
        assert!(find("fifo.toml").contains("not a regular file"));
        assert!(find("foreign.toml").contains("belongs to uid 65534"));
        assert!(find("foreign.toml").contains("or remove it"));
        assert!(find("group.toml").contains("writable by its group (mode 0664)"));
        assert!(find("linked.toml").contains("belongs to uid 65534"));
        let open_err = find("open.toml");
        assert!(
            open_err.contains("writable by its group and everyone (mode 0666)")
                && open_err.contains(&format!("run `chmod go-w {}`", open.display())),
            "{open_err}"
        );
        assert!(load_dir(dir.path()).strict().is_err());
    }

    #[test]
    fn check_reports_ownership_as_warnings_and_validates_the_text() {
        let dir = tempfile::tempdir().unwrap();
        chmod(dir.path(), 0o775);
        let f = manifest(dir.path(), "a");
        chmod(&f, 0o664);
        let r = load_dir_with(dir.path(), TrustPolicy::Report);
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert_eq!(names(&r), vec!["a"]);
        assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
        assert!(
            r.warnings
                .iter()
                .all(|w| w.to_string().contains("chmod go-w"))
        );
    }
}
