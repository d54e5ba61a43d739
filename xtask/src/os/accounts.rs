//! The image's users and groups, and merging them into a base's
//! `/etc/passwd`, `/etc/group`, `/etc/shadow` and `/etc/shells` (pure text
//! in, text out).

/// A group of the image.
#[derive(Debug, Clone, Copy)]
pub struct Group {
    /// Name.
    pub name: &'static str,
    /// gid.
    pub gid: u32,
    /// Supplementary members.
    pub members: &'static [&'static str],
}

/// A user of the image.
#[derive(Debug, Clone, Copy)]
pub struct User {
    /// Login name.
    pub name: &'static str,
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// GECOS.
    pub gecos: &'static str,
    /// Home directory.
    pub home: &'static str,
    /// Login shell.
    pub shell: &'static str,
}

/// Groups: `aios` owns the daemons' sockets (0660) and state; members reach
/// the daemons. `aios-admin` is an admin group of `aios_proto::ADMIN_GROUPS`.
/// `aios-gateway` is the gateway user's own group. `aios-daemons` holds only
/// the daemons' users: it may create sockets in `/run/aios`, where people
/// (members of `aios`) may connect but never create or replace a socket.
pub const GROUPS: [Group; 5] = [
    Group {
        name: "aios",
        gid: 900,
        members: &["admin"],
    },
    Group {
        name: "aios-admin",
        gid: 901,
        members: &["admin"],
    },
    Group {
        name: "aios-gateway",
        gid: 902,
        members: &[],
    },
    Group {
        name: "aios-daemons",
        gid: 903,
        members: &["aios", "aios-gateway"],
    },
    Group {
        name: "admin",
        gid: 1000,
        members: &[],
    },
];

/// Users: `aios` runs aiosd and memoryd (toolsd runs as root: see
/// `rootfs/overlay/etc/aios/services/toolsd.toml`); `aios-gateway` runs
/// gatewayd alone, the only reader of API keys and the only parser of
/// network responses, so the others can read neither its key file nor its
/// environment; `admin` is the console and ssh user, with `aios` as login
/// shell.
pub const USERS: [User; 3] = [
    User {
        name: "aios",
        uid: 900,
        gid: 900,
        gecos: "aiOS services",
        home: "/var/lib/aios",
        shell: "/usr/sbin/nologin",
    },
    User {
        name: "aios-gateway",
        uid: 902,
        gid: 902,
        gecos: "aiOS model gateway",
        home: "/var/lib/aios-gateway",
        shell: "/usr/sbin/nologin",
    },
    User {
        name: "admin",
        uid: 1000,
        gid: 1000,
        gecos: "aiOS administrator",
        home: "/home/admin",
        shell: "/usr/bin/aios",
    },
];

/// `/etc/passwd`, `/etc/group`, `/etc/shadow` and `/etc/shells` contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accounts {
    /// passwd.
    pub passwd: String,
    /// group.
    pub group: String,
    /// shadow.
    pub shadow: String,
    /// shells.
    pub shells: String,
}

/// The accounts of a base with none (busybox).
pub fn small_base_accounts() -> Accounts {
    Accounts {
        passwd: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n".into(),
        group: "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n".into(),
        shadow: "root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n".into(),
        shells: "/bin/sh\n".into(),
    }
}

fn field_list(line: &str) -> Vec<&str> {
    line.split(':').collect()
}

