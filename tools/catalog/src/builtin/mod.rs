//! The built-in tools, one module per tool, and how they join a registry
//! ([`Registry::builtin`], [`RegistryBuilder::with_builtin`]). This module
//! depends on the registry, never the other way round.
//!
//! Every tool that takes a path opens it through [`paths`], and does all
//! its filesystem work inside [`crate::ToolCtx::blocking`], which runs with
//! the caller's kernel credentials.

mod audit;
mod exec_run;
mod firewall;
mod fs;
mod fs_largest;
mod fs_list;
mod fs_read;
mod fs_usage;
pub(crate) mod host;
mod log;
mod log_tail;
mod memory_output;
mod memory_search;
mod paths;
mod pkg;
mod process_list;
pub(crate) mod service;
mod service_status;
mod sys_overview;
// user, sec and cron tools (h-usersec).
pub mod cron;
pub mod sec;
pub mod user;

// process, net, hw, monitor and sys families (procnet).
mod hw;
mod monitor;
mod net;
mod process;
mod sys;

pub use hw::{HwBlock, HwCpu, HwMemory, HwPci, HwUsb};
pub use monitor::{MonitorOverview, MonitorTemperatures, MonitorTop};
pub use net::{
    NetAddresses, NetConnections, NetDns, NetInterfaces, NetLink, NetListening, NetPing, NetRoutes,
};
pub use process::{ProcessFind, ProcessInfo, ProcessNice, ProcessSignal, ProcessTree};
pub use sys::{SysHostname, SysInfo, SysPoweroff, SysReboot, SysTime};

pub use audit::{AUDIT_UNDO, AuditUndo, undo_call};
pub use exec_run::ExecRun;
pub use firewall::{FirewallAdd, FirewallDelete, FirewallList};
pub use fs::{
    FsAppend, FsChmod, FsChown, FsCopy, FsDelete, FsDu, FsEdit, FsFind, FsMkdir, FsMove, FsRestore,
    FsStat, FsWrite,
};
pub use fs_largest::FsLargest;
pub use fs_list::FsList;
pub use fs_read::FsRead;
pub use fs_usage::FsUsage;
pub use log::{LogKernel, LogSearch, LogVacuum};
pub use log_tail::LogTail;
pub use memory_output::{MemoryOutput, MemoryOutputArgs};
pub use memory_search::{MemoryCollection, MemorySearch, MemorySearchArgs};
pub use pkg::{PackageName, PkgChange, PkgInfo, PkgInstalled, PkgSearch, PkgUpdates};
pub use process_list::ProcessList;
pub use service::{ServiceChange, ServiceFailed, ServiceList, ServiceLogs};
pub use service_status::ServiceStatus;
pub use sys_overview::SysOverview;

use crate::{Registry, RegistryBuilder, ServiceAction};

impl Registry {
    /// The built-in tools.
    pub fn builtin() -> Registry {
        Registry::builder().with_builtin().build()
    }
}

