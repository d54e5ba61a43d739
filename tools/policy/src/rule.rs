//! One rule: its file form ([`RuleSpec`], what serde reads and writes),
//! its compiled matchers ([`Rule`]) and whether it matches one call.
//!
//! Typed matchers quantify over the call's resources of their kind. For
//! `ask` and `deny` rules ANY matching resource is enough; for `allow`
//! rules EVERY resource of that kind must match. Both directions err
//! strict: a deny about `/etc/**` catches `fs.copy /tmp/x /etc/passwd`,
//! and an allow for `/srv/www/**` does not let `fs.copy /etc/shadow
//! /srv/www/x` through because one of its paths matches. Either way a
//! rule with a matcher for a kind never matches a call without that kind.

use std::borrow::Cow;
use std::net::IpAddr;
use std::str::FromStr;

use aios_domain::{Caller, Resource, Risk, SessionKind, Verdict};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{PolicyError, PolicyErrorKind};
use crate::glob::{self, Glob};

/// A rule as written in a policy file (`[[rule]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique within its file; grants are `grant-…`.
    pub id: String,
    /// What the rule decides when it matches.
    pub action: Verdict,
    /// Globs over tool names (`fs.*`, `*`).
    pub tools: Vec<String>,
    /// Only calls with one of these effects; empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effect: Vec<Risk>,
    /// Path globs; `~` is the caller's home.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<Vec<String>>,
    /// Service (unit) name globs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    /// Ports and ranges: `80`, `"8000-8099"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<PortSpec>>,
    /// Address ranges; a call's CIDR matches if it lies inside one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidrs: Option<Vec<String>>,
    /// Package name globs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<String>>,
    /// Globs over target user accounts (`Resource::User`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<String>>,
    /// Globs over any resource in its `kind:value` form (`process:*`,
    /// `firewall`), for kinds without a typed matcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
    /// Who calls: `user:NAME`, `group:NAME`, `uid:N`; absent means anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principals: Option<Vec<String>>,
    /// Session kinds; empty means any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sessions: Vec<SessionKind>,
    /// Why the rule exists, shown in decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Calls the rule must and must not match, checked at load.
    #[serde(default, rename = "example", skip_serializing_if = "Vec::is_empty")]
    pub examples: Vec<RuleExample>,
}

/// A port or a range, as a number (`22`) or text (`"22"`, `"8000-8099"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PortSpec {
    /// One port.
    Number(i64),
    /// `"N"` or `"LO-HI"`.
    Text(String),
}

/// An inline example (`[[rule.example]]`): a call and whether the rule
/// matches it. Omitted `effect`, `principal` and `session` are not checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleExample {
    /// The tool called.
    pub tool: String,
    /// Its resources, `kind:value` (`service:nginx`, `path:/etc/hosts`).
    #[serde(default)]
    pub resources: Vec<String>,
    /// The call's effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Risk>,
    /// The caller, `user:NAME`, `group:NAME` or `uid:N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The session kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionKind>,
    /// The caller's home, for `~` patterns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// Whether the rule must match this call.
    pub matches: bool,
}

/// A checked, compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    spec: RuleSpec,
    line: Option<usize>,
    m: Matchers,
}

#[derive(Debug, Clone)]
struct Matchers {
    tools: Vec<Glob>,
    effects: u8,
    paths: Option<Vec<PathPattern>>,
    services: Option<Vec<Glob>>,
    ports: Option<Vec<(u16, u16)>>,
    cidrs: Option<Vec<IpNet>>,
    packages: Option<Vec<Glob>>,
    users: Option<Vec<Glob>>,
    resources: Option<Vec<Glob>>,
    principals: Option<Vec<Principal>>,
    sessions: u8,
}

#[derive(Debug, Clone)]
struct PathPattern {
    /// Relative to the caller's home (`~`, `~/…`).
    home: bool,
    glob: Glob,
}

#[derive(Debug, Clone, PartialEq)]
enum Principal {
    User(String),
    Group(String),
    Uid(u32),
}

