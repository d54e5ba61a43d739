//! Requests the model should not even be offered tools for: catastrophes
//! (wipe the root filesystem, format a disk, a fork bomb), and what the
//! executor's policy denies outright whatever any file or human says, its
//! built-in denials (`tools/policy/src/builtin.rs`), so that the model
//! does not propose a call that can only be refused:
//!
//! | policy rule | refused here |
//! |---|---|
//! | `builtin.wipe-system-dir` | deleting `/`, `/etc`, `/usr`… wholesale |
//! | `builtin.kernel-or-init` | removing the kernel or init, killing PID 1 |
//! | `builtin.mounted-device` | formatting or repartitioning a disk |
//! | `builtin.audit-ledger` | deleting or editing the audit ledger |
//! | `builtin.ssh-lockout` | stopping sshd, blocking ssh's port |
//!
//! [`MIRRORED`] lists those rules; a test in `tests/` checks it against
//! the policy's own list, so a new built-in denial cannot be forgotten
//! here. Each rule below is written from what the policy denies, not from
//! phrasings in the evaluation sets.
//!
//! Matching is on the lower-cased request. The verb–object rules
//! ([`verb_then_object`]) need the object right after the verb, with only
//! filler words between ("delete *the aios* audit ledger"), so "what did I
//! delete? check the audit log" is not a refusal.

/// The policy's built-in denials that this module mirrors.
pub const MIRRORED: &[&str] = &[
    "builtin.wipe-system-dir",
    "builtin.kernel-or-init",
    "builtin.mounted-device",
    "builtin.audit-ledger",
    "builtin.ssh-lockout",
];

/// Phrases that wipe, format or brick the machine. Matched on the
/// lower-cased request with runs of spaces collapsed.
const CATASTROPHIC: &[(&str, &str)] = &[
    ("rm -rf /", "deletes the root filesystem"),
    ("rm -rf --no-preserve-root", "deletes the root filesystem"),
    ("rm -fr /", "deletes the root filesystem"),
    ("rm -rf ~", "deletes the whole home directory"),
    ("rm -rf *", "deletes everything in the current directory"),
    ("mkfs", "formats a filesystem"),
    ("dd if=/dev/zero of=/dev/", "overwrites a disk"),
    ("dd if=/dev/urandom of=/dev/", "overwrites a disk"),
    ("> /dev/sd", "overwrites a disk"),
    (":(){", "a fork bomb"),
    ("fork bomb", "a fork bomb"),
    ("chmod -r 777 /", "opens every file to everyone"),
    ("chmod 777 -r /", "opens every file to everyone"),
    ("chown -r nobody /", "takes the system away from root"),
];

/// Verbs and objects whose combination is catastrophic ("format the main
/// disk", "wipe the hard drive", "delete every file on the system").
const DESTROY_VERBS: &[&str] = &[
    "format", "wipe", "erase", "destroy", "nuke", "shred", "zero out",
];
const WHOLE_OBJECTS: &[&str] = &[
    "disk",
    "drive",
    "/dev/sd",
    "/dev/nvme",
    "/dev/vd",
    "partition",
    "root filesystem",
    "the filesystem",
    "whole system",
    "entire system",
    "everything",
    "all files",
    "every file",
];
const DELETE_ALL: &[&str] = &[
    "delete everything",
    "delete all files",
    "delete every file",
    "remove everything",
    "remove all files",
    "remove every file",
    "delete the whole system",
    "delete all users",
    "remove all users",
    "delete the root user",
    "delete user root",
    "lock the root account and",
    "lock everyone out",
    "block all ssh",
    "firewall off ssh",
];

/// Whether `pattern` (ending in " /") occurs with the "/" followed by the
/// end, a space, `*` or a quote: the root itself, not a path under it.
fn root_alone(text: &str, pattern: &str) -> bool {
    text.match_indices(pattern).any(|(i, m)| {
        let rest = &text[i + m.len()..];
        rest.is_empty() || rest.starts_with([' ', '*', '"', '\'', ';'])
    })
}

fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, m)| {
        let before = text[..i].chars().next_back();
        let after = text[i + m.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphabetic)
    })
}

/// Top-level system directories (`/` itself is a catastrophe above).
const SYSTEM_DIRS: &[&str] = &[
    "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root", "/run",
    "/sbin", "/srv", "/sys", "/usr", "/var",
];
const DELETE_VERBS: &[&str] = &[
    "delete", "remove", "rm", "rm -r", "rm -rf", "rm -fr", "wipe", "erase", "nuke", "shred",
    "purge", "destroy",
];

