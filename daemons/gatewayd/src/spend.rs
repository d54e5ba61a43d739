//! Token and cost accounting per session and per UTC day, and the budget
//! check made before each request is routed.
//!
//! Day totals survive a restart of gatewayd: they are written (atomically:
//! a temporary file renamed over the old one, mode 0600) to
//! `$STATE/gateway/spend.json` after every call that cost something.
//! Session totals live in memory, bounded by [`MAX_SESSIONS`].
//!
//! Costs that are unknown (a model with no price) are not added: totals
//! are of known costs, and such calls are counted apart.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Most sessions whose totals are kept; the least recently used is
/// forgotten first (a forgotten session starts again from zero).
pub const MAX_SESSIONS: usize = 4096;

/// The totals of one UTC day, as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DayTotals {
    /// The day, `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Known costs, USD.
    pub cost_usd: f64,
    /// Prompt tokens (estimates included).
    pub input_tokens: u64,
    /// Completion tokens (estimates included).
    pub output_tokens: u64,
    /// Calls.
    pub calls: u64,
    /// Calls whose cost was unknown.
    pub unpriced_calls: u64,
}

#[derive(Debug, Clone, Default)]
struct SessionTotals {
    cost_usd: f64,
    last_use: u64,
}

/// The limits of `[budget]`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Budget {
    /// Per session, USD.
    pub session_usd: Option<f64>,
    /// Per UTC day, USD.
    pub day_usd: Option<f64>,
}

/// One call, to be accounted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Charge {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Its cost, when known.
    pub cost_usd: Option<f64>,
}

/// Spending so far.
#[derive(Debug)]
pub struct Spend {
    file: Option<PathBuf>,
    today: DayTotals,
    sessions: HashMap<String, SessionTotals>,
    clock: u64,
}

/// `YYYY-MM-DD` of a Unix time in seconds (UTC), by the civil-from-days
/// algorithm (Howard Hinnant's), without a date library.
pub fn utc_day(unix_secs: u64) -> String {
    let days = i64::try_from(unix_secs / 86_400).unwrap_or(0);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Today (UTC).
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    utc_day(secs)
}

impl Spend {
    /// Totals kept in memory only.
    pub fn in_memory(day: &str) -> Spend {
        Spend {
            file: None,
            today: DayTotals {
                day: day.to_string(),
                ..DayTotals::default()
            },
            sessions: HashMap::new(),
            clock: 0,
        }
    }

