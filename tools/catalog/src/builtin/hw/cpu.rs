//! `hw.cpu`: processor model, sockets, cores and threads, clock speeds,
//! caches and notable feature flags, from `/proc/cpuinfo` and
//! `/sys/devices/system/cpu`.

use std::collections::BTreeSet;
use std::path::Path;

use aios_domain::Risk;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{attr, attr_num};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `hw.cpu`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HwCpu;

/// Arguments of `hw.cpu`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HwCpuArgs {
    /// Return every feature flag, not only the notable ones (default false).
    #[serde(default)]
    pub all_flags: bool,
}

/// Flags worth naming: virtualisation, vector units, crypto.
const NOTABLE: &[&str] = &[
    "lm",
    "vmx",
    "svm",
    "hypervisor",
    "aes",
    "sha_ni",
    "sse4_2",
    "avx",
    "avx2",
    "avx512f",
    "rdrand",
    "nx",
    "pae",
    "fma",
    "bmi2",
    "neon",
    "asimd",
    "sve",
    "pmull",
    "sha2",
    "crc32",
];

/// The result.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Cpu {
    /// One line for a human.
    pub summary: String,
    /// Model name.
    pub model: String,
    /// Vendor (`GenuineIntel`, `AuthenticAMD`; empty on many ARM boards).
    pub vendor: String,
    /// Architecture (`x86_64`, `aarch64`).
    pub arch: String,
    /// Physical packages.
    pub sockets: usize,
    /// Physical cores in all.
    pub cores: usize,
    /// Logical CPUs (threads) in `/proc/cpuinfo`.
    pub threads: usize,
    /// CPUs online now (`/sys/devices/system/cpu/online`).
    pub online: usize,
    /// CPUs this process may run on (affinity and cgroup quota).
    pub usable: usize,
    /// Current clock, MHz (mean over CPUs), when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mhz: Option<f64>,
    /// Highest clock, MHz, when cpufreq reports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_mhz: Option<f64>,
    /// Cache size per CPU as cpuinfo states it (`1024 KB`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    /// Number of feature flags.
    pub flag_count: usize,
    /// Notable flags present (all of them with `all_flags`).
    pub flags: Vec<String>,
    /// Hardware virtualisation available (vmx or svm).
    pub virtualization: bool,
    /// Running under a hypervisor (the `hypervisor` flag).
    pub hypervisor: bool,
}

/// A `0-3,8-11` CPU list → how many.
pub fn count_cpu_list(s: &str) -> usize {
    s.trim()
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('-') {
            Some((a, b)) => match (a.parse::<usize>(), b.parse::<usize>()) {
                (Ok(a), Ok(b)) if b >= a => b - a + 1,
                _ => 0,
            },
            None => usize::from(p.parse::<usize>().is_ok()),
        })
        .sum()
}

/// Parse `/proc/cpuinfo` text into the fields it carries.
pub fn parse_cpuinfo(text: &str, all_flags: bool) -> Cpu {
    let mut cpu = Cpu::default();
    let mut packages = BTreeSet::new();
    let mut cores = BTreeSet::new();
    let mut mhz = Vec::new();
    let mut flags: Vec<String> = Vec::new();
    let mut phys = String::from("0");
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        match k {
            "processor" => cpu.threads += 1,
            "model name" | "Model" | "cpu model" if cpu.model.is_empty() => {
                cpu.model = v.to_string()
            }
            "vendor_id" | "CPU implementer" if cpu.vendor.is_empty() => cpu.vendor = v.to_string(),
            "physical id" => {
                phys = v.to_string();
                packages.insert(v.to_string());
            }
            "core id" => {
                cores.insert((phys.clone(), v.to_string()));
            }
            "cpu MHz" => mhz.extend(v.parse::<f64>().ok()),
            "cache size" if cpu.cache.is_none() => cpu.cache = Some(v.to_string()),
            "flags" | "Features" if flags.is_empty() => {
                flags = v.split_whitespace().map(str::to_string).collect();
            }
            _ => {}
        }
    }
    cpu.sockets = packages.len().max(1);
    // Without `core id` (ARM, some VMs) every thread is a core.
    cpu.cores = if cores.is_empty() {
        cpu.threads
    } else {
        cores.len()
    };
    #[allow(clippy::cast_precision_loss)] // a mean for display
    if !mhz.is_empty() {
        cpu.mhz = Some((mhz.iter().sum::<f64>() / mhz.len() as f64 * 10.0).round() / 10.0);
    }
    cpu.flag_count = flags.len();
    cpu.virtualization = flags.iter().any(|f| f == "vmx" || f == "svm");
    cpu.hypervisor = flags.iter().any(|f| f == "hypervisor");
    cpu.flags = if all_flags {
        flags
    } else {
        NOTABLE
            .iter()
            .filter(|n| flags.iter().any(|f| f == *n))
            .map(|n| n.to_string())
            .collect()
    };
    cpu
}

