//! `hw.block`: block devices from `/sys/block` (size, model, rotational,
//! removable, read-only, partitions) with where each is mounted, from
//! `/proc/self/mountinfo` by device number.

use std::path::Path;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{attr, attr_num, check_limit};
use crate::procfs::{self, Mount};
use crate::util::human_bytes;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `hw.block`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HwBlock;

fn default_limit() -> usize {
    100
}

/// Arguments of `hw.block`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HwBlockArgs {
    /// Also list empty loop devices and RAM disks (default false).
    #[serde(default)]
    pub all: bool,
    /// Most devices to return (default 100, at most 1000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

/// A partition.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Partition {
    /// Name (`sda1`).
    pub name: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Size, human.
    pub size: String,
    /// Mount points.
    pub mounts: Vec<String>,
}

/// A block device.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Device {
    /// Name (`sda`, `nvme0n1`, `vda`).
    pub name: String,
    /// `/dev` path.
    pub path: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// Size, human.
    pub size: String,
    /// Model, when the device reports one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Vendor, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Spinning disk (false for SSDs, NVMe and virtual disks).
    pub rotational: bool,
    /// Removable media.
    pub removable: bool,
    /// Read-only.
    pub read_only: bool,
    /// Partitions.
    pub partitions: Vec<Partition>,
    /// Where the whole device is mounted (without partitions).
    pub mounts: Vec<String>,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Block {
    /// One line for a human.
    pub summary: String,
    /// Devices by name.
    pub devices: Vec<Device>,
    /// Devices found.
    pub total: usize,
    /// Whether `limit` cut the list.
    pub truncated: bool,
}

fn mounts_of(mounts: &[Mount], dir: &Path) -> Vec<String> {
    let Some(dev) = attr(dir, "dev") else {
        return Vec::new();
    };
    let mut m: Vec<String> = mounts
        .iter()
        .filter(|m| m.device == dev)
        .map(|m| m.mount_point.display().to_string())
        .collect();
    m.sort();
    m.dedup();
    m
}

/// Every block device under `root` (`/sys/block`).
pub fn devices(root: &Path, mounts: &[Mount], all: bool) -> Vec<Device> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out: Vec<Device> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let dir = root.join(&name);
            let size_bytes = attr_num(&dir, "size").unwrap_or(0) * 512;
            let virtual_empty =
                (name.starts_with("loop") || name.starts_with("ram")) && size_bytes == 0;
            if virtual_empty && !all {
                return None;
            }
            let mut partitions: Vec<Partition> = std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|p| p.path().join("partition").exists())
                .filter_map(|p| {
                    let pdir = p.path();
                    let size = attr_num(&pdir, "size").unwrap_or(0) * 512;
                    Some(Partition {
                        name: p.file_name().to_str()?.to_string(),
                        size_bytes: size,
                        size: human_bytes(size),
                        mounts: mounts_of(mounts, &pdir),
                    })
                })
                .collect();
            partitions.sort_by(|a, b| a.name.cmp(&b.name));
            let device = dir.join("device");
            Some(Device {
                path: format!("/dev/{name}"),
                size_bytes,
                size: human_bytes(size_bytes),
                model: attr(&device, "model").or_else(|| attr(&dir, "dm/name")),
                vendor: attr(&device, "vendor"),
                rotational: attr_num(&dir, "queue/rotational") == Some(1),
                removable: attr_num(&dir, "removable") == Some(1),
                read_only: attr_num(&dir, "ro") == Some(1),
                partitions,
                mounts: mounts_of(mounts, &dir),
                name,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

impl Tool for HwBlock {
    type Args = HwBlockArgs;

    fn name(&self) -> &'static str {
        "hw.block"
    }

    fn description(&self) -> &'static str {
        "List block devices (disks, NVMe, virtual disks, loop devices): size, model, vendor, rotational or \
         solid-state, removable, read-only, partitions, and where each is mounted."
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
                request: "what disks are in this machine?",
                args: r#"{}"#,
            },
            Example {
                request: "show partitions and where they are mounted",
                args: r#"{}"#,
            },
            Example {
                request: "list all block devices including empty loop devices",
                args: r#"{"all": true}"#,
            },
        ]
    }

    fn canonicalize(&self, args: &mut HwBlockArgs, _home: Option<&Path>) -> Result<(), ToolError> {
        check_limit("hw.block", args.limit, 1000)
    }

    fn resources(&self, _args: &HwBlockArgs) -> Vec<Resource> {
        vec![Resource::System]
    }

    fn preview(&self, _args: &HwBlockArgs) -> String {
        "list block devices".into()
    }

    async fn run(&self, ctx: ToolCtx, args: HwBlockArgs) -> Result<Value, ToolError> {
        ctx.blocking(move |_| {
            let mounts = procfs::mounts().unwrap_or_default();
            let mut devs = devices(Path::new("/sys/block"), &mounts, args.all);
            let total = devs.len();
            devs.truncate(args.limit);
            let disks: Vec<String> = devs
                .iter()
                .filter(|d| {
                    !d.name.starts_with("loop")
                        && !d.name.starts_with("ram")
                        && !d.name.starts_with("zram")
                })
                .map(|d| format!("{} {}", d.name, d.size))
                .collect();
            let summary = format!(
                "{total} block device(s); disks: {}",
                if disks.is_empty() {
                    "none".to_string()
                } else {
                    disks.join(", ")
                }
            );
            crate::builtin::to_value(&Block {
                summary,
                truncated: total > devs.len(),
                devices: devs,
                total,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[tokio::test]
    async fn a_loop_device_appears_with_its_size() {
        if !nix::unistd::geteuid().is_root() || Command::new("losetup").arg("-V").output().is_err()
        {
            eprintln!("skipped: attaching a loop device needs root and losetup");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("disk.img");
        std::fs::write(&img, vec![0u8; 3 * 1024 * 1024]).unwrap();
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&img)
            .output()
            .unwrap();
        if !out.status.success() {
            eprintln!(
                "skipped: losetup failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let v = crate::Registry::builtin()
            .prepare("hw.block", serde_json::json!({"limit": 1000}))
            .unwrap()
            .run(ToolCtx::local())
            .await;
        let _ = Command::new("losetup").args(["-d", &dev]).status();
        let v = v.unwrap();
        let d = v["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["path"] == dev)
            .cloned();
        let d = d.unwrap_or_else(|| panic!("{dev} missing: {v}"));
        assert_eq!(d["size_bytes"], 3 * 1024 * 1024);
        assert_eq!(d["size"], "3.0 MiB");
        assert_eq!(d["removable"], false);
    }

    #[test]
    fn live_devices_match_sysfs_and_root_mount() {
        let mounts = procfs::mounts().unwrap();
        let devs = devices(Path::new("/sys/block"), &mounts, true);
        let names: Vec<String> = std::fs::read_dir("/sys/block")
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(devs.len(), names.len());
        // Where / is a real block device, some device or partition holds it.
        let root = procfs::mount_of(&mounts, Path::new("/")).unwrap();
        if devs.iter().any(|d| {
            attr(&Path::new("/sys/block").join(&d.name), "dev").as_deref() == Some(&root.device)
        }) {
            assert!(devs.iter().any(|d| d.mounts.contains(&"/".to_string())));
        }
    }
}
