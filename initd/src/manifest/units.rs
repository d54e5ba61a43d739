//! Human units in manifests: durations (`250ms`, `10s`, `5m`, `1h`,
//! combinations like `1m30s`) and byte sizes (`4096`, `512K`, `64M`, `2G`).
//! Pure parsing, so the error messages are tested directly.

use std::time::Duration;

/// The longest duration a manifest may give: a year. Every configured
/// duration is added to the monotonic clock to make a deadline; a bound
/// far beyond any sensible timeout keeps that sum meaningful (and a typo
/// such as a missing unit suffix from becoming "never").
pub const MAX_DURATION: Duration = Duration::from_secs(8760 * 3600);

/// Parse a duration written with units, e.g. `100ms`, `10s`, `1m30s`.
///
/// A bare number is refused: whether `10` means seconds or milliseconds is
/// exactly the kind of guess that makes a restart storm. So is anything
/// longer than [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let hint = "write a number with a unit: 250ms, 10s, 5m, 1h (or 1m30s)";
    let t = text.trim();
    if t.is_empty() {
        return Err(format!("empty duration; {hint}"));
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("invalid duration {text:?}; {hint}"));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let too_long = || format!("duration {text:?} is too long: at most 8760h (a year)");
        let secs = |per: u64| n.checked_mul(per).map(Duration::from_secs);
        let part = match unit {
            "ms" => Some(Duration::from_millis(n)),
            "s" => secs(1),
            "m" | "min" => secs(60),
            "h" => secs(3600),
            "" => return Err(format!("duration {text:?} has no unit; {hint}")),
            other => {
                return Err(format!(
                    "unknown unit {other:?} in duration {text:?}; {hint}"
                ));
            }
        };
        total = part
            .and_then(|p| total.checked_add(p))
            .filter(|t| *t <= MAX_DURATION)
            .ok_or_else(too_long)?;
    }
    Ok(total)
}

/// Parse a byte size: a plain number of bytes, or a number with a binary
/// suffix `K`, `M`, `G`, `T` (optionally followed by `B` or `iB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let hint = "write bytes or a number with K, M, G or T (e.g. 512M)";
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits == 0 {
        return Err(format!("invalid size {text:?}; {hint}"));
    }
    let n: u64 = t[..digits]
        .parse()
        .map_err(|_| format!("invalid size {text:?}: number too large"))?;
    let shift = match t[digits..].trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        other => return Err(format!("unknown size suffix {other:?} in {text:?}; {hint}")),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// Render a duration the way manifests write it.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units_parse() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("0ms").unwrap(), Duration::ZERO);
    }

    #[test]
    fn durations_without_units_or_with_bad_units_are_refused_with_a_hint() {
        let e = parse_duration("10").unwrap_err();
        assert!(e.contains("no unit") && e.contains("250ms"), "{e}");
        let e = parse_duration("10x").unwrap_err();
        assert!(e.contains("unknown unit \"x\""), "{e}");
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn absurd_durations_are_refused_not_saturated() {
        for absurd in [
            "18446744073709551615s",
            "18446744073709551615h",
            "9999999999m",
            "8761h",
            "8760h1ms",
            "18446744073709551615ms18446744073709551615s",
        ] {
            let e = parse_duration(absurd).unwrap_err();
            assert!(
                e.contains("too long") && e.contains("8760h"),
                "{absurd}: {e}"
            );
        }
        assert_eq!(parse_duration("8760h").unwrap(), MAX_DURATION);
        assert!(
            parse_duration("99999999999999999999s")
                .unwrap_err()
                .contains("number too large")
        );
    }

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("512K").unwrap(), 512 * 1024);
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert!(
            parse_size("12Q")
                .unwrap_err()
                .contains("unknown size suffix")
        );
        assert!(
            parse_size("99999999999T")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn durations_format_back() {
        assert_eq!(format_duration(Duration::from_secs(3)), "3s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }
}