impl RegistryBuilder {
    /// Add the built-in tools.
    pub fn with_builtin(self) -> Self {
        self.register(FsUsage)
            .register(FsList)
            .register(FsRead)
            .register(FsLargest)
            .register(ProcessList)
            .register(SysOverview)
            .register(NetListening)
            .register(ServiceStatus)
            .register(LogTail)
            // fs: changes (snapshots, diff previews, undo) and tree inspection.
            .register(FsDu)
            .register(FsFind)
            .register(FsStat)
            .register(FsWrite)
            .register(FsAppend)
            .register(FsEdit)
            .register(FsDelete)
            .register(FsRestore)
            .register(FsCopy)
            .register(FsMove)
            .register(FsChmod)
            .register(FsChown)
            .register(FsMkdir)
            // process, net, hw, monitor and sys families (procnet).
            .register(ProcessTree)
            .register(ProcessInfo)
            .register(ProcessFind)
            .register(ProcessSignal)
            .register(ProcessNice)
            .register(NetInterfaces)
            .register(NetAddresses)
            .register(NetRoutes)
            .register(NetConnections)
            .register(NetDns)
            .register(NetPing)
            .register(NetLink)
            .register(HwCpu)
            .register(HwMemory)
            .register(HwBlock)
            .register(HwPci)
            .register(HwUsb)
            .register(MonitorOverview)
            .register(MonitorTop)
            .register(MonitorTemperatures)
            .register(SysInfo)
            .register(SysTime)
            .register(SysHostname)
            .register(SysReboot)
            .register(SysPoweroff)
            // user, sec and cron tools (h-usersec).
            .register(user::UserList)
            .register(user::UserInfo)
            .register(user::UserAdd)
            .register(user::UserDelete)
            .register(user::UserGroups)
            .register(user::UserLock)
            .register(user::UserUnlock)
            .register(sec::SecLogins)
            .register(sec::SecFailedLogins)
            .register(sec::SecSudoers)
            .register(sec::SecSshdAudit)
            .register(sec::SecWorldWritable)
            .register(sec::SecSuid)
            .register(sec::SecPortsAudit)
            .register(cron::CronList)
            .register(cron::CronAdd)
            .register(cron::CronRemove)
            // exec
            .register(ExecRun)
            // audit
            .register(audit::AuditLog)
            .register(audit::AuditWhy)
            .register(audit::AuditUndo)
            // memory
            .register(memory_search::MemorySearch)
            .register(memory_output::MemoryOutput)
            // service (svcpkg)
            .register(ServiceList::default())
            .register(ServiceFailed::default())
            .register(ServiceLogs::default())
            .register(ServiceChange::new(ServiceAction::Start))
            .register(ServiceChange::new(ServiceAction::Stop))
            .register(ServiceChange::new(ServiceAction::Restart))
            .register(ServiceChange::new(ServiceAction::Enable))
            .register(ServiceChange::new(ServiceAction::Disable))
            // firewall (svcpkg)
            .register(FirewallList::default())
            .register(FirewallAdd::allow())
            .register(FirewallAdd::deny())
            .register(FirewallDelete::default())
            // pkg (svcpkg)
            .register(PkgSearch::default())
            .register(PkgInfo::default())
            .register(PkgInstalled::default())
            .register(PkgUpdates::default())
            .register(PkgChange::install())
            .register(PkgChange::remove())
            .register(PkgChange::upgrade())
            // log (svcpkg)
            .register(LogSearch::default())
            .register(LogKernel::default())
            .register(LogVacuum::default())
    }
}

/// Serialize a tool's result struct. Our result types are plain data, so
/// this cannot fail in practice; if it ever does, say so rather than panic.
pub(crate) fn to_value<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, crate::ToolError> {
    serde_json::to_value(v)
        .map_err(|e| crate::ToolError::failed(format!("cannot encode result: {e}")))
}

#[cfg(test)]
mod tests {
    //! The built-in set through the registry: specs, lookup, validation, help.
    use aios_domain::Risk;
    use serde_json::Value;

    use crate::{Registry, ToolErrorKind};

