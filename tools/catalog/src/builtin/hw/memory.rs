//! `hw.memory`: physical memory, swap and huge pages from `/proc/meminfo`,
//! with human figures beside the bytes.

use std::path::Path;

use aios_domain::Risk;
use serde::Serialize;
use serde_json::Value;

use super::NoArgs;
use crate::procfs;
use crate::util::{human_bytes, percent};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `hw.memory`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HwMemory;

/// One figure, raw and human.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Amount {
    /// Bytes.
    pub bytes: u64,
    /// Human (`1.5 GiB`).
    pub human: String,
}

impl Amount {
    fn of(bytes: u64) -> Amount {
        Amount {
            bytes,
            human: human_bytes(bytes),
        }
    }
}

/// Huge pages.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HugePages {
    /// Pages reserved.
    pub total: u64,
    /// Pages free.
    pub free: u64,
    /// Size of one page.
    pub page_size: Amount,
    /// Transparent huge pages in use (`AnonHugePages`).
    pub transparent: Amount,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    /// One line for a human.
    pub summary: String,
    /// Physical memory.
    pub total: Amount,
    /// Available for new work without swapping.
    pub available: Amount,
    /// In use (total − available).
    pub used: Amount,
    /// Percent in use.
    pub used_percent: f64,
    /// Entirely unused.
    pub free: Amount,
    /// Page cache (reclaimable).
    pub cached: Amount,
    /// Block device buffers.
    pub buffers: Amount,
    /// Shared memory and tmpfs.
    pub shared: Amount,
    /// Kernel slab caches that can be reclaimed.
    pub slab_reclaimable: Amount,
    /// Waiting to be written to disk.
    pub dirty: Amount,
    /// Swap size.
    pub swap_total: Amount,
    /// Swap in use.
    pub swap_used: Amount,
    /// Huge pages.
    pub huge_pages: HugePages,
}

/// The figures from meminfo text.
pub fn memory_from(text: &str) -> Memory {
    let m = procfs::parse_meminfo(text);
    let g = |k: &str| m.get(k).copied().unwrap_or(0);
    let (total, avail) = (g("MemTotal"), g("MemAvailable"));
    let used = total.saturating_sub(avail);
    let swap_used = g("SwapTotal").saturating_sub(g("SwapFree"));
    let used_percent = percent(used, total);
    Memory {
        summary: format!(
            "{} of {} in use ({used_percent}%), {} available; swap {} of {}",
            human_bytes(used),
            human_bytes(total),
            human_bytes(avail),
            human_bytes(swap_used),
            if g("SwapTotal") == 0 {
                "none".to_string()
            } else {
                human_bytes(g("SwapTotal"))
            }
        ),
        total: Amount::of(total),
        available: Amount::of(avail),
        used: Amount::of(used),
        used_percent,
        free: Amount::of(g("MemFree")),
        cached: Amount::of(g("Cached")),
        buffers: Amount::of(g("Buffers")),
        shared: Amount::of(g("Shmem")),
        slab_reclaimable: Amount::of(g("SReclaimable")),
        dirty: Amount::of(g("Dirty")),
        swap_total: Amount::of(g("SwapTotal")),
        swap_used: Amount::of(swap_used),
        // HugePages_* are counts, not kB, so parse_meminfo left them raw.
        huge_pages: HugePages {
            total: g("HugePages_Total"),
            free: g("HugePages_Free"),
            page_size: Amount::of(g("Hugepagesize")),
            transparent: Amount::of(g("AnonHugePages")),
        },
    }
}

impl Tool for HwMemory {
    type Args = NoArgs;

    fn name(&self) -> &'static str {
        "hw.memory"
    }

    fn description(&self) -> &'static str {
        "Show memory in detail: total, available, used, free, page cache, buffers, shared, reclaimable slab, \
         dirty, swap, and huge pages, in bytes and human units. Answers 'how much RAM do I have' and 'is swap in use'."
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
                request: "how much RAM does this machine have?",
                args: r#"{}"#,
            },
            Example {
                request: "is swap being used",
                args: r#"{}"#,
            },
            Example {
                request: "are huge pages configured",
                args: r#"{}"#,
            },
        ]
    }

    fn resources(&self, _args: &NoArgs) -> Vec<Resource> {
        vec![Resource::System]
    }

    fn preview(&self, _args: &NoArgs) -> String {
        "show memory and swap".into()
    }

    async fn run(&self, ctx: ToolCtx, _args: NoArgs) -> Result<Value, ToolError> {
        ctx.blocking(|_| {
            let text = std::fs::read_to_string("/proc/meminfo")
                .map_err(|e| ToolError::io(Path::new("/proc/meminfo"), "read", &e))?;
            crate::builtin::to_value(&memory_from(&text))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_and_huge_pages() {
        let m = memory_from(
            "MemTotal: 2048 kB\nMemFree: 512 kB\nMemAvailable: 1024 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n\
             HugePages_Total: 4\nHugePages_Free: 3\nHugepagesize: 2048 kB\n",
        );
        assert_eq!(m.used.bytes, 1024 * 1024);
        assert_eq!(m.used_percent, 50.0);
        assert_eq!(m.huge_pages.total, 4);
        assert_eq!(m.huge_pages.page_size.human, "2.0 MiB");
        assert!(m.summary.contains("swap 0 B of none"), "{}", m.summary);
    }

    #[tokio::test]
    async fn live_memory_is_consistent() {
        let v = crate::Registry::builtin()
            .prepare("hw.memory", serde_json::json!({}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        let total = v["total"]["bytes"].as_u64().unwrap();
        assert!(total > 0);
        assert!(v["available"]["bytes"].as_u64().unwrap() <= total);
        assert_eq!(
            v["used"]["bytes"].as_u64().unwrap() + v["available"]["bytes"].as_u64().unwrap(),
            total
        );
        assert!(v["summary"].as_str().unwrap().contains("in use"));
    }
}