impl Principal {
    fn parse(text: &str) -> Result<Principal, String> {
        let bad =
            || format!("principal `{text}` must be `user:NAME`, `group:NAME` or `uid:NUMBER`");
        let (kind, value) = text.split_once(':').ok_or_else(bad)?;
        if value.is_empty() {
            return Err(bad());
        }
        match kind {
            "user" => Ok(Principal::User(value.to_string())),
            "group" => Ok(Principal::Group(value.to_string())),
            "uid" => value.parse().map(Principal::Uid).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }

    fn matches(&self, c: &Caller) -> bool {
        match self {
            Principal::User(u) => !c.user.is_empty() && c.user == *u,
            Principal::Group(g) => c.groups.iter().any(|x| x == g),
            Principal::Uid(n) => c.uid == *n,
        }
    }

    /// A caller this principal describes, for examples.
    fn example_caller(&self) -> Caller {
        let mut c = Caller {
            uid: u32::MAX,
            user: String::new(),
            groups: Vec::new(),
            admin: false,
            home: String::new(),
            session_kind: SessionKind::Interactive,
        };
        match self {
            Principal::User(u) => c.user = u.clone(),
            Principal::Group(g) => c.groups.push(g.clone()),
            Principal::Uid(n) => c.uid = *n,
        }
        c
    }
}

impl PathPattern {
    fn parse(text: &str) -> Result<PathPattern, String> {
        let (home, rest) = if let Some(rest) = text.strip_prefix('~') {
            if !(rest.is_empty() || rest.starts_with('/')) {
                return Err(format!(
                    "path `{text}`: only `~` and `~/…` (the caller's own home) are supported; write other homes out, `/home/NAME/…`"
                ));
            }
            (true, rest)
        } else if text.starts_with('/') {
            (false, text)
        } else {
            return Err(format!(
                "path `{text}` is relative; write an absolute pattern (`/…/{text}`) or one under the caller's home (`~/{text}`)"
            ));
        };
        if rest.split('/').any(|p| p == "." || p == "..") {
            return Err(format!(
                "path `{text}` has a `.` or `..` component; calls' paths are normalised, so write the pattern normalised too"
            ));
        }
        // Calls' paths have no trailing `/`; `/srv/www/` means `/srv/www`.
        let trimmed = rest.trim_end_matches('/');
        let glob = if trimmed.is_empty() && home {
            Glob::empty()
        } else if trimmed.is_empty() {
            Glob::new("/")?
        } else {
            Glob::new(trimmed)?
        };
        Ok(PathPattern { home, glob })
    }

    fn matches(&self, path: &str, home: Option<&str>) -> bool {
        if !self.home {
            return self.glob.matches(path);
        }
        let Some(home) = home else { return false };
        match path.strip_prefix(home) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => self.glob.matches(rest),
            _ => false,
        }
    }
}

/// One call as rules see it: the input with paths normalised and CIDRs
/// parsed once, however many rules look at it.
pub(crate) struct Call<'a> {
    pub(crate) tool: &'a str,
    /// `None`: not checked (an example that leaves it out).
    pub(crate) effect: Option<Risk>,
    pub(crate) resources: &'a [Resource],
    pub(crate) paths: Vec<Cow<'a, str>>,
    /// Parsed `Cidr` resources; `None` for text that is no address.
    pub(crate) cidrs: Vec<Option<IpNet>>,
    /// `kind:value` of every resource, filled only when some rule has a
    /// `resources` matcher.
    pub(crate) display: Vec<String>,
    /// `None`: principals are not checked (an example that leaves it out).
    pub(crate) caller: Option<&'a Caller>,
    pub(crate) session: Option<SessionKind>,
    /// The caller's home, normalised; `None` when it has none usable.
    pub(crate) home: Option<Cow<'a, str>>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(
        tool: &'a str,
        effect: Option<Risk>,
        resources: &'a [Resource],
        caller: Option<&'a Caller>,
        session: Option<SessionKind>,
        home: &'a str,
        with_display: bool,
    ) -> Call<'a> {
        let mut paths = Vec::new();
        let mut cidrs = Vec::new();
        for r in resources {
            match r {
                Resource::Path(p) => paths.push(glob::normalize(p)),
                Resource::Cidr(c) => cidrs.push(parse_net(c).ok()),
                _ => {}
            }
        }
        let display = if with_display {
            resources.iter().map(ToString::to_string).collect()
        } else {
            Vec::new()
        };
        Call {
            tool,
            effect,
            resources,
            paths,
            cidrs,
            display,
            caller,
            session,
            home: usable_home(home),
        }
    }
}

