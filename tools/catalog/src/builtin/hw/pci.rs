//! `hw.pci`: PCI devices from `/sys/bus/pci/devices` (ids, class, bound
//! driver), named by `lspci -mm` when pciutils is installed.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{attr_num, check_limit, driver_of};
use crate::command::run_command;
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `hw.pci`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HwPci;

fn default_limit() -> usize {
    200
}

/// Arguments of `hw.pci`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HwPciArgs {
    /// Most devices to return (default 200, at most 2000).
    #[serde(default = "default_limit")]
    pub limit: usize,
}

/// One PCI device.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PciDevice {
    /// Address, `0000:00:02.0`.
    pub slot: String,
    /// Vendor id, `8086`.
    pub vendor_id: String,
    /// Device id.
    pub device_id: String,
    /// Class code, `030000`.
    pub class_id: String,
    /// Class in words (`VGA compatible controller`), from lspci or the class table.
    pub class: String,
    /// Vendor name, when lspci knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Device name, when lspci knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Bound kernel driver, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Pci {
    /// One line for a human.
    pub summary: String,
    /// Devices by slot.
    pub devices: Vec<PciDevice>,
    /// Devices found.
    pub total: usize,
    /// Whether `limit` cut the list.
    pub truncated: bool,
    /// Whether names came from lspci.
    pub named: bool,
}

/// The PCI base class names (the first byte of the class code).
fn class_name(code: u64) -> &'static str {
    match code >> 16 {
        0x01 => "Mass storage controller",
        0x02 => "Network controller",
        0x03 => "Display controller",
        0x04 => "Multimedia controller",
        0x05 => "Memory controller",
        0x06 => "Bridge",
        0x07 => "Communication controller",
        0x08 => "Generic system peripheral",
        0x09 => "Input device controller",
        0x0c => "Serial bus controller",
        0x0d => "Wireless controller",
        0x10 => "Encryption controller",
        0x11 => "Signal processing controller",
        0x12 => "Processing accelerator",
        _ => "Unclassified device",
    }
}

/// The quoted fields of one `lspci -mm -D` line: slot, class, vendor,
/// device (options such as `-r01` are skipped).
pub fn parse_lspci_line(line: &str) -> Option<(String, [String; 3])> {
    let (slot, rest) = line.split_once(' ')?;
    let mut fields = Vec::new();
    let mut rest = rest;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let end = after.find('"')?;
        fields.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    if fields.len() < 3 {
        return None;
    }
    Some((
        slot.to_string(),
        [fields[0].clone(), fields[1].clone(), fields[2].clone()],
    ))
}

/// Devices from sysfs, named from `names` (slot → class, vendor, device).
pub fn devices(root: &Path, names: &HashMap<String, [String; 3]>) -> Vec<PciDevice> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out: Vec<PciDevice> = rd
        .flatten()
        .filter_map(|e| {
            let slot = e.file_name().to_str()?.to_string();
            let dir = root.join(&slot);
            let class = attr_num(&dir, "class").unwrap_or(0);
            let n = names.get(&slot);
            let known = |i: usize| n.map(|f| f[i].clone()).filter(|s| !s.is_empty());
            Some(PciDevice {
                vendor_id: format!("{:04x}", attr_num(&dir, "vendor").unwrap_or(0)),
                device_id: format!("{:04x}", attr_num(&dir, "device").unwrap_or(0)),
                class_id: format!("{class:06x}"),
                class: known(0).unwrap_or_else(|| class_name(class).to_string()),
                vendor: known(1),
                device: known(2),
                driver: driver_of(&dir),
                slot,
            })
        })
        .collect();
    out.sort_by(|a, b| a.slot.cmp(&b.slot));
    out
}

impl Tool for HwPci {
    type Args = HwPciArgs;

    fn name(&self) -> &'static str {
        "hw.pci"
    }

    fn description(&self) -> &'static str {
        "List PCI devices (graphics, network, storage controllers…): slot, vendor and device ids and names, \
         class, and the kernel driver bound to each. Answers 'which graphics card do I have' and 'is a driver \
         loaded for my network card'."
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
                request: "what graphics card do I have?",
                args: r#"{}"#,
            },
            Example {
                request: "list PCI devices and their drivers",
                args: r#"{}"#,
            },
            Example {
                request: "which network controller is installed",
                args: r#"{"limit": 500}"#,
            },
        ]
    }

    fn canonicalize(&self, args: &mut HwPciArgs, _home: Option<&Path>) -> Result<(), ToolError> {
        check_limit("hw.pci", args.limit, 2000)
    }

    fn resources(&self, _args: &HwPciArgs) -> Vec<Resource> {
        vec![Resource::System]
    }

    fn preview(&self, _args: &HwPciArgs) -> String {
        "list PCI devices".into()
    }

    async fn run(&self, ctx: ToolCtx, args: HwPciArgs) -> Result<Value, ToolError> {
        // Names are a nicety: without lspci the ids and classes still answer.
        let names: HashMap<String, [String; 3]> = match run_command(
            &ctx,
            "lspci",
            &["-mm", "-D"],
            Duration::from_secs(10),
            1 << 20,
        )
        .await
        {
            Ok(out) if out.code == Some(0) => {
                out.stdout.lines().filter_map(parse_lspci_line).collect()
            }
            _ => HashMap::new(),
        };
        let named = !names.is_empty();
        ctx.blocking(move |_| {
            let mut devs = devices(Path::new("/sys/bus/pci/devices"), &names);
            let total = devs.len();
            devs.truncate(args.limit);
            let mut classes: Vec<&str> = devs.iter().map(|d| d.class.as_str()).collect();
            classes.sort_unstable();
            classes.dedup();
            let summary = if total == 0 {
                "no PCI devices visible (a container, or a machine without PCI)".to_string()
            } else {
                format!("{total} PCI device(s): {}", classes.join(", "))
            };
            crate::builtin::to_value(&Pci {
                summary,
                truncated: total > devs.len(),
                devices: devs,
                total,
                named,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lspci_lines_parse() {
        let (slot, f) = parse_lspci_line(
            r#"0000:00:02.0 "Mass storage controller" "Red Hat, Inc." "Virtio 1.0 block device" -r01 -p00 "Red Hat, Inc." "Virtio""#,
        )
        .unwrap();
        assert_eq!(slot, "0000:00:02.0");
        assert_eq!(f[1], "Red Hat, Inc.");
        assert_eq!(f[2], "Virtio 1.0 block device");
        assert!(parse_lspci_line("garbage").is_none());
        assert_eq!(class_name(0x030000), "Display controller");
    }

    #[tokio::test]
    async fn live_devices_match_sysfs() {
        let root = Path::new("/sys/bus/pci/devices");
        let want = std::fs::read_dir(root).map(|rd| rd.count()).unwrap_or(0);
        let v = crate::Registry::builtin()
            .prepare("hw.pci", serde_json::json!({"limit": 2000}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        assert_eq!(v["total"].as_u64().unwrap() as usize, want, "{v}");
        for d in v["devices"].as_array().unwrap() {
            let dir = root.join(d["slot"].as_str().unwrap());
            assert_eq!(
                d["vendor_id"],
                format!("{:04x}", attr_num(&dir, "vendor").unwrap())
            );
            assert_eq!(d["class_id"].as_str().unwrap().len(), 6);
        }
    }
}