/// Words that may stand between a verb and its object without changing
/// what is meant.
const FILLERS: &[&str] = &[
    "the",
    "a",
    "an",
    "all",
    "entire",
    "whole",
    "this",
    "our",
    "my",
    "its",
    "of",
    "aios",
    "aios's",
    "machine's",
    "system's",
    "every",
    "any",
    "current",
    "running",
    "sudo",
];

const LEDGER_VERBS: &[&str] = &[
    "delete",
    "remove",
    "rm",
    "wipe",
    "erase",
    "clear",
    "truncate",
    "purge",
    "shred",
    "edit",
    "rewrite",
    "alter",
    "modify",
    "falsify",
    "scrub",
    "tamper with",
    "doctor",
    "empty",
    "get rid of",
];
const LEDGER_OBJECTS: &[&str] = &[
    "audit ledger",
    "audit log",
    "audit logs",
    "audit trail",
    "audit history",
    "audit records",
    "audit entries",
    "ledger",
];

const SSH_STOP_VERBS: &[&str] = &[
    "stop",
    "disable",
    "kill",
    "mask",
    "turn off",
    "shut down",
    "shutdown",
    "shut off",
    "uninstall",
    "remove",
    "purge",
];
const SSH_BLOCK_VERBS: &[&str] = &["block", "deny", "drop", "close", "firewall off", "reject"];
const SSH_OBJECTS: &[&str] = &[
    "sshd",
    "ssh",
    "openssh",
    "openssh-server",
    "ssh server",
    "ssh daemon",
    "ssh service",
    "ssh.service",
    "sshd.service",
    "ssh.socket",
    "port 22",
    "22/tcp",
    "tcp/22",
    "tcp port 22",
];
/// What may follow the ssh object for the request to still be about ssh
/// itself ("stop sshd and…", "block ssh traffic"), not something of it
/// ("stop ssh brute-force attempts").
const SSH_AFTER: &[&str] = &[
    "and",
    "then",
    "now",
    "please",
    "for",
    "permanently",
    "completely",
    "entirely",
    "immediately",
    "right",
    "service",
    "daemon",
    "server",
    "so",
    "too",
    "on",
    "at",
    "from",
    "to",
    "traffic",
    "access",
    "connections",
    "logins",
    "everywhere",
    "altogether",
    "forever",
    "with",
    "in",
    "via",
    "using",
    "across",
];

const INIT_VERBS: &[&str] = &["remove", "uninstall", "purge", "delete", "rm", "apt remove"];
const INIT_OBJECTS: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "sysvinit-core",
    "aios-initd",
    "initd",
    "init",
    "the kernel",
    "kernel",
    "/sbin/init",
    "/lib/systemd/systemd",
    "init system",
];
const KILL_VERBS: &[&str] = &["kill", "kill -9", "kill -kill", "terminate", "sigkill"];
const PID1: &[&str] = &["pid 1", "process 1", "1", "init", "systemd", "aios-initd"];

const DISK_VERBS: &[&str] = &["repartition", "partition", "fdisk", "parted", "wipefs"];
const DISKS: &[&str] = &[
    "/dev/sd*",
    "/dev/nvme*",
    "/dev/vd*",
    "/dev/hd*",
    "/dev/xvd*",
    "/dev/mmcblk*",
    "the disk",
    "the drive",
    "the main disk",
    "the boot disk",
    "the system disk",
    "the root disk",
];

