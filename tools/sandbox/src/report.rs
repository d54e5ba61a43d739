//! The child's report to the parent: fixed-size records `(stage, value)`
//! written to a close-on-exec pipe (each write is atomic, under
//! `PIPE_BUF`), and their decoding into [`Enforcement`] or a fatal error.

use crate::prepare::PrepareNotes;
use crate::{Enforcement, SandboxError, SandboxErrorKind};

/// One setup step. The value of a record is 0 on success or the errno,
/// except where noted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Stage {
    /// Dropping to the requested uid, gid and groups (fatal).
    Ids = 1,
    /// `unshare(CLONE_NEWUSER)`.
    UserNs = 2,
    /// Writing `setgroups`, `uid_map`, `gid_map` (fatal).
    UserMap = 3,
    /// `unshare(CLONE_NEWNS)`.
    MountNs = 4,
    /// `unshare(CLONE_NEWPID)`.
    PidNs = 5,
    /// `unshare(CLONE_NEWNET)`.
    NetNs = 6,
    /// Making the mount tree private.
    Private = 7,
    /// A fresh `/proc`.
    Proc = 8,
    /// Read-only root.
    ReadOnly = 9,
    /// A private tmpfs on `/tmp`.
    Tmp = 10,
    /// One writable bind mount (fatal); the index is in the high bits.
    Writable = 11,
    /// The working directory (fatal).
    Cwd = 12,
    /// rlimits.
    Rlimits = 13,
    /// Landlock `restrict_self`.
    Landlock = 14,
    /// `PR_SET_NO_NEW_PRIVS`.
    NoNewPrivs = 15,
    /// seccomp.
    Seccomp = 16,
    /// `execve` failed (fatal): the value is the errno.
    Exec = 17,
    /// `fork` of the namespace init failed (fatal).
    Fork = 18,
    /// The command's wait status (value: raw status), sent last.
    Status = 19,
    /// Dying with the parent (`PR_SET_PDEATHSIG`) failed (fatal).
    DeathSig = 20,
    /// One hidden directory covered; the index is in the high bits.
    Hidden = 21,
}

const STAGES: [Stage; 21] = [
    Stage::Ids,
    Stage::UserNs,
    Stage::UserMap,
    Stage::MountNs,
    Stage::PidNs,
    Stage::NetNs,
    Stage::Private,
    Stage::Proc,
    Stage::ReadOnly,
    Stage::Tmp,
    Stage::Writable,
    Stage::Cwd,
    Stage::Rlimits,
    Stage::Landlock,
    Stage::NoNewPrivs,
    Stage::Seccomp,
    Stage::Exec,
    Stage::Fork,
    Stage::Status,
    Stage::DeathSig,
    Stage::Hidden,
];

/// Bytes per record.
pub(crate) const RECORD: usize = 8;

/// Encode one record (in the child: no allocation).
pub(crate) fn encode(stage: Stage, index: u32, value: i32) -> [u8; RECORD] {
    let tag = (stage as u32) | (index << 8);
    let mut b = [0u8; RECORD];
    b[..4].copy_from_slice(&tag.to_ne_bytes());
    b[4..].copy_from_slice(&value.to_ne_bytes());
    b
}

/// What the report says.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    records: Vec<(Stage, u32, i32)>,
}

impl Decoded {
    /// Decode the bytes read from the report pipe.
    pub(crate) fn parse(bytes: &[u8]) -> Decoded {
        let records = bytes
            .chunks_exact(RECORD)
            .filter_map(|c| {
                let tag = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
                let value = i32::from_ne_bytes([c[4], c[5], c[6], c[7]]);
                let stage = STAGES.iter().copied().find(|s| *s as u32 == tag & 0xff)?;
                Some((stage, tag >> 8, value))
            })
            .collect();
        Decoded { records }
    }

    fn get(&self, stage: Stage) -> Option<i32> {
        self.records
            .iter()
            .find(|(s, _, _)| *s == stage)
            .map(|(_, _, v)| *v)
    }