/// The home as a path prefix: absolute, normalised, and not `/` itself
/// (a home of `/` would make every path "one's own").
pub(crate) fn usable_home(home: &str) -> Option<Cow<'_, str>> {
    if !home.starts_with('/') {
        return None;
    }
    let h = glob::normalize(home);
    (h != "/").then_some(h)
}

fn parse_net(text: &str) -> Result<IpNet, String> {
    if let Ok(net) = IpNet::from_str(text) {
        return Ok(net.trunc());
    }
    IpAddr::from_str(text).map(IpNet::from).map_err(|_| {
        format!(
            "`{text}` is not an address or CIDR range (`10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`)"
        )
    })
}

fn effect_bit(e: Risk) -> u8 {
    match e {
        Risk::Read => 1,
        Risk::Change => 2,
        Risk::Destructive => 4,
    }
}

fn session_bit(s: SessionKind) -> u8 {
    match s {
        SessionKind::Interactive => 1,
        SessionKind::OneShot => 2,
        SessionKind::Background => 4,
    }
}

fn parse_port(p: &PortSpec) -> Result<(u16, u16), String> {
    let one = |text: &str| -> Result<u16, String> {
        text.trim().parse::<u16>().map_err(|_| {
            format!("port `{text}` is not a number from 0 to 65535; write `22` or a range `\"8000-8099\"`")
        })
    };
    match p {
        PortSpec::Number(n) => u16::try_from(*n)
            .map(|n| (n, n))
            .map_err(|_| format!("port {n} is out of range; ports are 0 to 65535")),
        PortSpec::Text(t) => match t.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (one(lo)?, one(hi)?);
                if lo > hi {
                    return Err(format!("port range `{t}` is backwards; write `{hi}-{lo}`"));
                }
                Ok((lo, hi))
            }
            None => one(t).map(|n| (n, n)),
        },
    }
}

/// True when `all` items (and at least one) satisfy `pred`, or when any
/// does and `all` is false.
fn quantify<T>(items: impl Iterator<Item = T>, all: bool, pred: impl Fn(T) -> bool) -> bool {
    let mut seen = false;
    for item in items {
        seen = true;
        let ok = pred(item);
        if all && !ok {
            return false;
        }
        if !all && ok {
            return true;
        }
    }
    all && seen
}

fn globs(field: &str, list: &Option<Vec<String>>) -> Result<Option<Vec<Glob>>, String> {
    list.as_ref()
        .map(|l| {
            nonempty(field, l)?;
            l.iter()
                .map(|p| Glob::new(p).map_err(|e| format!("`{field}`: {e}")))
                .collect()
        })
        .transpose()
}

fn nonempty<T>(field: &str, l: &[T]) -> Result<(), String> {
    if l.is_empty() && field == "tools" {
        return Err(
            "`tools` is empty, so the rule could never match; list tool globs (`fs.*`, or `*` for every tool)".into(),
        );
    }
    if l.is_empty() {
        return Err(format!(
            "`{field}` is empty, so the rule could never match; list patterns or remove the key"
        ));
    }
    Ok(())
}

impl Rule {
    /// Checks and compiles `spec`, read from `file` at `line`, and runs
    /// its examples.
    pub(crate) fn compile(
        spec: RuleSpec,
        file: &str,
        line: Option<usize>,
    ) -> Result<Rule, PolicyError> {
        let id = spec.id.clone();
        let err = |kind: PolicyErrorKind, msg: String| {
            PolicyError::new(kind, file, msg).at_line(line).in_rule(&id)
        };
        if spec.id.trim().is_empty() {
            return Err(PolicyError::new(
                PolicyErrorKind::Rule,
                file,
                "a rule has an empty `id`; give every rule a unique id",
            )
            .at_line(line));
        }
        let m = Self::matchers(&spec).map_err(|e| err(PolicyErrorKind::Rule, e))?;
        let rule = Rule { spec, line, m };
        rule.check_examples()
            .map_err(|e| err(PolicyErrorKind::Example, e))?;
        Ok(rule)
    }