    #[test]
    fn builtin_registers_cleanly_with_valid_schemas() {
        let r = Registry::builder().with_builtin().try_build().unwrap();
        let names: Vec<&str> = r.names().collect();
        for n in [
            "fs.usage",
            "fs.list",
            "fs.read",
            "fs.largest",
            "process.list",
            "sys.overview",
            "net.listening",
            "service.status",
            "log.tail",
            // fs: changes and tree inspection.
            "fs.du",
            "fs.find",
            "fs.stat",
            "fs.write",
            "fs.append",
            "fs.edit",
            "fs.delete",
            "fs.restore",
            "fs.copy",
            "fs.move",
            "fs.chmod",
            "fs.chown",
            "fs.mkdir",
            // process, net, hw, monitor and sys families (procnet).
            "process.tree",
            "process.info",
            "process.find",
            "process.signal",
            "process.nice",
            "net.interfaces",
            "net.addresses",
            "net.routes",
            "net.connections",
            "net.dns",
            "net.ping",
            "net.link",
            "hw.cpu",
            "hw.memory",
            "hw.block",
            "hw.pci",
            "hw.usb",
            "monitor.overview",
            "monitor.top",
            "monitor.temperatures",
            "sys.info",
            "sys.time",
            "sys.hostname",
            "sys.reboot",
            "sys.poweroff",
            // user, sec and cron tools (h-usersec).
            "user.list",
            "user.info",
            "user.add",
            "user.delete",
            "user.groups",
            "user.lock",
            "user.unlock",
            "sec.logins",
            "sec.failed_logins",
            "sec.sudoers",
            "sec.sshd_audit",
            "sec.world_writable",
            "sec.suid",
            "sec.ports_audit",
            "cron.list",
            "cron.add",
            "cron.remove",
            // exec
            "exec.run",
            // audit
            "audit.log",
            "audit.why",
            "audit.undo",
            // memory
            "memory.search",
            "memory.output",
            // service (svcpkg)
            "service.list",
            "service.failed",
            "service.logs",
            "service.start",
            "service.stop",
            "service.restart",
            "service.enable",
            "service.disable",
            // firewall (svcpkg)
            "firewall.list",
            "firewall.allow",
            "firewall.deny",
            "firewall.delete",
            // pkg (svcpkg)
            "pkg.search",
            "pkg.info",
            "pkg.installed",
            "pkg.updates",
            "pkg.install",
            "pkg.remove",
            "pkg.upgrade",
            // log (svcpkg)
            "log.search",
            "log.kernel",
            "log.vacuum",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        for spec in r.specs() {
            let text = spec.args_schema.to_string();
            assert_eq!(spec.args_schema["type"], "object", "{}: {text}", spec.name);
            assert!(
                !text.contains("$ref"),
                "{} schema has $ref: {text}",
                spec.name
            );
            assert!(
                !text.contains("$defs"),
                "{} schema has $defs: {text}",
                spec.name
            );
            assert!(spec.args_schema.get("$schema").is_none());
            assert!(!text.contains("\"format\":\"uint"), "{}: {text}", spec.name);
            assert!(spec.description.len() > 20, "{}", spec.name);
            // A tool that can change something must show what a user would ask it to change.
            if spec.effect != Risk::Read {
                assert!(
                    spec.examples.len() >= 3,
                    "{} needs three example requests",
                    spec.name
                );
            }
            assert!(!spec.resources.is_empty(), "{}", spec.name);
            // The model router retrieves tools by their examples.
            assert!(
                spec.examples.len() >= 2,
                "{} needs at least two example requests",
                spec.name
            );
        }
    }

    #[test]
    fn procnet_effect_classes() {
        // process, net, hw, monitor and sys families (procnet): the tools
        // that change something say so in their class; the rest only read.
        let r = Registry::builtin();
        for spec in r.specs() {
            let want = match spec.name.as_str() {
                "process.signal" | "process.nice" | "net.link" | "sys.hostname" => Risk::Change,
                "sys.reboot" | "sys.poweroff" => Risk::Destructive,
                n if ["process.", "net.", "hw.", "monitor.", "sys."]
                    .iter()
                    .any(|p| n.starts_with(p)) =>
                {
                    Risk::Read
                }
                _ => continue,
            };
            assert_eq!(spec.effect, want, "{}", spec.name);
        }
    }

    #[test]
    fn unknown_tool_suggests_closest_names() {
        let r = Registry::builtin();
        let e = r.spec("fs.lst").unwrap_err();
        assert_eq!(e.kind(), ToolErrorKind::UnknownTool);
        assert!(e.message().contains("`fs.list`"), "{e}");
        let e = r.spec("disk.usage").unwrap_err();
        assert!(e.message().contains("`fs.usage`"), "{e}");
        let e = r.spec("zzzzzzzz").unwrap_err();
        assert!(e.message().contains("known tools:"), "{e}");
    }

    #[test]
    fn bad_args_name_the_field() {
        let r = Registry::builtin();
        let e = r.prepare("fs.list", serde_json::json!({})).unwrap_err();
        assert_eq!(e.kind(), ToolErrorKind::InvalidArgs);
        assert!(e.message().contains("`path`"), "{e}");
        let e = r
            .prepare("fs.list", serde_json::json!({"path": "/", "limit": "ten"}))
            .unwrap_err();
        assert!(e.message().contains("field `limit`"), "{e}");
        let e = r
            .prepare("fs.list", serde_json::json!({"pth": "/"}))
            .unwrap_err();
        assert!(e.message().contains("`pth`"), "{e}");
        let e = r.prepare("fs.list", serde_json::json!([1])).unwrap_err();
        assert!(e.message().contains("must be a JSON object"), "{e}");
        // Argument-less tools accept null and {}.
        r.prepare("sys.overview", Value::Null).unwrap();
        r.prepare("sys.overview", serde_json::json!({})).unwrap();
    }

    #[test]
    fn help_lists_arguments() {
        let r = Registry::builtin();
        let h = r.help("fs.read").unwrap();
        assert!(h.starts_with("fs.read (read-only)"), "{h}");
        assert!(h.contains("path (string, required)"), "{h}");
        assert!(h.contains("max_bytes (integer)"), "{h}");
        let h = r.help("process.list").unwrap();
        assert!(h.contains("sort_by (cpu|memory|pid)"), "{h}");
    }
}
