//! The `log.*` tools beyond `log.tail`: `search` (a fixed string over a log
//! file or the journal, with time bounds), `kernel` (the kernel ring
//! buffer from `/dev/kmsg`) and `vacuum` (journald's `--vacuum-*` where it
//! runs, and old rotated files under `/var/log`). This module holds the
//! time handling they share: bounds given by the user, and the timestamps
//! at the start of log lines (RFC 3339 and classic syslog).

mod kernel;
mod search;
mod vacuum;

pub use kernel::LogKernel;
pub use search::LogSearch;
pub use vacuum::LogVacuum;

use crate::ToolError;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Unix seconds of an ISO date-time at the start of `s`: `YYYY-MM-DD`,
/// then optionally `T` or a space and `HH:MM[:SS[.frac]]`, then optionally
/// `Z` or `±HH:MM`. Without an offset the time is UTC.
pub(crate) fn parse_iso(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = num(&s[0..4])?;
    let mo: u32 = num(&s[5..7])?;
    let d: u32 = num(&s[8..10])?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut t = days_from_civil(y, mo, d) * 86_400;
    let rest = &s[10..];
    let Some(time) = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' ')) else {
        return Some(t);
    };
    if time.len() < 5 || time.as_bytes()[2] != b':' {
        return Some(t);
    }
    let h: i64 = num(&time[0..2])?;
    let mi: i64 = num(&time[3..5])?;
    let mut rest = &time[5..];
    let mut sec = 0;
    if let Some(r) = rest.strip_prefix(':') {
        sec = num(r.get(0..2)?)?;
        rest = &r[2..];
        if let Some(r) = rest.strip_prefix('.') {
            rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
        }
    }
    t += h * 3600 + mi * 60 + sec;
    if let Some(off) = rest
        .strip_prefix('+')
        .map(|o| (1, o))
        .or(rest.strip_prefix('-').map(|o| (-1, o)))
    {
        let (sign, o) = off;
        if o.len() >= 5 && o.as_bytes()[2] == b':' {
            let oh: i64 = num(&o[0..2])?;
            let om: i64 = num(&o[3..5])?;
            t -= sign * (oh * 3600 + om * 60);
        }
    }
    Some(t)
}

/// Unix seconds of a classic syslog stamp at the start of `line`
/// (`May  1 12:00:00`, no year: the most recent such time not more than a
/// day after `now`, read as UTC).
pub(crate) fn parse_syslog(line: &str, now: i64) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mon = MONTHS.iter().position(|m| line.starts_with(m))?;
    let rest = line.get(3..)?.trim_start();
    let (day, rest) = rest.split_once(' ')?;
    let d: u32 = num(day)?;
    let time = rest.get(0..8)?;
    let b = time.as_bytes();
    if b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, mi, s): (i64, i64, i64) = (num(&time[0..2])?, num(&time[3..5])?, num(&time[6..8])?);
    let year = 1970 + now.div_euclid(86_400 * 365);
    let mo = u32::try_from(mon + 1).ok()?;
    for y in [year + 1, year, year - 1, year - 2] {
        let t = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
        if t <= now + 86_400 {
            return Some(t);
        }
    }
    None
}

/// The time at the start of a log line, in either format.
pub(crate) fn line_time(line: &str, now: i64) -> Option<i64> {
    parse_iso(line).or_else(|| parse_syslog(line, now))
}

/// A user's time bound, as Unix seconds: an ISO date or date-time (UTC
/// unless it carries an offset), or an age like `30m`, `2h`, `7d`, `1w`
/// (that long before `now`).
pub(crate) fn parse_bound(field: &str, s: &str, now: i64) -> Result<i64, ToolError> {
    let s = s.trim();
    let unit = s.chars().last().unwrap_or(' ');
    if let (Some(n), Some(mult)) = (
        num::<i64>(&s[..s.len().saturating_sub(1)]),
        match unit {
            's' => Some(1),
            'm' => Some(60),
            'h' => Some(3600),
            'd' => Some(86_400),
            'w' => Some(7 * 86_400),
            _ => None,
        },
    ) {
        return Ok(now - n.saturating_mul(mult));
    }
    parse_iso(s).ok_or_else(|| {
        ToolError::invalid(format!(
            "field `{field}`: {s:?} is not a time; write 2024-05-01, 2024-05-01T12:00:00Z, \
             2024-05-01 12:00 (UTC) or an age such as 30m, 2h, 7d"
        ))
    })
}

/// Now, in Unix seconds.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_log_format() {
        assert_eq!(parse_iso("1970-01-01"), Some(0));
        assert_eq!(parse_iso("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(parse_iso("2023-11-14 22:13:20 host x"), Some(1_700_000_000));
        assert_eq!(
            parse_iso("2023-11-14T23:13:20.123456+01:00 host sshd[1]: x"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_iso("2023-11-14T22:13"), Some(1_700_000_000 - 20));
        assert_eq!(parse_iso("Nov 14"), None);
        assert_eq!(parse_iso("2023-13-01"), None);
        let now = 1_700_000_000;
        assert_eq!(parse_syslog("Nov 14 22:13:20 host x", now), Some(now));
        assert_eq!(
            parse_syslog("Nov  4 22:13:20 host x", now),
            Some(now - 10 * 86_400)
        );
        // December in November is last year's.
        assert!(parse_syslog("Dec 24 00:00:00 h", now).unwrap() < now - 300 * 86_400);
        assert_eq!(parse_bound("since", "2h", now).unwrap(), now - 7200);
        assert_eq!(
            parse_bound("since", "2023-11-14T22:13:20Z", now).unwrap(),
            now
        );
        let e = parse_bound("until", "yesterday", now).unwrap_err();
        assert!(e.message().contains("`until`"), "{e}");
    }
}
