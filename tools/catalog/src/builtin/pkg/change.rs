//! `pkg.install`, `pkg.remove` and `pkg.upgrade`: one definition, three
//! tools. The preview is a real `apt-get -s` simulation, parsed; the run is
//! `apt-get -y` with dpkg's installed set read before and after, so the
//! undo names exactly what changed: an install's undo removes the packages
//! it newly installed (dependencies included, nothing that was there
//! before), a removal's undo installs every package that went. An upgrade
//! has no undo (apt cannot go back to versions it no longer offers).

use std::time::Duration;

use aios_domain::{Preview, PreviewDetail, Risk, UndoRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{PackageName, installed_set, newly, simulate};
use crate::builtin::host::{Host, check_ok, require_root};
use crate::util::truncate;
use crate::{Assessment, Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// Which change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Install,
    Remove,
    Upgrade,
}

/// `pkg.install`, `pkg.remove` or `pkg.upgrade`.
#[derive(Debug, Clone)]
pub struct PkgChange {
    kind: Kind,
    host: Host,
}

impl PkgChange {
    /// `pkg.install`.
    pub fn install() -> PkgChange {
        PkgChange {
            kind: Kind::Install,
            host: Host::default(),
        }
    }

    /// `pkg.remove`.
    pub fn remove() -> PkgChange {
        PkgChange {
            kind: Kind::Remove,
            host: Host::default(),
        }
    }

    /// `pkg.upgrade`.
    pub fn upgrade() -> PkgChange {
        PkgChange {
            kind: Kind::Upgrade,
            host: Host::default(),
        }
    }

    /// The same tool with a test host (fake `apt-get`, `dpkg-query`).
    #[cfg(test)]
    pub(crate) fn on(mut self, host: Host) -> PkgChange {
        self.host = host;
        self
    }
}

/// Arguments of `pkg.install`, `pkg.remove` and `pkg.upgrade`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PkgChangeArgs {
    /// Package names, e.g. ["nginx"] (at most 50). For pkg.upgrade an
    /// empty list (the default) upgrades everything upgradable.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub packages: Vec<PackageName>,
}

/// What a change did.
#[derive(Debug, Clone, Serialize)]
pub struct PkgChanged {
    /// One line for the human.
    pub summary: String,
    /// Packages that were not installed before and are now.
    pub installed: Vec<String>,
    /// Packages that were installed before and are not now.
    pub removed: Vec<String>,
    /// Packages whose version changed, `name old → new`.
    pub upgraded: Vec<String>,
    /// The last lines of apt-get's output.
    pub output: Vec<String>,
}

impl PkgChange {
    fn apt_args(&self) -> &'static [&'static str] {
        match self.kind {
            Kind::Install => &["install"],
            Kind::Remove => &["remove"],
            Kind::Upgrade => &["upgrade"],
        }
    }

    /// `upgrade` of named packages is `install --only-upgrade` of them.
    fn apt_args_for(&self, args: &PkgChangeArgs) -> &'static [&'static str] {
        if self.kind == Kind::Upgrade && !args.packages.is_empty() {
            &["install", "--only-upgrade"]
        } else {
            self.apt_args()
        }
    }

    fn check(&self, args: &PkgChangeArgs) -> Result<(), ToolError> {
        if args.packages.len() > 50 {
            return Err(ToolError::invalid(format!(
                "field `packages`: at most 50 packages per call, got {}",
                args.packages.len()
            )));
        }
        if args.packages.is_empty() && self.kind != Kind::Upgrade {
            return Err(ToolError::invalid(format!(
                "{}: field `packages` must name at least one package",
                self.name()
            )));
        }
        Ok(())
    }

    fn verb(&self) -> &'static str {
        match self.kind {
            Kind::Install => "install",
            Kind::Remove => "remove",
            Kind::Upgrade => "upgrade",
        }
    }

    fn target(&self, args: &PkgChangeArgs) -> String {
        if args.packages.is_empty() {
            "all upgradable packages".to_string()
        } else {
            let names: Vec<&str> = args.packages.iter().map(PackageName::as_str).collect();
            names.join(" ")
        }
    }
}

