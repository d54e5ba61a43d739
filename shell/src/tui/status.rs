//! What the status bar says about where answers come from and how the
//! daemons are: whether a provider instance runs on this machine or in a
//! cloud (from the configuration's provider kinds), and the daemon set's
//! health (from the shell's one probe, [`crate::wait::probe`]). Pure, except
//! for reading the configuration handed in.

use std::collections::HashMap;

use aios_config::{Config, Instance, ProviderKind, Settings};

/// Where a provider instance's model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locality {
    /// On this machine: the local runtime, a script, or a Chat Completions
    /// server on a loopback address.
    Local,
    /// Somewhere else: the request leaves the machine.
    Cloud,
}

impl Locality {
    /// The word in the status bar.
    pub fn word(self) -> &'static str {
        match self {
            Locality::Local => "local",
            Locality::Cloud => "cloud",
        }
    }
}

/// Where `instance` runs. An `openai-compatible` server counts as local
/// only when its URL names a loopback host; anything unsure is a cloud
/// (the user should not be told a request stays here when it may not).
pub fn locality(instance: &Instance) -> Locality {
    match (&instance.kind, &instance.settings) {
        (ProviderKind::Local | ProviderKind::Scripted, _) => Locality::Local,
        (ProviderKind::OpenaiCompatible, Settings::OpenAi(c)) if is_loopback_url(&c.base_url) => {
            Locality::Local
        }
        _ => Locality::Cloud,
    }
}

/// Every configured instance's locality, by name. A configuration whose
/// providers do not resolve gives none (the gateway reports that itself).
pub fn localities(config: &Config) -> HashMap<String, Locality> {
    config
        .instances()
        .map(|all| all.iter().map(|i| (i.name.clone(), locality(i))).collect())
        .unwrap_or_default()
}

/// Whether `url`'s host is this machine: `localhost`, `127.0.0.0/8` or
/// `[::1]`.
fn is_loopback_url(url: &str) -> bool {
    let rest = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    // Drop credentials, then the port.
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// The daemon set's health, as last probed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Health {
    /// Not probed yet: nothing is shown.
    #[default]
    Unknown,
    /// Every daemon answered.
    Ok,
    /// These daemons did not answer (the first is the one the probe names).
    Down(Vec<String>),
}

impl Health {
    /// The status bar's words, if any.
    pub fn text(&self) -> Option<String> {
        match self {
            Health::Unknown => None,
            Health::Ok => Some("daemons ok".into()),
            Health::Down(names) => Some(format!("{} down", names.join(","))),
        }
    }

    /// From the shell's probe of the daemon set.
    pub fn from_probe(r: Result<(), crate::wait::Down>) -> Health {
        match r {
            Ok(()) => Health::Ok,
            Err(d) => {
                let mut names = vec![d.daemon.to_string()];
                names.extend(d.others.iter().map(|o| o.to_string()));
                Health::Down(names)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_urls_are_local_and_others_are_not() {
        for u in [
            "http://localhost:8080/v1",
            "http://127.0.0.1:11434/v1",
            "http://127.1.2.3/v1",
            "http://[::1]:8000/v1",
            "https://user:pw@LOCALHOST/v1",
        ] {
            assert!(is_loopback_url(u), "{u}");
        }
        for u in [
            "https://api.openai.com/v1",
            "http://10.0.0.5:8080/v1",
            "http://localhost.evil.example/v1",
            "http://127.0.0.1.nip.io/v1",
            "",
        ] {
            assert!(!is_loopback_url(u), "{u}");
        }
    }

    #[test]
    fn built_in_instances_have_their_kind_s_locality() {
        let all = localities(&Config::default());
        assert_eq!(all.get("local"), Some(&Locality::Local));
        assert_eq!(all.get("scripted"), Some(&Locality::Local));
        assert_eq!(all.get("openai"), Some(&Locality::Cloud));
        assert_eq!(all.get("anthropic"), Some(&Locality::Cloud));
    }
}
