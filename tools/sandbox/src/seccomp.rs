//! The seccomp filter, compiled with `seccompiler` before the fork: deny
//! with `EPERM` what a confined command never needs (debugging other
//! processes, io_uring, bpf, keyrings, perf, kernel modules, kexec, mounts,
//! new namespaces) and, unless the network is granted, every socket family
//! but `AF_UNIX`. `clone3` gets `ENOSYS` (its flags live in memory the
//! filter cannot read) so libc falls back to `clone`, whose namespace
//! flags are checked.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Syscalls denied outright.
const DENIED: &[libc::c_long] = &[
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_bpf,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_perf_event_open,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_fsopen,
    libc::SYS_fsmount,
    libc::SYS_fsconfig,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_open_by_handle_at,
    libc::SYS_userfaultfd,
];

/// `clone` flags that would make a new namespace.
const NS_FLAGS: &[u64] = &[
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWCGROUP as u64,
];

/// The two programs the child installs: the deny list (`EPERM`) and
/// `clone3` → `ENOSYS`. Kernel filters stack and the strictest answer wins.
#[derive(Debug)]
pub(crate) struct Filters {
    /// The deny list.
    pub(crate) main: BpfProgram,
    /// `clone3` → `ENOSYS`.
    pub(crate) clone3: BpfProgram,
}

/// Compile the filters for this architecture. An architecture seccompiler
/// does not know is reported as "no seccomp", not an error.
pub(crate) fn build(network: bool) -> Result<Filters, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| format!("architecture {} unsupported: {e}", std::env::consts::ARCH))?;
    let compile = |rules, action| -> Result<BpfProgram, String> {
        let filter = SeccompFilter::new(rules, SeccompAction::Allow, action, arch)
            .map_err(|e| e.to_string())?;
        filter
            .try_into()
            .map_err(|e: seccompiler::BackendError| e.to_string())
    };
    let main = compile(
        deny_rules(network).map_err(|e| e.to_string())?,
        SeccompAction::Errno(libc::EPERM as u32),
    )?;
    let clone3 = compile(
        BTreeMap::from([(libc::SYS_clone3, vec![])]),
        SeccompAction::Errno(libc::ENOSYS as u32),
    )?;
    Ok(Filters { main, clone3 })
}

fn deny_rules(network: bool) -> Result<BTreeMap<i64, Vec<SeccompRule>>, seccompiler::BackendError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&nr| (nr, Vec::new())).collect();
    let clone_rules = NS_FLAGS
        .iter()
        .map(|&flag| {
            SeccompRule::new(vec![SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )?])
        })
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_clone, clone_rules);
    if !network {
        let not_unix = SeccompRule::new(vec![SeccompCondition::new(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Ne,
            libc::AF_UNIX as u64,
        )?])?;
        rules.insert(libc::SYS_socket, vec![not_unix.clone()]);
        rules.insert(libc::SYS_socketpair, vec![not_unix]);
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_with_and_without_network() {
        let with = build(true).unwrap();
        let without = build(false).unwrap();
        assert!(without.main.len() > with.main.len());
        assert!(!with.clone3.is_empty());
    }
}
