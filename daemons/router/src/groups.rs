//! Tool groups: the fixed lists a local model is shown instead of a
//! per-request handful of candidates.
//!
//! A request's candidates change with every request, so their prompt must
//! be evaluated every time: seconds on two cores. A group's list is the
//! same for every request routed to it, so the runtime evaluates it once,
//! saves its KV cache and loads it afterwards (`docs/ROUTER.md`). A
//! request is shown the group of its best candidate: every tool of the
//! namespaces a user's words point at, not only those the retrieval
//! happened to rank, so the model's choice is not capped by the router's
//! recall within the group.
//!
//! Namespaces are grouped by what users ask about together (a service and
//! its logs; a port and the firewall rule for it), to about 8–17 tools a
//! group: few enough to read, enough that the group holds the answer.

/// The groups, each a list of namespaces. A namespace missing here (a
/// tool set this table does not know) forms a group of its own.
pub const GROUPS: &[(&str, &[&str])] = &[
    ("files", &["fs"]),
    ("services", &["service", "log", "cron"]),
    ("network", &["net", "firewall"]),
    ("security", &["user", "sec"]),
    ("packages", &["pkg"]),
    ("processes", &["process", "monitor"]),
    ("system", &["sys", "hw"]),
    ("history", &["audit", "memory", "exec"]),
];

/// The group of the tool named `name` (`namespace.verb`): its table entry,
/// or the namespace itself when the table does not list it.
pub fn group_of(name: &str) -> &str {
    let namespace = name.split_once('.').map_or(name, |(ns, _)| ns);
    GROUPS
        .iter()
        .find(|(_, members)| members.contains(&namespace))
        .map_or(namespace, |(group, _)| group)
}

/// The names of `names` in the group of `tool`, in the order given.
pub fn members<'a>(tool: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let group = group_of(tool);
    names.into_iter().filter(|n| group_of(n) == group).collect()
}

/// `names` split into their groups, each in the order given, the largest
/// group first (ties in order of first appearance).
pub fn split<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<Vec<&'a str>> {
    let mut lists: Vec<Vec<&'a str>> = Vec::new();
    for name in names {
        let group = group_of(name);
        match lists
            .iter_mut()
            .find(|l| l.first().is_some_and(|n| group_of(n) == group))
        {
            Some(list) => list.push(name),
            None => lists.push(vec![name]),
        }
    }
    // Stable: equal sizes keep their order.
    lists.sort_by_key(|l| std::cmp::Reverse(l.len()));
    lists
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_fall_into_their_namespaces_group() {
        assert_eq!(group_of("fs.usage"), "files");
        assert_eq!(group_of("log.tail"), group_of("service.logs"));
        assert_eq!(group_of("firewall.allow"), "network");
        assert_eq!(group_of("weather.today"), "weather");
        assert_eq!(group_of("bare"), "bare");
    }

    #[test]
    fn no_namespace_is_in_two_groups() {
        let mut seen = std::collections::HashSet::new();
        for (_, members) in GROUPS {
            for m in *members {
                assert!(seen.insert(*m), "{m} is in two groups");
            }
        }
    }

    #[test]
    fn split_groups_keep_the_given_order_largest_first() {
        let names = ["fs.read", "net.dns", "firewall.list", "fs.list", "net.ping"];
        assert_eq!(
            split(names),
            vec![
                vec!["net.dns", "firewall.list", "net.ping"],
                vec!["fs.read", "fs.list"],
            ]
        );
    }

    #[test]
    fn members_keep_the_given_order() {
        let names = ["net.dns", "fs.read", "firewall.list", "net.addresses"];
        assert_eq!(
            members("net.ping", names),
            vec!["net.dns", "firewall.list", "net.addresses"]
        );
    }
}