    /// Totals kept in `file`, starting from what it holds for `day`. A
    /// missing file, or one from another day, starts at zero; an
    /// unreadable one too, with a warning (the budget must not lock the
    /// user out because a file broke).
    pub fn open(file: &Path, day: &str) -> Spend {
        let mut s = Spend::in_memory(day);
        s.file = Some(file.to_path_buf());
        match std::fs::read(file) {
            Ok(bytes) => match serde_json::from_slice::<DayTotals>(&bytes) {
                Ok(t) if t.day == day => s.today = t,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(file = %file.display(), "spend file unreadable, starting the day at zero: {e}");
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %file.display(), "cannot read the spend file, starting the day at zero: {e}");
            }
        }
        s
    }

    fn roll(&mut self, day: &str) {
        if self.today.day != day {
            self.today = DayTotals {
                day: day.to_string(),
                ..DayTotals::default()
            };
        }
    }

    /// Known costs of `session` so far.
    pub fn session_cost(&self, session: Option<&str>) -> f64 {
        session
            .and_then(|s| self.sessions.get(s))
            .map_or(0.0, |t| t.cost_usd)
    }

    /// Known costs of `day` so far.
    pub fn day_cost(&mut self, day: &str) -> f64 {
        self.roll(day);
        self.today.cost_usd
    }

    /// The day's totals.
    pub fn day_totals(&mut self, day: &str) -> DayTotals {
        self.roll(day);
        self.today.clone()
    }

    /// Why paid providers may not be used now, if a budget is spent.
    pub fn exhausted(
        &mut self,
        budget: &Budget,
        session: Option<&str>,
        day: &str,
    ) -> Option<String> {
        if let Some(limit) = budget.session_usd {
            let spent = self.session_cost(session);
            if session.is_some() && spent >= limit {
                return Some(format!("session budget ${limit:.2} spent (${spent:.4})"));
            }
        }
        if let Some(limit) = budget.day_usd {
            let spent = self.day_cost(day);
            if spent >= limit {
                return Some(format!("daily budget ${limit:.2} spent (${spent:.4})"));
            }
        }
        None
    }

    /// Account one call; returns the session's and the day's known totals
    /// after it (the session's `None` without a session).
    pub fn record(
        &mut self,
        session: Option<&str>,
        charge: Charge,
        day: &str,
    ) -> (Option<f64>, f64) {
        self.roll(day);
        self.clock += 1;
        let t = &mut self.today;
        t.calls += 1;
        t.input_tokens = t.input_tokens.saturating_add(charge.input_tokens);
        t.output_tokens = t.output_tokens.saturating_add(charge.output_tokens);
        match charge.cost_usd {
            Some(c) => t.cost_usd += c,
            None => t.unpriced_calls += 1,
        }
        let session_total = session.map(|s| {
            if !self.sessions.contains_key(s) && self.sessions.len() >= MAX_SESSIONS {
                let oldest = self
                    .sessions
                    .iter()
                    .min_by_key(|(_, v)| v.last_use)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    self.sessions.remove(&k);
                }
            }
            let e = self.sessions.entry(s.to_string()).or_default();
            e.cost_usd += charge.cost_usd.unwrap_or(0.0);
            e.last_use = self.clock;
            e.cost_usd
        });
        if let Err(e) = self.save() {
            tracing::warn!("cannot save the day's spending: {e}");
        }
        (session_total, self.today.cost_usd)
    }

    fn save(&self) -> std::io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let tmp = file.with_extension("json.tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(&self.today).map_err(std::io::Error::other)?)?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(951_782_400), "2000-02-29");
        assert_eq!(utc_day(1_798_761_599), "2026-12-31");
        assert_eq!(utc_day(1_798_761_600), "2027-01-01");
    }

    #[test]
    fn budgets_and_day_totals_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("spend.json");
        let budget = Budget {
            session_usd: Some(0.5),
            day_usd: Some(1.0),
        };
        let mut s = Spend::open(&f, "2026-12-02");
        let c = |usd| Charge {
            input_tokens: 10,
            output_tokens: 5,
            cost_usd: usd,
        };
        assert_eq!(s.exhausted(&budget, Some("a"), "2026-12-02"), None);
        assert_eq!(s.record(Some("a"), c(Some(0.4)), "2026-12-02").0, Some(0.4));
        assert_eq!(s.exhausted(&budget, Some("a"), "2026-12-02"), None);
        s.record(Some("a"), c(Some(0.1)), "2026-12-02");
        let why = s.exhausted(&budget, Some("a"), "2026-12-02").unwrap();
        assert!(why.contains("session budget $0.50"), "{why}");
        // Another session still has room, until the day is spent.
        assert_eq!(s.exhausted(&budget, Some("b"), "2026-12-02"), None);
        s.record(Some("b"), c(None), "2026-12-02");
        s.record(Some("b"), c(Some(0.5)), "2026-12-02");
        drop(s);
        let mut s = Spend::open(&f, "2026-12-02");
        let t = s.day_totals("2026-12-02");
        assert!((t.cost_usd - 1.0).abs() < 1e-9, "{t:?}");
        assert_eq!((t.calls, t.unpriced_calls, t.input_tokens), (4, 1, 40));
        let why = s.exhausted(&budget, Some("c"), "2026-12-02").unwrap();
        assert!(why.contains("daily budget $1.00"), "{why}");
        // A new day starts at zero.
        assert_eq!(s.exhausted(&budget, Some("c"), "2026-12-03"), None);
        let mut s = Spend::open(&f, "2026-12-03");
        assert_eq!(s.day_cost("2026-12-03"), 0.0);
    }

    #[test]
    fn a_corrupt_file_starts_the_day_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("spend.json");
        std::fs::write(&f, b"{not json").unwrap();
        let mut s = Spend::open(&f, "2026-12-02");
        assert_eq!(s.day_cost("2026-12-02"), 0.0);
    }
}
