//! Typed resources: what one tool call touches, as policy matches it and
//! the ledger records it. A resource prints and parses as `kind:value`
//! (`path:/etc/fstab`, `service:nginx`, `port:22`, `processes`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One thing a call touches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Resource {
    /// A filesystem path, absolute and lexically normalised.
    Path(String),
    /// A service (unit) by name.
    Service(String),
    /// A TCP or UDP port.
    Port(u16),
    /// An address range, `10.0.0.0/8` or a single address.
    Cidr(String),
    /// A software package by name.
    Package(String),
    /// A user account by name.
    User(String),
    /// A group by name.
    Group(String),
    /// One process by pid.
    Process(u32),
    /// The process table as a whole.
    Processes,
    /// Network configuration and sockets.
    Network,
    /// The firewall rule set.
    Firewall,
    /// System-wide state (memory, load, hostname, clock, power).
    System,
    /// A journald unit's log.
    Journal(String),
    /// A scheduled job (cron) by its id or line.
    Schedule(String),
    /// A block device, `/dev/sda1`.
    Device(String),
    /// The audit ledger itself.
    Ledger,
}

/// The kind of a [`Resource`], as specs list what a tool may touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// [`Resource::Path`].
    Path,
    /// [`Resource::Service`].
    Service,
    /// [`Resource::Port`].
    Port,
    /// [`Resource::Cidr`].
    Cidr,
    /// [`Resource::Package`].
    Package,
    /// [`Resource::User`].
    User,
    /// [`Resource::Group`].
    Group,
    /// [`Resource::Process`].
    Process,
    /// [`Resource::Processes`].
    Processes,
    /// [`Resource::Network`].
    Network,
    /// [`Resource::Firewall`].
    Firewall,
    /// [`Resource::System`].
    System,
    /// [`Resource::Journal`].
    Journal,
    /// [`Resource::Schedule`].
    Schedule,
    /// [`Resource::Device`].
    Device,
    /// [`Resource::Ledger`].
    Ledger,
}

impl ResourceKind {
    /// Every kind, in declaration order.
    pub const ALL: &'static [ResourceKind] = &[
        ResourceKind::Path,
        ResourceKind::Service,
        ResourceKind::Port,
        ResourceKind::Cidr,
        ResourceKind::Package,
        ResourceKind::User,
        ResourceKind::Group,
        ResourceKind::Process,
        ResourceKind::Processes,
        ResourceKind::Network,
        ResourceKind::Firewall,
        ResourceKind::System,
        ResourceKind::Journal,
        ResourceKind::Schedule,
        ResourceKind::Device,
        ResourceKind::Ledger,
    ];

    /// The kind's name, as written before the `:`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Path => "path",
            ResourceKind::Service => "service",
            ResourceKind::Port => "port",
            ResourceKind::Cidr => "cidr",
            ResourceKind::Package => "package",
            ResourceKind::User => "user",
            ResourceKind::Group => "group",
            ResourceKind::Process => "process",
            ResourceKind::Processes => "processes",
            ResourceKind::Network => "network",
            ResourceKind::Firewall => "firewall",
            ResourceKind::System => "system",
            ResourceKind::Journal => "journal",
            ResourceKind::Schedule => "schedule",
            ResourceKind::Device => "device",
            ResourceKind::Ledger => "ledger",
        }
    }

    /// Whether resources of this kind carry a value after the `:`.
    pub fn has_value(self) -> bool {
        !matches!(
            self,
            ResourceKind::Processes
                | ResourceKind::Network
                | ResourceKind::Firewall
                | ResourceKind::System
                | ResourceKind::Ledger
        )
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ResourceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown resource kind `{s}`; known: {}",
                    ResourceKind::ALL
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    }
}

impl Resource {
    /// This resource's kind.
    pub fn kind(&self) -> ResourceKind {
        match self {
            Resource::Path(_) => ResourceKind::Path,
            Resource::Service(_) => ResourceKind::Service,
            Resource::Port(_) => ResourceKind::Port,
            Resource::Cidr(_) => ResourceKind::Cidr,
            Resource::Package(_) => ResourceKind::Package,
            Resource::User(_) => ResourceKind::User,
            Resource::Group(_) => ResourceKind::Group,
            Resource::Process(_) => ResourceKind::Process,
            Resource::Processes => ResourceKind::Processes,
            Resource::Network => ResourceKind::Network,
            Resource::Firewall => ResourceKind::Firewall,
            Resource::System => ResourceKind::System,
            Resource::Journal(_) => ResourceKind::Journal,
            Resource::Schedule(_) => ResourceKind::Schedule,
            Resource::Device(_) => ResourceKind::Device,
            Resource::Ledger => ResourceKind::Ledger,
        }
    }