    fn matchers(spec: &RuleSpec) -> Result<Matchers, String> {
        nonempty("tools", &spec.tools)?;
        let tools = globs("tools", &Some(spec.tools.clone()))?.unwrap_or_default();
        let paths = spec
            .paths
            .as_ref()
            .map(|l| {
                nonempty("paths", l)?;
                l.iter()
                    .map(|p| PathPattern::parse(p).map_err(|e| format!("`paths`: {e}")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let ports = spec
            .ports
            .as_ref()
            .map(|l| {
                nonempty("ports", l)?;
                l.iter()
                    .map(|p| parse_port(p).map_err(|e| format!("`ports`: {e}")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let cidrs = spec
            .cidrs
            .as_ref()
            .map(|l| {
                nonempty("cidrs", l)?;
                l.iter()
                    .map(|c| parse_net(c).map_err(|e| format!("`cidrs`: {e}")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let principals = spec
            .principals
            .as_ref()
            .map(|l| {
                nonempty("principals", l)?;
                l.iter()
                    .map(|p| Principal::parse(p).map_err(|e| format!("`principals`: {e}")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        Ok(Matchers {
            tools,
            effects: spec.effect.iter().fold(0, |a, e| a | effect_bit(*e)),
            paths,
            services: globs("services", &spec.services)?,
            ports,
            cidrs,
            packages: globs("packages", &spec.packages)?,
            users: globs("users", &spec.users)?,
            resources: globs("resources", &spec.resources)?,
            principals,
            sessions: spec.sessions.iter().fold(0, |a, s| a | session_bit(*s)),
        })
    }

    fn check_examples(&self) -> Result<(), String> {
        let total = self.spec.examples.len();
        for (i, ex) in self.spec.examples.iter().enumerate() {
            let which = format!("example {} of {total}", i + 1);
            let resources = ex
                .resources
                .iter()
                .map(|r| r.parse::<Resource>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("{which}: {e}"))?;
            let caller = ex
                .principal
                .as_deref()
                .map(Principal::parse)
                .transpose()
                .map_err(|e| format!("{which}: {e}"))?
                .map(|p| p.example_caller());
            let call = Call::new(
                &ex.tool,
                ex.effect,
                &resources,
                caller.as_ref(),
                ex.session,
                ex.home.as_deref().unwrap_or(""),
                self.m.resources.is_some(),
            );
            let got = self.matches(&call);
            if got != ex.matches {
                let shown: Vec<String> = resources.iter().map(ToString::to_string).collect();
                return Err(format!(
                    "{which} (tool `{}`, resources [{}]) {}; fix the rule's matchers or the example",
                    ex.tool,
                    shown.join(", "),
                    if ex.matches {
                        "should match but does not"
                    } else {
                        "should not match but does"
                    }
                ));
            }
        }
        Ok(())
    }

    /// A rule that prints as `spec` but matches nothing: the stand-in when
    /// a spec does not compile, so it can still be shown and its error
    /// reported when the file it is written to is checked.
    pub(crate) fn inert(spec: RuleSpec) -> Rule {
        Rule {
            spec,
            line: None,
            m: Matchers {
                tools: Vec::new(),
                effects: 0,
                paths: None,
                services: None,
                ports: None,
                cidrs: None,
                packages: None,
                users: None,
                resources: None,
                principals: None,
                sessions: 0,
            },
        }
    }

    /// Whether this rule matches `call`.
    pub(crate) fn matches(&self, call: &Call<'_>) -> bool {
        let m = &self.m;
        if !m.tools.iter().any(|g| g.matches(call.tool)) {
            return false;
        }
        if let Some(e) = call.effect
            && m.effects != 0
            && m.effects & effect_bit(e) == 0
        {
            return false;
        }
        if let Some(s) = call.session
            && m.sessions != 0
            && m.sessions & session_bit(s) == 0
        {
            return false;
        }
        if let (Some(ps), Some(c)) = (&m.principals, call.caller)
            && !ps.iter().any(|p| p.matches(c))
        {
            return false;
        }
        let all = self.spec.action == Verdict::Allow;
        let home = call.home.as_deref();
        if let Some(pats) = &m.paths
            && !quantify(call.paths.iter(), all, |p| {
                pats.iter().any(|pat| pat.matches(p, home))
            })
        {
            return false;
        }
        let named = |want: fn(&Resource) -> Option<&str>, gs: &Vec<Glob>| {
            quantify(call.resources.iter().filter_map(want), all, |v| {
                gs.iter().any(|g| g.matches(v))
            })
        };
        if let Some(gs) = &m.services
            && !named(
                |r| match r {
                    Resource::Service(s) => Some(s),
                    _ => None,
                },
                gs,
            )
        {
            return false;
        }
        if let Some(gs) = &m.packages
            && !named(
                |r| match r {
                    Resource::Package(s) => Some(s),
                    _ => None,
                },
                gs,
            )
        {
            return false;
        }
        if let Some(gs) = &m.users
            && !named(
                |r| match r {
                    Resource::User(s) => Some(s),
                    _ => None,
                },
                gs,
            )
        {
            return false;
        }
        if let Some(ranges) = &m.ports {
            let ports = call.resources.iter().filter_map(|r| match r {
                Resource::Port(p) => Some(*p),
                _ => None,
            });
            if !quantify(ports, all, |p| {
                ranges.iter().any(|&(lo, hi)| lo <= p && p <= hi)
            }) {
                return false;
            }
        }
        if let Some(nets) = &m.cidrs
            && !quantify(call.cidrs.iter(), all, |c| match c {
                Some(net) => nets.iter().any(|n| n.contains(net)),
                // Text that is no address: fail safe, so it can trip an
                // ask or deny rule but never earns an allow.
                None => !all,
            })
        {
            return false;
        }
        if let Some(gs) = &m.resources
            && !quantify(call.display.iter(), all, |d| {
                gs.iter().any(|g| g.matches(d))
            })
        {
            return false;
        }
        true
    }

    /// Whether the rule has a `resources` matcher (the call then needs
    /// its resources' `kind:value` text).
    pub(crate) fn needs_display(&self) -> bool {
        self.m.resources.is_some()
    }

    /// The rule's id.
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// What it decides.
    pub fn action(&self) -> Verdict {
        self.spec.action
    }

    /// Its file form.
    pub fn spec(&self) -> &RuleSpec {
        &self.spec
    }

    /// The 1-based line of its `id` in the file it came from, if known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The same rule under another id (a grant saved under a free id).
    pub fn with_id(&self, id: impl Into<String>) -> Rule {
        let mut r = self.clone();
        r.spec.id = id.into();
        r
    }

    /// Whether this rule is a saved approval (`grant-…`).
    pub fn is_grant(&self) -> bool {
        self.spec.id.starts_with(crate::grant::GRANT_PREFIX)
    }

    /// The rule as a `[[rule]]` block, exactly as it would be saved.
    pub fn to_toml(&self) -> String {
        #[derive(Serialize)]
        struct One<'a> {
            rule: [&'a RuleSpec; 1],
        }
        // Serialising plain strings, numbers and enums into TOML cannot
        // fail; an empty string would only hide a bug, so say so instead.
        toml::to_string(&One { rule: [&self.spec] })
            .unwrap_or_else(|e| format!("# rule {} could not be printed: {e}\n", self.spec.id))
    }
}

impl RuleSpec {
    /// Builds a spec with only the required fields set.
    pub fn new(id: impl Into<String>, action: Verdict, tools: Vec<String>) -> RuleSpec {
        RuleSpec {
            id: id.into(),
            action,
            tools,
            effect: Vec::new(),
            paths: None,
            services: None,
            ports: None,
            cidrs: None,
            packages: None,
            users: None,
            resources: None,
            principals: None,
            sessions: Vec::new(),
            reason: None,
            examples: Vec::new(),
        }
    }
}
