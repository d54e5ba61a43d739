//! `cron.list`: scheduled jobs: the system crontab and `/etc/cron.d`
//! (with the user each line runs as), the run-parts directories
//! (`/etc/cron.daily`…), the caller's own crontab, and systemd timers
//! with their next run when systemd is running.

use std::path::Path;
use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{caller_name, marker, read_crontab, split_job};
use crate::command::run_command;
use crate::util::rfc3339;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `cron.list`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CronList;

/// Arguments of `cron.list`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CronListArgs {
    /// Include system jobs (/etc/crontab, /etc/cron.d, /etc/cron.daily…, systemd timers). Default true.
    #[serde(default = "yes")]
    pub system: bool,
    /// At most this many jobs (default 200, at most 2000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn yes() -> bool {
    true
}

fn default_limit() -> usize {
    200
}

/// One scheduled job.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// Where it is defined: a file with line, `crontab:USER`, or `systemd`.
    pub source: String,
    /// The user it runs as, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Cron schedule, or the timer's calendar.
    pub schedule: String,
    /// What runs: the command, script, or unit.
    pub command: String,
    /// The aiOS marker id, for jobs aiOS added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The exact line (for cron.remove by line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// Next run, RFC 3339 UTC, when known (systemd timers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Jobs {
    /// One line for people.
    pub summary: String,
    /// The jobs.
    pub jobs: Vec<Job>,
    /// Jobs before the limit.
    pub total: usize,
    /// Whether `jobs` was cut.
    pub truncated: bool,
    /// Sources that could not be read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Jobs of a system crontab (`/etc/crontab`, `/etc/cron.d/*`): the sixth
/// field is the user.
pub fn parse_system_crontab(text: &str, source: &str) -> Vec<Job> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let (schedule, rest) = split_job(l)?;
            let (user, command) = rest.split_once(char::is_whitespace)?;
            Some(Job {
                source: format!("{source}:{}", i + 1),
                user: Some(user.to_string()),
                schedule,
                command: command.trim().to_string(),
                id: marker(l).map(str::to_string),
                line: Some(l.trim().to_string()),
                next: None,
            })
        })
        .collect()
}

/// Jobs of a user's crontab.
pub fn parse_user_crontab(text: &str, user: &str) -> Vec<Job> {
    text.lines()
        .filter_map(|l| {
            let (schedule, command) = split_job(l)?;
            Some(Job {
                source: format!("crontab:{user}"),
                user: Some(user.to_string()),
                schedule,
                command,
                id: marker(l).map(str::to_string),
                line: Some(l.trim().to_string()),
                next: None,
            })
        })
        .collect()
}

/// Timers from `systemctl list-timers --all --output=json`.
pub fn parse_timers(json: &str) -> Vec<Job> {
    let Ok(Value::Array(rows)) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    rows.iter()
        .filter_map(|r| {
            let unit = r["unit"].as_str()?;
            let next = r["next"]
                .as_i64()
                .filter(|n| *n > 0)
                .map(|us| rfc3339(us / 1_000_000));
            Some(Job {
                source: "systemd".into(),
                user: None,
                schedule: format!("timer {unit}"),
                command: r["activates"].as_str().unwrap_or("").to_string(),
                id: None,
                line: None,
                next,
            })
        })
        .collect()
}