impl Tool for PkgChange {
    type Args = PkgChangeArgs;

    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Install => "pkg.install",
            Kind::Remove => "pkg.remove",
            Kind::Upgrade => "pkg.upgrade",
        }
    }

    fn description(&self) -> &'static str {
        match self.kind {
            Kind::Install => {
                "Install packages with apt (and what they depend on). The preview is a simulation listing every \
                 package that would be installed, upgraded or removed and the download size. Undo: pkg.remove of \
                 exactly the packages it newly installed."
            }
            Kind::Remove => {
                "Remove installed packages with apt (configuration files stay). The preview lists everything that \
                 would go, including packages that depend on them. Undo: pkg.install of the removed packages."
            }
            Kind::Upgrade => {
                "Upgrade packages to their newest available versions with apt: the named ones, or all upgradable \
                 packages when none is named. The preview lists every upgrade and the download size. No undo."
            }
        }
    }

    fn effect(&self) -> Risk {
        match self.kind {
            Kind::Remove => Risk::Destructive,
            // An install can remove conflicting packages: assess says so per call.
            Kind::Install => Risk::Destructive,
            Kind::Upgrade => Risk::Change,
        }
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::Package]
    }

    fn examples(&self) -> &'static [Example] {
        match self.kind {
            Kind::Install => &[
                Example {
                    request: "install htop",
                    args: r#"{"packages": ["htop"]}"#,
                },
                Example {
                    request: "set up nginx and certbot",
                    args: r#"{"packages": ["nginx", "certbot"]}"#,
                },
                Example {
                    request: "I need the hello program",
                    args: r#"{"packages": ["hello"]}"#,
                },
            ],
            Kind::Remove => &[
                Example {
                    request: "uninstall htop",
                    args: r#"{"packages": ["htop"]}"#,
                },
                Example {
                    request: "get rid of apache2",
                    args: r#"{"packages": ["apache2"]}"#,
                },
                Example {
                    request: "remove the cups printing packages",
                    args: r#"{"packages": ["cups", "cups-daemon"]}"#,
                },
            ],
            Kind::Upgrade => &[
                Example {
                    request: "install all updates",
                    args: r#"{}"#,
                },
                Example {
                    request: "upgrade openssl",
                    args: r#"{"packages": ["openssl"]}"#,
                },
                Example {
                    request: "update the system packages",
                    args: r#"{"packages": []}"#,
                },
            ],
        }
    }

    fn canonicalize(
        &self,
        args: &mut PkgChangeArgs,
        _: Option<&std::path::Path>,
    ) -> Result<(), ToolError> {
        self.check(args)?;
        args.packages.sort();
        args.packages.dedup();
        Ok(())
    }

    fn resources(&self, args: &PkgChangeArgs) -> Vec<Resource> {
        if args.packages.is_empty() {
            return vec![Resource::Package("*".into())];
        }
        args.packages
            .iter()
            .map(|p| Resource::Package(p.as_str().to_string()))
            .collect()
    }

    fn preview(&self, args: &PkgChangeArgs) -> String {
        format!("{} {}", self.verb(), self.target(args))
    }

    async fn assess(&self, ctx: &ToolCtx, args: &PkgChangeArgs) -> Result<Assessment, ToolError> {
        self.check(args)?;
        let (command, _, sim) =
            simulate(ctx, &self.host, self.apt_args_for(args), &args.packages).await?;
        let effect = if self.kind == Kind::Remove || !sim.remove.is_empty() {
            Risk::Destructive
        } else {
            Risk::Change
        };
        let mut summary =
            if sim.install.is_empty() && sim.upgrade.is_empty() && sim.remove.is_empty() {
                format!("{} {}: nothing to do", self.verb(), self.target(args))
            } else {
                format!("{} {}: {}", self.verb(), self.target(args), sim.describe())
            };
        if ctx.access().identity().uid != 0 {
            summary.push_str(" (the real run needs root)");
        }
        let mut resources = self.resources(args);
        for p in sim
            .install
            .iter()
            .chain(&sim.upgrade)
            .chain(&sim.remove)
            .take(500)
        {
            let r = Resource::Package(p.name.clone());
            if !resources.contains(&r) {
                resources.push(r);
            }
        }
        Ok(Assessment {
            effect,
            resources,
            preview: Preview {
                summary,
                detail: PreviewDetail::DryRun {
                    command,
                    output: sim.items().join("\n"),
                },
            },
        })
    }

    async fn run(&self, ctx: ToolCtx, args: PkgChangeArgs) -> Result<Value, ToolError> {
        self.check(&args)?;
        require_root(&ctx, self.name())?;
        let before = installed_set(&ctx, &self.host).await?;
        let apt = self.host.program("apt-get");
        // No shell: `env` only sets the variables that keep apt and debconf
        // from asking questions nobody can answer.
        let mut full: Vec<&str> = vec![
            "DEBIAN_FRONTEND=noninteractive",
            "APT_LISTCHANGES_FRONTEND=none",
            &apt,
            "-y",
            "-q",
            "-o",
            "Dpkg::Options::=--force-confdef",
            "-o",
            "Dpkg::Options::=--force-confold",
        ];
        full.extend_from_slice(self.apt_args_for(&args));
        if !args.packages.is_empty() {
            full.push("--");
            full.extend(args.packages.iter().map(PackageName::as_str));
        }
        let out =
            crate::command::run_command(&ctx, "env", &full, Duration::from_secs(1800), 1024 * 1024)
                .await?;
        let out = check_ok("apt-get", &full[2..], out)?;
        let after = installed_set(&ctx, &self.host).await?;
        let installed: Vec<String> = newly(&before, &after).into_iter().collect();
        let removed: Vec<String> = newly(&after, &before).into_iter().collect();
        let upgraded: Vec<String> = after
            .iter()
            .filter_map(|(n, v)| {
                let old = before.get(n)?;
                (old != v).then(|| format!("{n} {old} → {v}"))
            })
            .collect();
        match self.kind {
            Kind::Install if !installed.is_empty() => ctx.set_undo(UndoRecord {
                tool: "pkg.remove".into(),
                args: serde_json::json!({ "packages": installed }),
                summary: format!(
                    "remove the {} newly installed package(s): {}",
                    installed.len(),
                    installed.join(" ")
                ),
            }),
            Kind::Remove if !removed.is_empty() => ctx.set_undo(UndoRecord {
                tool: "pkg.install".into(),
                args: serde_json::json!({ "packages": removed }),
                summary: format!("install again: {}", removed.join(" ")),
            }),
            _ => {}
        }
        let lines: Vec<&str> = out.stdout.lines().collect();
        let output = lines[lines.len().saturating_sub(20)..]
            .iter()
            .map(|l| truncate(l, 500))
            .collect();
        crate::builtin::to_value(&PkgChanged {
            summary: format!(
                "{} {}: {} installed, {} upgraded, {} removed",
                self.verb(),
                self.target(&args),
                installed.len(),
                upgraded.len(),
                removed.len()
            ),
            installed,
            removed,
            upgraded,
            output,
        })
    }
}
