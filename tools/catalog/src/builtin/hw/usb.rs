//! `hw.usb`: USB devices from `/sys/bus/usb/devices` (bus, address, ids,
//! manufacturer and product strings, speed, class).

use std::path::Path;

use aios_domain::Risk;
use serde::Serialize;
use serde_json::Value;

use super::{NoArgs, attr, attr_num, driver_of};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `hw.usb`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HwUsb;

/// One USB device.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UsbDevice {
    /// sysfs name (`1-1.2`, `usb1` for root hubs).
    pub name: String,
    /// Bus number.
    pub bus: u64,
    /// Device address on the bus.
    pub address: u64,
    /// Vendor id (`046d`).
    pub vendor_id: String,
    /// Product id.
    pub product_id: String,
    /// Manufacturer string, when the device reports one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Product string, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Link speed in Mbit/s (`480`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed_mbps: Option<String>,
    /// Device class code (`09` hub; `00` means per interface).
    pub class: String,
    /// Bound driver (`usb` for devices, `hub`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Usb {
    /// One line for a human.
    pub summary: String,
    /// Devices by bus and address.
    pub devices: Vec<UsbDevice>,
    /// Devices found (USB device lists are short; never cut).
    pub total: usize,
    /// Always false: listed in full.
    pub truncated: bool,
    /// Why the list is empty, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Devices under `root` (`/sys/bus/usb/devices`); interfaces (`1-1:1.0`)
/// are skipped, since only devices carry `idVendor`.
pub fn devices(root: &Path) -> Vec<UsbDevice> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out: Vec<UsbDevice> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let dir = root.join(&name);
            let vendor = attr(&dir, "idVendor")?;
            Some(UsbDevice {
                bus: attr_num(&dir, "busnum").unwrap_or(0),
                address: attr_num(&dir, "devnum").unwrap_or(0),
                vendor_id: vendor,
                product_id: attr(&dir, "idProduct").unwrap_or_default(),
                manufacturer: attr(&dir, "manufacturer"),
                product: attr(&dir, "product"),
                speed_mbps: attr(&dir, "speed"),
                class: attr(&dir, "bDeviceClass").unwrap_or_default(),
                driver: driver_of(&dir),
                name,
            })
        })
        .collect();
    out.sort_by_key(|d| (d.bus, d.address));
    out
}

impl Tool for HwUsb {
    type Args = NoArgs;

    fn name(&self) -> &'static str {
        "hw.usb"
    }

    fn description(&self) -> &'static str {
        "List USB devices: bus and address, vendor and product ids, manufacturer and product names, speed, \
         class and driver. Answers 'is my USB stick detected' and 'what is plugged in'."
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
                request: "what USB devices are plugged in?",
                args: r#"{}"#,
            },
            Example {
                request: "is my USB stick detected",
                args: r#"{}"#,
            },
            Example {
                request: "list usb",
                args: r#"{}"#,
            },
        ]
    }

    fn resources(&self, _args: &NoArgs) -> Vec<Resource> {
        vec![Resource::System]
    }

    fn preview(&self, _args: &NoArgs) -> String {
        "list USB devices".into()
    }

    async fn run(&self, ctx: ToolCtx, _args: NoArgs) -> Result<Value, ToolError> {
        ctx.blocking(|_| {
            let root = Path::new("/sys/bus/usb/devices");
            let devs = devices(root);
            let hubs = devs.iter().filter(|d| d.class == "09").count();
            let note = devs.is_empty().then(|| {
                if root.exists() {
                    "no USB devices attached".to_string()
                } else {
                    "this machine has no USB bus (common in virtual machines and containers)"
                        .to_string()
                }
            });
            let named: Vec<String> = devs
                .iter()
                .filter(|d| d.class != "09")
                .filter_map(|d| d.product.clone())
                .take(6)
                .collect();
            crate::builtin::to_value(&Usb {
                summary: format!(
                    "{} USB device(s) ({hubs} hub(s)){}",
                    devs.len(),
                    if named.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", named.join(", "))
                    }
                ),
                total: devs.len(),
                truncated: false,
                devices: devs,
                note,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_from_a_sysfs_like_tree() {
        // A real directory tree in the shape of sysfs: a device and one of
        // its interfaces, which must be skipped.
        let d = tempfile::tempdir().unwrap();
        let dev = d.path().join("1-1");
        std::fs::create_dir_all(&dev).unwrap();
        for (f, v) in [
            ("idVendor", "046d\n"),
            ("idProduct", "c52b\n"),
            ("busnum", "1\n"),
            ("devnum", "3\n"),
            ("product", "USB Receiver\n"),
            ("speed", "12\n"),
            ("bDeviceClass", "00\n"),
        ] {
            std::fs::write(dev.join(f), v).unwrap();
        }
        std::fs::create_dir_all(d.path().join("1-1:1.0")).unwrap();
        let devs = devices(d.path());
        assert_eq!(devs.len(), 1);
        assert_eq!(devs[0].vendor_id, "046d");
        assert_eq!(devs[0].product.as_deref(), Some("USB Receiver"));
        assert_eq!((devs[0].bus, devs[0].address), (1, 3));
    }

    #[tokio::test]
    async fn live_usb_lists_or_explains() {
        let v = crate::Registry::builtin()
            .prepare("hw.usb", serde_json::json!({}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        let want = devices(Path::new("/sys/bus/usb/devices")).len();
        assert_eq!(v["total"].as_u64().unwrap() as usize, want);
        if want == 0 {
            assert!(v["note"].is_string(), "{v}");
        }
    }
}