/// Files cron reads from a directory: no dots, no `~` (run-parts naming).
fn cron_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    !n.starts_with('.') && !n.contains('.') && !n.ends_with('~') && n != "README"
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn system_jobs(notes: &mut Vec<String>) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut read = |p: &Path, jobs: &mut Vec<Job>| match std::fs::read_to_string(p) {
        Ok(t) => jobs.extend(parse_system_crontab(&t, &p.display().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => notes.push(format!("{}: {e}", p.display())),
    };
    read(Path::new("/etc/crontab"), &mut jobs);
    for f in cron_files(Path::new("/etc/cron.d")) {
        read(&f, &mut jobs);
    }
    for period in ["hourly", "daily", "weekly", "monthly"] {
        for f in cron_files(Path::new(&format!("/etc/cron.{period}"))) {
            jobs.push(Job {
                source: format!("/etc/cron.{period}"),
                user: Some("root".into()),
                schedule: format!("@{period}"),
                command: f.display().to_string(),
                id: None,
                line: None,
                next: None,
            });
        }
    }
    jobs
}

impl Tool for CronList {
    type Args = CronListArgs;

    fn name(&self) -> &'static str {
        "cron.list"
    }

    fn description(&self) -> &'static str {
        "List scheduled jobs: your own crontab (with the aiOS marker id of jobs aiOS added), and unless system is \
         false, /etc/crontab, /etc/cron.d, /etc/cron.hourly…monthly scripts, and systemd timers with their next run."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Schedule]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "what cron jobs are there?",
                args: r#"{}"#,
            },
            Example {
                request: "show my crontab",
                args: r#"{"system": false}"#,
            },
            Example {
                request: "what runs on a schedule on this machine, and when next",
                args: r#"{}"#,
            },
        ]
    }

    fn resources(&self, _args: &CronListArgs) -> Vec<Resource> {
        vec![Resource::Schedule("*".into())]
    }

    fn preview(&self, _args: &CronListArgs) -> String {
        "list scheduled jobs".into()
    }

    async fn run(&self, ctx: ToolCtx, args: CronListArgs) -> Result<Value, ToolError> {
        if args.limit == 0 || args.limit > 2000 {
            return Err(ToolError::invalid(format!(
                "cron.list: field `limit` must be 1..=2000, got {}",
                args.limit
            )));
        }
        let mut notes = Vec::new();
        let mut jobs = Vec::new();
        match (caller_name(&ctx), read_crontab(&ctx).await) {
            (Ok(user), Ok(text)) => jobs.extend(parse_user_crontab(&text, &user)),
            (Err(e), _) | (_, Err(e)) => notes.push(format!("your crontab: {e}")),
        }
        if args.system {
            let (sys, n) = ctx
                .blocking(|_| {
                    let mut n = Vec::new();
                    Ok((system_jobs(&mut n), n))
                })
                .await?;
            jobs.extend(sys);
            notes.extend(n);
            if Path::new("/run/systemd/system").exists() {
                match run_command(
                    &ctx,
                    "systemctl",
                    &["list-timers", "--all", "--output=json", "--no-pager"],
                    Duration::from_secs(10),
                    1 << 20,
                )
                .await
                {
                    Ok(out) if out.code == Some(0) => jobs.extend(parse_timers(&out.stdout)),
                    Ok(out) => notes.push(format!("systemd timers: {}", out.stderr.trim())),
                    Err(e) => notes.push(format!("systemd timers: {e}")),
                }
            }
        }
        let total = jobs.len();
        jobs.truncate(args.limit);
        let mine = jobs
            .iter()
            .filter(|j| j.source.starts_with("crontab:"))
            .count();
        super::super::to_value(&Jobs {
            summary: format!("{total} scheduled job(s), {mine} in your crontab"),
            truncated: total > jobs.len(),
            jobs,
            total,
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;
    use crate::builtin::user::testutil::{TempUser, accounts_lock};

    #[test]
    fn system_crontabs_and_timers_parse() {
        let j = parse_system_crontab(
            "SHELL=/bin/sh\n# c\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n",
            "/etc/crontab",
        );
        assert_eq!(j.len(), 1);
        assert_eq!(j[0].user.as_deref(), Some("root"));
        assert_eq!(j[0].schedule, "17 * * * *");
        assert_eq!(j[0].source, "/etc/crontab:3");
        let t = parse_timers(
            r#"[{"next":1700000000000000,"left":1,"last":null,"passed":null,"unit":"apt-daily.timer","activates":"apt-daily.service"}]"#,
        );
        assert_eq!(t[0].next.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(t[0].command, "apt-daily.service");
        assert!(parse_timers("not json").is_empty());
    }

    #[tokio::test]
    async fn add_list_remove_and_undo_in_a_real_crontab() {
        if which("crontab").is_none() {
            eprintln!("skipped: crontab is not installed (apt-get install cron)");
            return;
        }
        let _l = accounts_lock().await;
        let Some(u) = TempUser::create("cron") else {
            return;
        };
        let r = Registry::builtin();
        let ctx = u.ctx();
        let add = r
            .prepare(
                "cron.add",
                serde_json::json!({"schedule": "*/5  * * * *", "command": "/bin/true --x"}),
            )
            .unwrap();
        let id = add.canonical["id"].as_str().unwrap().to_string();
        assert_eq!(add.canonical["schedule"], "*/5 * * * *");
        let a = add.assess(&ctx).await.unwrap();
        let aios_domain::PreviewDetail::Diff { unified, .. } = &a.preview.detail else {
            panic!("{:?}", a.preview)
        };
        assert!(
            unified.contains(&format!("+*/5 * * * * /bin/true --x # aios:{id}")),
            "{unified}"
        );
        add.run(ctx.clone()).await.unwrap();
        let undo_add = ctx.take_undo().unwrap();
        assert_eq!(undo_add.tool, "cron.remove");
        // The table really is the user's: root reads it with -u.
        let out = std::process::Command::new("crontab")
            .args(["-l", "-u", &u.name])
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("# aios:{id}")));

        // Adding the same job again is refused (same derived id).
        let e = r
            .prepare(
                "cron.add",
                serde_json::json!({"schedule": "*/5 * * * *", "command": "/bin/true --x"}),
            )
            .unwrap()
            .assess(&ctx)
            .await
            .unwrap_err();
        assert!(e.message().contains("already has"), "{e}");

        let v = r
            .prepare("cron.list", serde_json::json!({"system": false}))
            .unwrap()
            .run(ctx.clone())
            .await
            .unwrap();
        assert_eq!(v["jobs"][0]["id"], id.as_str(), "{v}");
        assert_eq!(v["jobs"][0]["command"], "/bin/true --x");
        assert_eq!(v["jobs"][0]["source"], format!("crontab:{}", u.name));

        // Remove through the undo record of the add, then undo the removal.
        let rm = r.prepare(&undo_add.tool, undo_add.args.clone()).unwrap();
        let a = rm.assess(&ctx).await.unwrap();
        assert!(
            matches!(&a.preview.detail, aios_domain::PreviewDetail::Diff { unified, .. } if unified.contains("-*/5"))
        );
        rm.run(ctx.clone()).await.unwrap();
        let undo_rm = ctx.take_undo().unwrap();
        assert_eq!(undo_rm.tool, "cron.add");
        assert_eq!(undo_rm.args["id"], id.as_str());
        let v = r
            .prepare("cron.list", serde_json::json!({"system": false}))
            .unwrap()
            .run(ctx.clone())
            .await
            .unwrap();
        assert_eq!(v["total"], 0, "{v}");
        r.prepare(&undo_rm.tool, undo_rm.args)
            .unwrap()
            .run(ctx.clone())
            .await
            .unwrap();
        let v = r
            .prepare("cron.list", serde_json::json!({"system": false}))
            .unwrap()
            .run(ctx.clone())
            .await
            .unwrap();
        assert_eq!(v["jobs"][0]["id"], id.as_str());

        // Removing by exact line works too; a missing id is a clear not-found.
        let line = v["jobs"][0]["line"].as_str().unwrap().to_string();
        r.prepare("cron.remove", serde_json::json!({"line": line}))
            .unwrap()
            .run(ctx.clone())
            .await
            .unwrap();
        let e = r
            .prepare("cron.remove", serde_json::json!({"id": id}))
            .unwrap()
            .assess(&ctx)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), crate::ToolErrorKind::NotFound);
    }

    #[test]
    fn bad_calls_are_refused_before_anything_runs() {
        let r = Registry::builtin();
        for (args, field) in [
            (
                serde_json::json!({"schedule": "61 * * * *", "command": "x"}),
                "`schedule`",
            ),
            (
                serde_json::json!({"schedule": "* * * * *", "command": "a\nb"}),
                "`command`",
            ),
            (
                serde_json::json!({"schedule": "* * * * *", "command": "date +%s"}),
                "`command`",
            ),
            (
                serde_json::json!({"schedule": "* * * * *", "command": "x", "id": "Bad Id"}),
                "`id`",
            ),
        ] {
            let e = r.prepare("cron.add", args).unwrap_err();
            assert!(e.message().contains(field), "{e}");
        }
        let e = r.prepare("cron.remove", serde_json::json!({})).unwrap_err();
        assert!(e.message().contains("exactly one"), "{e}");
        let e = r
            .prepare("cron.remove", serde_json::json!({"id": "a", "line": "b"}))
            .unwrap_err();
        assert!(e.message().contains("exactly one"), "{e}");
    }

    fn which(p: &str) -> Option<std::path::PathBuf> {
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|v| std::env::split_paths(&v).collect::<Vec<_>>())
            .chain(["/usr/bin".into(), "/usr/sbin".into()])
            .map(|d| d.join(p))
            .find(|f| f.is_file())
    }
}