    fn ok(&self, stage: Stage) -> bool {
        self.get(stage) == Some(0)
    }

    /// The value reported for `stage` at `index`.
    fn get_at(&self, stage: Stage, index: u32) -> Option<i32> {
        self.records
            .iter()
            .find(|(s, i, _)| *s == stage && *i == index)
            .map(|(_, _, v)| *v)
    }

    /// The command's raw wait status, when the init reported it.
    pub(crate) fn status(&self) -> Option<i32> {
        self.get(Stage::Status)
    }

    /// The first fatal failure, as an error naming the step and what to do.
    pub(crate) fn fatal(
        &self,
        argv0: &str,
        writable: &[String],
        cwd: &str,
    ) -> Option<SandboxError> {
        for &(stage, index, value) in &self.records {
            if value == 0 {
                continue;
            }
            let err = errno_text(value);
            let (kind, msg) = match stage {
                Stage::Ids => (
                    SandboxErrorKind::PermissionDenied,
                    format!("sandbox: cannot switch to the requested user: {err}"),
                ),
                Stage::UserMap => (
                    SandboxErrorKind::Setup,
                    format!("sandbox: cannot write the user namespace's id maps: {err}"),
                ),
                Stage::Writable => {
                    let path = writable.get(index as usize).map_or("?", String::as_str);
                    (
                        SandboxErrorKind::Setup,
                        format!(
                            "sandbox: cannot make {path} writable inside the sandbox: {err} \
                             (is it on a read-only mount?)"
                        ),
                    )
                }
                Stage::Cwd => (
                    SandboxErrorKind::Setup,
                    format!(
                        "sandbox: cannot enter the working directory {cwd} as the command's user: {err}"
                    ),
                ),
                Stage::Exec if value == libc::ENOENT => (
                    SandboxErrorKind::NotFound,
                    format!(
                        "sandbox: `{argv0}` not found (looked on the PATH given to the command)"
                    ),
                ),
                Stage::Exec => (
                    SandboxErrorKind::NotFound,
                    format!("sandbox: cannot execute `{argv0}`: {err}"),
                ),
                Stage::Fork => (
                    SandboxErrorKind::Setup,
                    format!("sandbox: cannot fork the namespace's init: {err}"),
                ),
                Stage::DeathSig => (
                    SandboxErrorKind::Setup,
                    format!("sandbox: cannot tie the command to its parent's life: {err}"),
                ),
                _ => continue,
            };
            return Some(SandboxError::new(kind, msg));
        }
        None
    }

