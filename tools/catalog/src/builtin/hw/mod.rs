//! The `hw.*` tools: CPU, memory, block devices, PCI and USB devices, read
//! from `/proc` and `/sys` (with `lspci` for PCI names when installed).
//! One file per tool; the sysfs reading helpers live here.

mod block;
mod cpu;
mod memory;
mod pci;
mod usb;

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use block::HwBlock;
pub use cpu::HwCpu;
pub use memory::HwMemory;
pub use pci::HwPci;
pub use usb::HwUsb;

/// Tools of this family that take no arguments.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

/// A sysfs attribute, trimmed; `None` when absent or unreadable.
pub(crate) fn attr(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A numeric sysfs attribute (decimal, or hex with `0x`).
pub(crate) fn attr_num(dir: &Path, name: &str) -> Option<u64> {
    let s = attr(dir, name)?;
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The name of the driver bound to a device directory, if any.
pub(crate) fn driver_of(dir: &Path) -> Option<String> {
    std::fs::read_link(dir.join("driver"))
        .ok()?
        .file_name()?
        .to_str()
        .map(str::to_string)
}

/// `limit` checked against 1..=`max`.
pub(crate) fn check_limit(tool: &str, limit: usize, max: usize) -> Result<(), crate::ToolError> {
    super::net::check_limit(tool, limit, max)
}