/// Merge [`USERS`] and [`GROUPS`] into existing account files: missing
/// entries are appended, our users are added as members of our groups, and
/// `/usr/bin/aios` becomes a valid shell. A uid or gid already taken by a
/// different name is an error (silently sharing ids would break the
/// socket permissions).
pub fn merge_accounts(base: &Accounts) -> Result<Accounts, String> {
    let mut group_lines: Vec<String> = base.group.lines().map(str::to_string).collect();
    for g in GROUPS {
        let existing = group_lines.iter().position(|l| {
            let f = field_list(l);
            f.first() == Some(&g.name) || f.get(2) == Some(&g.gid.to_string().as_str())
        });
        match existing {
            Some(i) => {
                let f = field_list(&group_lines[i]);
                if f.first() != Some(&g.name) || f.get(2) != Some(&g.gid.to_string().as_str()) {
                    return Err(format!(
                        "group {}:{} clashes with the base's {:?}",
                        g.name, g.gid, group_lines[i]
                    ));
                }
                let mut members: Vec<String> = f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                for m in g.members {
                    if !members.iter().any(|x| x == m) {
                        members.push(m.to_string());
                    }
                }
                group_lines[i] = format!(
                    "{}:{}:{}:{}",
                    g.name,
                    f.get(1).unwrap_or(&"x"),
                    g.gid,
                    members.join(",")
                );
            }
            None => group_lines.push(format!("{}:x:{}:{}", g.name, g.gid, g.members.join(","))),
        }
    }
    let mut passwd_lines: Vec<String> = base.passwd.lines().map(str::to_string).collect();
    let mut shadow_lines: Vec<String> = base.shadow.lines().map(str::to_string).collect();
    for u in USERS {
        let line = format!(
            "{}:x:{}:{}:{}:{}:{}",
            u.name, u.uid, u.gid, u.gecos, u.home, u.shell
        );
        let existing = passwd_lines.iter().position(|l| {
            let f = field_list(l);
            f.first() == Some(&u.name) || f.get(2) == Some(&u.uid.to_string().as_str())
        });
        match existing {
            Some(i)
                if field_list(&passwd_lines[i]).first() == Some(&u.name)
                    && field_list(&passwd_lines[i]).get(2) == Some(&u.uid.to_string().as_str()) =>
            {
                passwd_lines[i] = line;
            }
            Some(i) => {
                return Err(format!(
                    "user {}:{} clashes with the base's {:?}",
                    u.name, u.uid, passwd_lines[i]
                ));
            }
            None => passwd_lines.push(line),
        }
        // `*`: no password login (consoles autologin; ssh uses keys).
        if !shadow_lines
            .iter()
            .any(|l| field_list(l).first() == Some(&u.name))
        {
            shadow_lines.push(format!("{}:*:19000:0:99999:7:::", u.name));
        }
    }
    let mut shells: Vec<String> = base.shells.lines().map(str::to_string).collect();
    for s in ["/bin/sh", "/usr/bin/aios"] {
        if !shells.iter().any(|l| l == s) {
            shells.push(s.to_string());
        }
    }
    let join = |v: Vec<String>| v.join("\n") + "\n";
    Ok(Accounts {
        passwd: join(passwd_lines),
        group: join(group_lines),
        shadow: join(shadow_lines),
        shells: join(shells),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_added_to_an_empty_base() {
        let a = merge_accounts(&small_base_accounts()).unwrap();
        assert!(
            a.passwd
                .contains("admin:x:1000:1000:aiOS administrator:/home/admin:/usr/bin/aios\n")
        );
        assert!(a.passwd.starts_with("root:x:0:0:"));
        assert!(a.group.contains("aios:x:900:admin\n"));
        assert!(a.group.contains("aios-admin:x:901:admin\n"));
        // The gateway has a user of its own, and only daemon users may
        // create sockets in /run/aios (aios-daemons), never admin.
        assert!(a.passwd.contains(
            "aios-gateway:x:902:902:aiOS model gateway:/var/lib/aios-gateway:/usr/sbin/nologin\n"
        ));
        assert!(a.group.contains("aios-gateway:x:902:\n"));
        assert!(a.group.contains("aios-daemons:x:903:aios,aios-gateway\n"));
        assert!(a.shadow.contains("admin:*:"));
        assert!(a.shells.contains("/usr/bin/aios\n"));
        // Idempotent: merging again changes nothing.
        assert_eq!(merge_accounts(&a).unwrap(), a);
    }

    #[test]
    fn existing_groups_gain_members_and_clashes_are_refused() {
        let base = Accounts {
            passwd: "root:x:0:0:root:/root:/bin/bash\n".into(),
            group: "root:x:0:\naios:x:900:someone\n".into(),
            shadow: String::new(),
            shells: "/bin/sh\n/bin/bash\n".into(),
        };
        let a = merge_accounts(&base).unwrap();
        assert!(
            a.group.contains("aios:x:900:someone,admin\n"),
            "{}",
            a.group
        );
        assert!(a.shells.contains("/bin/bash\n/usr/bin/aios\n"));

        let clash = Accounts {
            group: "root:x:0:\nstaff:x:900:\n".into(),
            ..base.clone()
        };
        let e = merge_accounts(&clash).unwrap_err();
        assert!(e.contains("aios:900") && e.contains("staff"), "{e}");

        let uid_clash = Accounts {
            passwd: "root:x:0:0:root:/root:/bin/bash\nbob:x:1000:1000::/home/bob:/bin/sh\n".into(),
            ..base
        };
        let e = merge_accounts(&uid_clash).unwrap_err();
        assert!(e.contains("admin:1000") && e.contains("bob"), "{e}");
    }
}