    /// What was enforced, with a line for each thing that was not.
    /// `notes` says why a feature could not even be prepared.
    pub(crate) fn enforcement(
        &self,
        network_requested: bool,
        hidden: &[String],
        notes: &PrepareNotes,
    ) -> Enforcement {
        let mut e = Enforcement {
            user_ns: self.ok(Stage::UserNs),
            mount_ns: self.ok(Stage::MountNs),
            pid_ns: self.ok(Stage::PidNs),
            net_ns: self.ok(Stage::NetNs),
            readonly_root: self.ok(Stage::ReadOnly),
            landlock_abi: self
                .get(Stage::Landlock)
                .filter(|v| *v > 0)
                .and_then(|v| u32::try_from(v).ok()),
            seccomp: self.ok(Stage::Seccomp),
            rlimits: self.ok(Stage::Rlimits),
            missing: Vec::new(),
        };
        let why = |stage: Stage| match self.get(stage) {
            None => "not attempted".to_string(),
            Some(v) => errno_text(v),
        };
        let stops_writes = e.stops_writes();
        let m = &mut e.missing;
        if !e.user_ns {
            m.push(format!(
                "no user namespace ({}): mount, PID and network namespaces need one",
                why(Stage::UserNs)
            ));
        }
        if !e.mount_ns {
            m.push(format!(
                "no mount namespace ({}): no read-only root, no private /tmp",
                why(Stage::MountNs)
            ));
        }
        if !e.pid_ns {
            m.push(format!(
                "no PID namespace ({}): the command sees host processes; the tree is killed by process group only",
                why(Stage::PidNs)
            ));
        } else if !self.ok(Stage::Proc) {
            m.push(format!(
                "no private /proc ({}): the host's process list stays visible",
                why(Stage::Proc)
            ));
        }
        if !network_requested && !e.net_ns {
            m.push(format!(
                "no network namespace ({}): only seccomp stands between the command and the network",
                why(Stage::NetNs)
            ));
        }
        if !e.readonly_root {
            m.push(format!("no read-only root ({})", why(Stage::ReadOnly)));
        }
        if e.mount_ns && !self.ok(Stage::Tmp) {
            m.push(format!("no private /tmp ({})", why(Stage::Tmp)));
        }
        for (i, dir) in hidden.iter().enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            match self.get_at(Stage::Hidden, index) {
                Some(0) => {}
                got => m.push(format!(
                    "{dir} is not hidden ({}): the command can reach the sockets in it",
                    got.map_or_else(|| "not attempted".to_string(), errno_text)
                )),
            }
        }
        if e.landlock_abi.is_none() {
            let reason = match self.get(Stage::Landlock) {
                _ if notes.landlock.is_some() => notes.landlock.clone().unwrap_or_default(),
                Some(v) if v < 0 => errno_text(-v),
                Some(_) => "not supported by this kernel".to_string(),
                None => "not attempted".to_string(),
            };
            m.push(format!("no Landlock ({reason})"));
        }
        if !e.seccomp {
            let reason = notes.seccomp.clone().unwrap_or_else(|| why(Stage::Seccomp));
            m.push(format!(
                "no seccomp filter ({reason}): ptrace, io_uring, bpf and sockets are not blocked"
            ));
        }
        if !e.rlimits {
            m.push(format!("rlimits not set ({})", why(Stage::Rlimits)));
        }
        if !stops_writes {
            m.push("nothing stops writes: the command can write wherever its user can".to_string());
        }
        e
    }
}

/// `EPERM (Operation not permitted)`.
fn errno_text(errno: i32) -> String {
    let e = nix::errno::Errno::from_raw(errno);
    format!("{e}: {}", e.desc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_missing_names_each_gap() {
        let mut bytes = Vec::new();
        bytes.extend(encode(Stage::UserNs, 0, libc::EPERM));
        bytes.extend(encode(Stage::Landlock, 0, 6));
        bytes.extend(encode(Stage::Seccomp, 0, 0));
        bytes.extend(encode(Stage::Rlimits, 0, 0));
        bytes.extend(encode(Stage::Status, 0, 3 << 8));
        let d = Decoded::parse(&bytes);
        assert_eq!(d.status(), Some(3 << 8));
        assert!(d.fatal("x", &[], "/").is_none());
        let e = d.enforcement(false, &[], &PrepareNotes::default());
        assert!(!e.user_ns);
        assert_eq!(e.landlock_abi, Some(6));
        assert!(e.seccomp && e.rlimits && e.stops_writes());
        assert!(
            e.missing
                .iter()
                .any(|l| l.contains("user namespace") && l.contains("EPERM"))
        );
        assert!(e.missing.iter().any(|l| l.contains("network namespace")));
        assert!(!e.missing.iter().any(|l| l.contains("Landlock")));
        // Network asked for: its absence is not a gap.
        assert!(
            !d.enforcement(true, &[], &PrepareNotes::default())
                .missing
                .iter()
                .any(|l| l.contains("no network namespace"))
        );
    }

    #[test]
    fn fatal_stage_names_the_path() {
        let mut bytes = Vec::new();
        bytes.extend(encode(Stage::Writable, 1, libc::EPERM));
        let d = Decoded::parse(&bytes);
        let e = d.fatal("ls", &["/a".into(), "/b".into()], "/").unwrap();
        assert_eq!(e.kind(), SandboxErrorKind::Setup);
        assert!(e.message().contains("/b"), "{e}");
    }
}