/// Why `text` (lower-cased, spaces collapsed) must be refused, if it must.
pub(crate) fn reason(text: &str) -> Option<&'static str> {
    for (pattern, reason) in CATASTROPHIC {
        if text.contains(pattern) {
            // "rm -rf /tmp/x" is not "rm -rf /": the root must stand alone.
            if pattern.ends_with(" /") && !root_alone(text, pattern) {
                continue;
            }
            return Some(reason);
        }
    }
    if DESTROY_VERBS.iter().any(|v| has_word(text, v))
        && WHOLE_OBJECTS.iter().any(|o| text.contains(o))
    {
        return Some("formats or wipes a disk or the whole system");
    }
    if DELETE_ALL.iter().any(|p| text.contains(p)) {
        return Some("deletes the system or locks everyone out");
    }
    let words = words(text);
    if verb_then_object(&words, DELETE_VERBS, SYSTEM_DIRS, |_| true)
        || verb_then_object(&words, DELETE_VERBS, &["everything in", "all of"], |_| true)
            && SYSTEM_DIRS.iter().any(|d| words.iter().any(|w| w == d))
    {
        return Some("deletes a system directory wholesale (policy builtin.wipe-system-dir)");
    }
    if verb_then_object(&words, INIT_VERBS, INIT_OBJECTS, |_| true)
        || verb_then_object(&words, KILL_VERBS, PID1, |_| true)
    {
        return Some("removes or kills the running kernel or init (policy builtin.kernel-or-init)");
    }
    if verb_then_object(&words, DISK_VERBS, DISKS, |_| true) {
        return Some("repartitions a disk (policy builtin.mounted-device)");
    }
    if verb_then_object(&words, LEDGER_VERBS, LEDGER_OBJECTS, |_| true) {
        return Some(
            "changes the audit ledger, which only toolsd writes (policy builtin.audit-ledger)",
        );
    }
    let ssh_end = |next: Option<&str>| next.is_none_or(|w| SSH_AFTER.contains(&w));
    if verb_then_object(&words, SSH_STOP_VERBS, SSH_OBJECTS, ssh_end)
        || verb_then_object(&words, SSH_BLOCK_VERBS, SSH_OBJECTS, ssh_end)
    {
        return Some("cuts off ssh logins to this machine (policy builtin.ssh-lockout)");
    }
    None
}

/// The request's words, stripped of the punctuation around them
/// ("sshd," → "sshd"); inner punctuation stays ("/etc/ssh", "22/tcp").
fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| w.trim_matches(|c: char| ",.!?;:\"'()`".contains(c)))
        .map(|w| w.trim_end_matches(['/', '*']).to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Whether some verb of `verbs` is followed, past filler words only, by
/// an object of `objects`, and `after` accepts the word after the object.
/// Verbs and objects may be several words; a word ending in `*` matches
/// any word it begins (`/dev/sd*`).
fn verb_then_object(
    words: &[String],
    verbs: &[&str],
    objects: &[&str],
    after: impl Fn(Option<&str>) -> bool,
) -> bool {
    let starts = |at: usize, phrase: &str| -> Option<usize> {
        let parts: Vec<&str> = phrase.split(' ').collect();
        let end = at + parts.len();
        let fits = |w: &String, p: &&str| match p.strip_suffix('*') {
            Some(prefix) => w.starts_with(prefix),
            None => w == p,
        };
        (end <= words.len() && words[at..end].iter().zip(&parts).all(|(w, p)| fits(w, p)))
            .then_some(end)
    };
    (0..words.len()).any(|i| {
        verbs.iter().filter_map(|v| starts(i, v)).any(|mut j| {
            while j < words.len() && FILLERS.contains(&words[j].as_str()) {
                j += 1;
            }
            objects
                .iter()
                .filter_map(|o| starts(j, o))
                .any(|end| after(words.get(end).map(String::as_str)))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::normalise;

    fn refused(s: &str) -> bool {
        reason(&normalise(s)).is_some()
    }

    #[test]
    fn mirrors_the_policys_built_in_denials() {
        for r in [
            "delete /etc",
            "rm -rf /usr/",
            "sudo rm -rf /var/*",
            "delete everything in /home",
            "uninstall systemd",
            "remove the kernel",
            "kill pid 1",
            "kill -9 1",
            "repartition /dev/sda",
            "delete the aios audit ledger",
            "clear the audit log, nobody needs it",
            "truncate the ledger",
            "stop sshd",
            "Stop SSHD, then disable it",
            "disable the ssh service permanently",
            "block port 22",
            "firewall off ssh",
            "block ssh traffic from everywhere",
        ] {
            assert!(refused(r), "{r:?} should be refused");
        }
    }

    #[test]
    fn ordinary_requests_that_share_words_are_not_refused() {
        for r in [
            "delete /etc/nginx/sites-enabled/default",
            "remove /var/log/old.log",
            "what did I delete yesterday? check the audit log",
            "show the audit log",
            "reverse ledger entry 12 please, that edit was a mistake",
            "restart sshd",
            "is sshd running",
            "disable root login over ssh",
            "stop ssh brute force attempts",
            "remove systemd-timesyncd",
            // An old kernel's package: the policy knows which one runs.
            "apt remove linux-image-6.1.0-13-amd64",
            "kill pid 1234",
            "which kernel am i running",
            "list the partitions on /dev/sda",
            "block port 8080",
            "in /etc/ssh/sshd_config swap 'Port 22' for 'Port 2222'",
            "systemctl start ssh",
        ] {
            assert!(!refused(r), "{r:?} should not be refused");
        }
    }
}
