//! `sys.info`: what this machine is: host name, OS release, kernel,
//! architecture, uptime and boot time, virtualisation and container
//! detection, and the init system (aiOS initd, systemd or other).

use std::path::Path;
use std::time::Duration;

use aios_domain::Risk;
use serde::Serialize;
use serde_json::Value;

use super::super::hw::NoArgs;
use super::{hostname, init_system, parse_kv};
use crate::command::run_command;
use crate::util::{human_duration, rfc3339};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `sys.info`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SysInfo;

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    /// One line for a human.
    pub summary: String,
    /// Host name.
    pub hostname: String,
    /// Distribution, `PRETTY_NAME` of os-release.
    pub os: String,
    /// Distribution id (`debian`, `ubuntu`, `aios`).
    pub os_id: String,
    /// Distribution version (`12`).
    pub os_version: String,
    /// Kernel release (`6.1.0-18-amd64`).
    pub kernel: String,
    /// Kernel build string.
    pub kernel_version: String,
    /// Machine architecture (`x86_64`).
    pub arch: String,
    /// Seconds since boot.
    pub uptime_secs: u64,
    /// Uptime, human.
    pub uptime: String,
    /// Boot time, RFC 3339 UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_time: Option<String>,
    /// Hypervisor (`kvm`, `vmware`, `microsoft`…), or `none` on bare metal; `unknown` when undetectable.
    pub virtualization: String,
    /// Container runtime (`docker`, `podman`, `lxc`…), or `none`.
    pub container: String,
    /// Init system: `aios-initd`, `systemd`, or what pid 1 is.
    pub init: String,
    /// Pid 1's command name.
    pub init_process: String,
}

/// Hypervisor vendor from the DMI strings.
fn vm_from_dmi() -> Option<&'static str> {
    let dmi = Path::new("/sys/class/dmi/id");
    let text = ["sys_vendor", "product_name", "bios_vendor"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(dmi.join(f)).ok())
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    [
        ("qemu", "qemu"),
        ("kvm", "kvm"),
        ("vmware", "vmware"),
        ("virtualbox", "oracle"),
        ("innotek", "oracle"),
        ("microsoft corporation", "microsoft"),
        ("xen", "xen"),
        ("amazon ec2", "amazon"),
        ("google compute engine", "google"),
        ("bochs", "bochs"),
    ]
    .iter()
    .find(|(k, _)| text.contains(k))
    .map(|(_, v)| *v)
}

/// Container runtime from marker files (what systemd-detect-virt checks
/// first), without needing root.
fn container_from_markers() -> Option<&'static str> {
    if Path::new("/.dockerenv").exists() {
        return Some("docker");
    }
    if Path::new("/run/.containerenv").exists() {
        return Some("podman");
    }
    let c = std::fs::read_to_string("/run/systemd/container").ok()?;
    match c.trim() {
        "lxc" => Some("lxc"),
        "systemd-nspawn" => Some("systemd-nspawn"),
        "docker" => Some("docker"),
        "podman" => Some("podman"),
        _ => Some("container"),
    }
}

async fn detect(ctx: &ToolCtx, flag: &str) -> Option<String> {
    let out = run_command(
        ctx,
        "systemd-detect-virt",
        &[flag],
        Duration::from_secs(5),
        4096,
    )
    .await
    .ok()?;
    // Exit 1 with "none" is a definite answer too.
    let v = out.stdout.trim().to_string();
    (!v.is_empty()).then_some(v)
}

impl Tool for SysInfo {
    type Args = NoArgs;

