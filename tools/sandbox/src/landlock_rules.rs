//! The Landlock ruleset, built before the fork with the `landlock` crate at
//! the best ABI the kernel offers: read and execute everywhere, every file
//! access under the writable paths and the null/zero/urandom devices. The
//! private `/tmp` does not exist yet (the child mounts it), so its rule is
//! added by the child with one raw `landlock_add_rule` on the new tmpfs;
//! the child then calls `landlock_restrict_self` itself, so nothing after
//! the fork allocates.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr,
};

/// A ruleset ready for the child.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The ruleset's fd.
    pub(crate) fd: OwnedFd,
    /// Every access the ruleset handles (the rights the `/tmp` rule gets).
    pub(crate) handled: u64,
    /// The ABI it was built for.
    pub(crate) abi: u32,
}

/// The kernel's Landlock ABI version, or why there is none.
pub(crate) fn kernel_abi() -> Result<i32, i32> {
    // SAFETY: LANDLOCK_CREATE_RULESET_VERSION with a null attribute and size
    // 0 only asks for the version; no memory is passed.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    if v < 0 {
        Err(nix::errno::Errno::last_raw())
    } else {
        Ok(i32::try_from(v).unwrap_or(i32::MAX))
    }
}

/// Build the ruleset, or say why not (no Landlock in the kernel, a path
/// that cannot be opened).
pub(crate) fn prepare(writable: &[PathBuf]) -> Result<Prepared, String> {
    let v = kernel_abi().map_err(|errno| {
        let e = nix::errno::Errno::from_raw(errno);
        if errno == libc::EOPNOTSUPP {
            "Landlock is built into the kernel but not enabled (lsm= boot option)".to_string()
        } else {
            format!("the kernel has no Landlock ({e})")
        }
    })?;
    let abi = ABI::from(v);
    if abi == ABI::Unsupported {
        return Err("the kernel has no Landlock".into());
    }
    let all: BitFlags<AccessFs> = AccessFs::from_all(abi);
    let read = AccessFs::from_read(abi);
    let mut created = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .and_then(|r| r.create())
        .map_err(|e| format!("cannot create a Landlock ruleset: {e}"))?;
    let root = PathFd::new("/").map_err(|e| format!("Landlock: cannot open /: {e}"))?;
    created = created
        .add_rule(PathBeneath::new(root, read))
        .map_err(|e| format!("Landlock: rule for /: {e}"))?;
    // The devices a command writes to as a matter of course.
    for dev in [
        "/dev/null",
        "/dev/zero",
        "/dev/urandom",
        "/dev/full",
        "/dev/tty",
    ] {
        if let Ok(fd) = PathFd::new(dev) {
            created = created
                .add_rule(PathBeneath::new(fd, all & AccessFs::from_file(abi)))
                .map_err(|e| format!("Landlock: rule for {dev}: {e}"))?;
        }
    }
    for w in writable {
        let fd = PathFd::new(w)
            .map_err(|e| format!("Landlock: cannot open writable path {}: {e}", w.display()))?;
        created = created
            .add_rule(PathBeneath::new(fd, all))
            .map_err(|e| format!("Landlock: rule for {}: {e}", w.display()))?;
    }
    let fd: Option<OwnedFd> = created.into();
    let fd = fd.ok_or_else(|| "Landlock ruleset was not created".to_string())?;
    Ok(Prepared {
        fd,
        handled: all.bits(),
        abi: abi as u32,
    })
}
