//! `monitor.temperatures`: temperature sensors from `/sys/class/thermal`
//! (thermal zones) and `/sys/class/hwmon` (chips such as `coretemp`,
//! `k10temp`, `nvme`). Virtual machines usually have none; the result says
//! so instead of failing.

use std::path::Path;

use aios_domain::Risk;
use serde::Serialize;
use serde_json::Value;

use super::super::hw::{NoArgs, attr};
use crate::{Example, Resource, ResourceKind, Tool, ToolCtx, ToolError};

/// `monitor.temperatures`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonitorTemperatures;

/// One reading.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Sensor {
    /// `thermal` or `hwmon`.
    pub source: &'static str,
    /// Zone type or chip name (`x86_pkg_temp`, `coretemp`).
    pub chip: String,
    /// The sensor's label (`Package id 0`, `Core 1`), or its file name.
    pub label: String,
    /// Degrees Celsius.
    pub celsius: f64,
    /// The critical threshold, when the sensor has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub critical_celsius: Option<f64>,
}

/// The result.
#[derive(Debug, Clone, Serialize)]
pub struct Temperatures {
    /// One line for a human.
    pub summary: String,
    /// Readings, hottest first.
    pub sensors: Vec<Sensor>,
    /// Readings in all (never cut: a machine has few).
    pub total: usize,
    /// Always false.
    pub truncated: bool,
    /// Why there are none, when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Millidegrees text to degrees.
fn milli(s: &str) -> Option<f64> {
    #[allow(clippy::cast_precision_loss)] // temperatures are small
    s.trim().parse::<i64>().ok().map(|m| m as f64 / 1000.0)
}

/// Readings from `thermal` (`/sys/class/thermal`) and `hwmon`
/// (`/sys/class/hwmon`) trees.
pub fn read_sensors(thermal: &Path, hwmon: &Path) -> Vec<Sensor> {
    let mut out = Vec::new();
    let entries = |p: &Path| -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(p)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        v.sort();
        v
    };
    for zone in entries(thermal) {
        if !zone
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("thermal_zone"))
        {
            continue;
        }
        let Some(c) = attr(&zone, "temp").and_then(|t| milli(&t)) else {
            continue;
        };
        // The critical trip point, if one is declared.
        let critical = (0..16).find_map(|i| {
            (attr(&zone, &format!("trip_point_{i}_type"))? == "critical")
                .then(|| attr(&zone, &format!("trip_point_{i}_temp")).and_then(|t| milli(&t)))
                .flatten()
        });
        let chip = attr(&zone, "type").unwrap_or_else(|| "thermal".into());
        out.push(Sensor {
            source: "thermal",
            label: zone
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string(),
            chip,
            celsius: c,
            critical_celsius: critical,
        });
    }
    for chip_dir in entries(hwmon) {
        let chip = attr(&chip_dir, "name").unwrap_or_else(|| "hwmon".into());
        for f in entries(&chip_dir) {
            let Some(name) = f.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some(base) = name
                .strip_prefix("temp")
                .and_then(|n| n.strip_suffix("_input"))
            else {
                continue;
            };
            let Some(c) = attr(&chip_dir, name).and_then(|t| milli(&t)) else {
                continue;
            };
            out.push(Sensor {
                source: "hwmon",
                chip: chip.clone(),
                label: attr(&chip_dir, &format!("temp{base}_label"))
                    .unwrap_or_else(|| format!("temp{base}")),
                celsius: c,
                critical_celsius: attr(&chip_dir, &format!("temp{base}_crit"))
                    .and_then(|t| milli(&t)),
            });
        }
    }
    out.sort_by(|a, b| b.celsius.total_cmp(&a.celsius));
    out
}

impl Tool for MonitorTemperatures {
    type Args = NoArgs;

    fn name(&self) -> &'static str {
        "monitor.temperatures"
    }

    fn description(&self) -> &'static str {
        "Read temperature sensors (CPU package and cores, chipset, NVMe drives, thermal zones) with critical \
         thresholds, hottest first. Virtual machines usually expose none; the result says so."
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
                request: "how hot is my CPU?",
                args: r#"{}"#,
            },
            Example {
                request: "is the machine overheating",
                args: r#"{}"#,
            },
            Example {
                request: "show temperature sensors",
                args: r#"{}"#,
            },
        ]
    }

    fn resources(&self, _args: &NoArgs) -> Vec<Resource> {
        vec![Resource::System]
    }

    fn preview(&self, _args: &NoArgs) -> String {
        "read temperature sensors".into()
    }

    async fn run(&self, ctx: ToolCtx, _args: NoArgs) -> Result<Value, ToolError> {
        ctx.blocking(|_| {
            let sensors = read_sensors(Path::new("/sys/class/thermal"), Path::new("/sys/class/hwmon"));
            let hot: Vec<&Sensor> = sensors
                .iter()
                .filter(|s| s.critical_celsius.is_some_and(|c| s.celsius >= c - 10.0))
                .collect();
            let summary = match sensors.first() {
                None => "no temperature sensors visible".to_string(),
                Some(s) => format!(
                    "{} sensor(s); hottest {} {} at {:.1} °C{}",
                    sensors.len(),
                    s.chip,
                    s.label,
                    s.celsius,
                    if hot.is_empty() {
                        String::new()
                    } else {
                        format!("; {} within 10 °C of critical", hot.len())
                    }
                ),
            };
            let note = sensors.is_empty().then(|| {
                "no thermal zones or hwmon temperature inputs: usual on virtual machines and in containers, \
                 where the host owns the sensors"
                    .to_string()
            });
            crate::builtin::to_value(&Temperatures {
                summary,
                total: sensors.len(),
                truncated: false,
                sensors,
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
    fn reads_sysfs_shaped_trees() {
        let d = tempfile::tempdir().unwrap();
        let zone = d.path().join("thermal/thermal_zone0");
        std::fs::create_dir_all(&zone).unwrap();
        std::fs::write(zone.join("type"), "x86_pkg_temp\n").unwrap();
        std::fs::write(zone.join("temp"), "45000\n").unwrap();
        std::fs::write(zone.join("trip_point_0_type"), "passive\n").unwrap();
        std::fs::write(zone.join("trip_point_0_temp"), "90000\n").unwrap();
        std::fs::write(zone.join("trip_point_1_type"), "critical\n").unwrap();
        std::fs::write(zone.join("trip_point_1_temp"), "100000\n").unwrap();
        let chip = d.path().join("hwmon/hwmon0");
        std::fs::create_dir_all(&chip).unwrap();
        std::fs::write(chip.join("name"), "coretemp\n").unwrap();
        std::fs::write(chip.join("temp2_input"), "61500\n").unwrap();
        std::fs::write(chip.join("temp2_label"), "Core 0\n").unwrap();
        std::fs::write(chip.join("temp2_crit"), "100000\n").unwrap();
        let s = read_sensors(&d.path().join("thermal"), &d.path().join("hwmon"));
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].chip.as_str(), s[0].label.as_str(), s[0].celsius),
            ("coretemp", "Core 0", 61.5)
        );
        assert_eq!(s[1].critical_celsius, Some(100.0));
    }

    #[tokio::test]
    async fn live_sensors_or_a_note() {
        let v = crate::Registry::builtin()
            .prepare("monitor.temperatures", serde_json::json!({}))
            .unwrap()
            .run(ToolCtx::local())
            .await
            .unwrap();
        if v["total"] == 0 {
            assert!(
                v["note"].as_str().unwrap().contains("virtual machines"),
                "{v}"
            );
        } else {
            assert!(v["summary"].as_str().unwrap().contains("hottest"), "{v}");
        }
    }
}