    fn name(&self) -> &'static str {
        "sys.info"
    }

    fn description(&self) -> &'static str {
        "Identify this machine: host name, OS release, kernel, architecture, uptime and boot time, whether it is \
         a virtual machine or container (and which), and the init system (aiOS initd, systemd or other)."
    }

    fn effect(&self) -> Risk {
        Risk::Read
    }

    fn resource_kinds(&self) -> &'static [ResourceKind] {
        &[ResourceKind::System]
    }

    fn examples(&self) -> &'static [Example] {
        &[
            Example {
                request: "what OS and kernel is this?",
                args: r#"{}"#,
            },
            Example {
                request: "am I running in a VM or a container",
                args: r#"{}"#,
            },
            Example {
                request: "when did this machine boot",
                args: r#"{}"#,
            },
        ]
    }

    fn resources(&self, _args: &NoArgs) -> Vec<Resource> {
        vec![Resource::System]
    }

    fn preview(&self, _args: &NoArgs) -> String {
        "identify the system".into()
    }

    async fn run(&self, ctx: ToolCtx, _args: NoArgs) -> Result<Value, ToolError> {
        let vm = detect(&ctx, "--vm").await;
        let ct = detect(&ctx, "--container").await;
        ctx.blocking(move |_| {
            let osr = parse_kv(
                &std::fs::read_to_string("/etc/os-release")
                    .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
                    .unwrap_or_default(),
            );
            let get = |k: &str| osr.get(k).cloned().unwrap_or_default();
            let uts =
                nix::sys::utsname::uname().map_err(|e| ToolError::failed(format!("uname: {e}")))?;
            let s = |o: &std::ffi::OsStr| o.to_string_lossy().into_owned();
            let uptime_secs = std::fs::read_to_string("/proc/uptime")
                .ok()
                .and_then(|t| {
                    t.split_whitespace()
                        .next()?
                        .split('.')
                        .next()?
                        .parse::<u64>()
                        .ok()
                })
                .unwrap_or(0);
            let hypervisor_flag = std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|t| {
                t.lines().any(|l| {
                    l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor")
                })
            });
            let virtualization = vm.unwrap_or_else(|| {
                vm_from_dmi().map(str::to_string).unwrap_or_else(|| {
                    if hypervisor_flag {
                        "unknown".into()
                    } else {
                        "none".into()
                    }
                })
            });
            let container =
                ct.unwrap_or_else(|| container_from_markers().unwrap_or("none").to_string());
            let (init_process, init) = init_system();
            let os = {
                let p = get("PRETTY_NAME");
                if p.is_empty() {
                    "unknown".to_string()
                } else {
                    p
                }
            };
            let info = Info {
                summary: format!(
                    "{} ({os}, kernel {}, {}), up {}{}{}, init {init}",
                    hostname(),
                    s(uts.release()),
                    s(uts.machine()),
                    human_duration(uptime_secs),
                    if virtualization == "none" {
                        String::new()
                    } else {
                        format!(", VM: {virtualization}")
                    },
                    if container == "none" {
                        String::new()
                    } else {
                        format!(", container: {container}")
                    },
                ),
                hostname: hostname(),
                os,
                os_id: get("ID"),
                os_version: get("VERSION_ID"),
                kernel: s(uts.release()),
                kernel_version: s(uts.version()),
                arch: s(uts.machine()),
                uptime_secs,
                uptime: human_duration(uptime_secs),
                boot_time: super::super::process::boot_time().map(rfc3339),
                virtualization,
                container,
                init: init.to_string(),
                init_process,
            };
            crate::builtin::to_value(&info)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn matches_uname_and_os_release() {
        let v = crate::Registry::builtin()
            .prepare("sys.info", serde_json::json!({}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        let uts = nix::sys::utsname::uname().unwrap();
        assert_eq!(v["kernel"], uts.release().to_string_lossy().as_ref());
        assert_eq!(v["arch"], std::env::consts::ARCH);
        assert_eq!(v["hostname"], hostname());
        let osr = parse_kv(&std::fs::read_to_string("/etc/os-release").unwrap_or_default());
        if let Some(id) = osr.get("ID") {
            assert_eq!(&v["os_id"], id.as_str());
        }
        assert!(v["boot_time"].as_str().unwrap().ends_with('Z'));
        let comm = std::fs::read_to_string("/proc/1/comm").unwrap();
        assert_eq!(v["init_process"], comm.trim());
        // Docker and podman leave marker files; when one is here, it is seen.
        if Path::new("/.dockerenv").exists() {
            assert_eq!(v["container"], "docker", "{v}");
        }
        assert!(v["summary"].as_str().unwrap().contains("kernel"), "{v}");
    }
}