fn cpu(all_flags: bool) -> Result<Cpu, ToolError> {
    let text = std::fs::read_to_string("/proc/cpuinfo")
        .map_err(|e| ToolError::io(Path::new("/proc/cpuinfo"), "read", &e))?;
    let mut c = parse_cpuinfo(&text, all_flags);
    let sys = Path::new("/sys/devices/system/cpu");
    c.online = attr(sys, "online").map_or(c.threads, |s| count_cpu_list(&s));
    c.usable = std::thread::available_parallelism().map_or(1, usize::from);
    #[allow(clippy::cast_precision_loss)] // kHz to MHz for display
    {
        c.max_mhz =
            attr_num(&sys.join("cpu0/cpufreq"), "cpuinfo_max_freq").map(|k| k as f64 / 1000.0);
    }
    c.arch = nix::sys::utsname::uname()
        .map(|u| u.machine().to_string_lossy().into_owned())
        .unwrap_or_default();
    c.summary = format!(
        "{}: {} socket(s), {} core(s), {} thread(s){}{}",
        if c.model.is_empty() {
            "unknown CPU"
        } else {
            &c.model
        },
        c.sockets,
        c.cores,
        c.threads,
        c.mhz
            .or(c.max_mhz)
            .map(|m| format!(", {m:.0} MHz"))
            .unwrap_or_default(),
        if c.hypervisor {
            ", virtual machine"
        } else {
            ""
        }
    );
    Ok(c)
}

impl Tool for HwCpu {
    type Args = HwCpuArgs;

    fn name(&self) -> &'static str {
        "hw.cpu"
    }

    fn description(&self) -> &'static str {
        "Describe the processor: model, vendor, architecture, sockets, cores, threads, CPUs online and usable, \
         clock speed, cache, and notable feature flags (virtualisation, AES, AVX…); all flags on request."
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
                request: "what CPU does this machine have?",
                args: r#"{}"#,
            },
            Example {
                request: "how many cores do I have",
                args: r#"{}"#,
            },
            Example {
                request: "does my processor support AVX2? list all flags",
                args: r#"{"all_flags": true}"#,
            },
        ]
    }

    fn resources(&self, _args: &HwCpuArgs) -> Vec<Resource> {
        vec![Resource::System]
    }

    fn preview(&self, _args: &HwCpuArgs) -> String {
        "describe the CPU".into()
    }

    async fn run(&self, ctx: ToolCtx, args: HwCpuArgs) -> Result<Value, ToolError> {
        ctx.blocking(move |_| crate::builtin::to_value(&cpu(args.all_flags)?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)\ncpu MHz\t\t: 2000.000\n\
physical id\t: 0\ncore id\t\t: 0\ncache size\t: 1024 KB\nflags\t\t: fpu lm vmx avx2 hypervisor\n\n\
processor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)\ncpu MHz\t\t: 3000.000\n\
physical id\t: 0\ncore id\t\t: 0\nflags\t\t: fpu lm vmx avx2 hypervisor\n";

    #[test]
    fn cpuinfo_counts_cores_and_threads() {
        let c = parse_cpuinfo(TWO, false);
        assert_eq!((c.sockets, c.cores, c.threads), (1, 1, 2));
        assert_eq!(c.mhz, Some(2500.0));
        assert_eq!(c.flags, ["lm", "vmx", "hypervisor", "avx2"]);
        assert_eq!(c.flag_count, 5);
        assert!(c.virtualization && c.hypervisor);
        assert_eq!(parse_cpuinfo(TWO, true).flags.len(), 5);
        assert_eq!(count_cpu_list("0-3,8-11"), 8);
        assert_eq!(count_cpu_list("0"), 1);
        assert_eq!(count_cpu_list("0-1\n"), 2);
    }

    #[tokio::test]
    async fn live_cpu_matches_sysfs() {
        let v = crate::Registry::builtin()
            .prepare("hw.cpu", serde_json::json!({}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
        assert_eq!(
            v["online"].as_u64().unwrap() as usize,
            count_cpu_list(&online)
        );
        assert!(v["threads"].as_u64().unwrap() >= v["cores"].as_u64().unwrap());
        assert!(v["usable"].as_u64().unwrap() >= 1);
        assert_eq!(v["arch"], std::env::consts::ARCH);
        assert!(v["summary"].as_str().unwrap().contains("thread(s)"), "{v}");
    }
}
