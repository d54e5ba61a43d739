//! The built-in tools, one module per tool, and [`register_all`].

mod fs_largest;
mod fs_list;
mod fs_read;
mod fs_usage;
mod log_tail;
mod net_listening;
mod process_list;
mod service_status;
mod sys_overview;

pub use fs_largest::FsLargest;
pub use fs_list::FsList;
pub use fs_read::FsRead;
pub use fs_usage::FsUsage;
pub use log_tail::LogTail;
pub use net_listening::NetListening;
pub use process_list::ProcessList;
pub use service_status::ServiceStatus;
pub use sys_overview::SysOverview;

use crate::RegistryBuilder;

/// Add every built-in tool to `b`.
pub(crate) fn register_all(b: RegistryBuilder) -> RegistryBuilder {
    b.register(FsUsage)
        .register(FsList)
        .register(FsRead)
        .register(FsLargest)
        .register(ProcessList)
        .register(SysOverview)
        .register(NetListening)
        .register(ServiceStatus)
        .register(LogTail)
}

/// Serialize a tool's result struct. Our result types are plain data, so
/// this cannot fail in practice; if it ever does, say so rather than panic.
pub(crate) fn to_value<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, crate::ToolError> {
    serde_json::to_value(v)
        .map_err(|e| crate::ToolError::failed(format!("cannot encode result: {e}")))
}

/// Canonicalize a user path and check the effective user may reach it with `want`.
pub(crate) fn open_path(
    ctx: &crate::ToolCtx,
    raw: &str,
    want: crate::Perm,
) -> Result<std::path::PathBuf, crate::ToolError> {
    let p = ctx.access().resolve(raw)?;
    let canon = p
        .canonicalize()
        .map_err(|e| crate::ToolError::io(&p, "open", &e))?;
    ctx.access().check(&canon, want)?;
    Ok(canon)
}