    /// The value after the `:`, if the kind has one.
    pub fn value(&self) -> Option<String> {
        match self {
            Resource::Path(s)
            | Resource::Service(s)
            | Resource::Cidr(s)
            | Resource::Package(s)
            | Resource::User(s)
            | Resource::Group(s)
            | Resource::Journal(s)
            | Resource::Schedule(s)
            | Resource::Device(s) => Some(s.clone()),
            Resource::Port(p) => Some(p.to_string()),
            Resource::Process(p) => Some(p.to_string()),
            Resource::Processes
            | Resource::Network
            | Resource::Firewall
            | Resource::System
            | Resource::Ledger => None,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value() {
            Some(v) => write!(f, "{}:{v}", self.kind()),
            None => f.write_str(self.kind().as_str()),
        }
    }
}

impl FromStr for Resource {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, value) = match s.split_once(':') {
            Some((k, v)) => (k.parse::<ResourceKind>()?, Some(v)),
            None => (s.parse::<ResourceKind>()?, None),
        };
        let need = |v: Option<&str>| {
            v.filter(|v| !v.is_empty())
                .map(str::to_string)
                .ok_or_else(|| format!("`{s}`: a {kind} resource needs a value, `{kind}:VALUE`"))
        };
        let number = |v: Option<&str>| -> Result<u32, String> {
            need(v)?
                .parse()
                .map_err(|_| format!("`{s}`: the {kind} must be a number"))
        };
        if !kind.has_value() && value.is_some() {
            return Err(format!("`{s}`: a {kind} resource takes no value"));
        }
        Ok(match kind {
            ResourceKind::Path => Resource::Path(need(value)?),
            ResourceKind::Service => Resource::Service(need(value)?),
            ResourceKind::Port => Resource::Port(
                u16::try_from(number(value)?)
                    .map_err(|_| format!("`{s}`: a port is at most 65535"))?,
            ),
            ResourceKind::Cidr => Resource::Cidr(need(value)?),
            ResourceKind::Package => Resource::Package(need(value)?),
            ResourceKind::User => Resource::User(need(value)?),
            ResourceKind::Group => Resource::Group(need(value)?),
            ResourceKind::Process => Resource::Process(number(value)?),
            ResourceKind::Processes => Resource::Processes,
            ResourceKind::Network => Resource::Network,
            ResourceKind::Firewall => Resource::Firewall,
            ResourceKind::System => Resource::System,
            ResourceKind::Journal => Resource::Journal(need(value)?),
            ResourceKind::Schedule => Resource::Schedule(need(value)?),
            ResourceKind::Device => Resource::Device(need(value)?),
            ResourceKind::Ledger => Resource::Ledger,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        for r in [
            Resource::Path("/etc/fstab".into()),
            Resource::Service("nginx".into()),
            Resource::Port(22),
            Resource::Cidr("10.0.0.0/8".into()),
            Resource::Process(42),
            Resource::Processes,
            Resource::Ledger,
        ] {
            let text = r.to_string();
            assert_eq!(text.parse::<Resource>().unwrap(), r, "{text}");
        }
        assert_eq!(Resource::Path("/a:b".into()).to_string(), "path:/a:b");
        assert_eq!(
            "path:/a:b".parse::<Resource>().unwrap(),
            Resource::Path("/a:b".into())
        );
    }

    #[test]
    fn bad_resources_say_why() {
        assert!(
            "port:70000"
                .parse::<Resource>()
                .unwrap_err()
                .contains("65535")
        );
        assert!(
            "path"
                .parse::<Resource>()
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            "system:x"
                .parse::<Resource>()
                .unwrap_err()
                .contains("takes no value")
        );
        assert!(
            "disk:/"
                .parse::<Resource>()
                .unwrap_err()
                .contains("unknown resource kind")
        );
    }

    #[test]
    fn serde_form_is_tagged() {
        let v = serde_json::to_value(Resource::Port(22)).unwrap();
        assert_eq!(v, serde_json::json!({"kind": "port", "value": 22}));
        let v = serde_json::to_value(Resource::System).unwrap();
        assert_eq!(v, serde_json::json!({"kind": "system"}));
    }
}
