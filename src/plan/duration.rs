//! Durations as k6 and Go write them: `30s`, `1m30s`, `500ms`, `1.5s`, `2h`, `100us`, `1d`.
//!
//! The syntax is Go's `time.ParseDuration`: one or more `number unit` pairs with no spaces, where
//! the number may have a fraction (`1.5s`, `.5s`) and the unit is `ns`, `us` (or `µs`/`μs`), `ms`,
//! `s`, `m` or `h`. Like k6 we also accept `d` (24 hours). `0` alone means zero, as in Go.
//! Unlike Go, a negative duration is an error, and so is anything longer than
//! [`MAX_DURATION`] (a load test that long is a typo).
//!
//! k6 reads a bare number as milliseconds; in a plan a bare YAML number is handled by the caller
//! (it never reaches this parser as a string), so here a unit is required.
//!
//! [`format_duration`] writes the compact form back (`1m30s`, `500ms`), and parsing it gives the
//! same duration again.

use std::fmt::Write as _;
use std::time::Duration;

/// The longest duration a plan may contain: 30 days.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

const UNITS: &str = "ns, us, ms, s, m, h or d";

/// What is wrong with a duration; each message quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration; expected a number with a unit, e.g. \"30s\", \"1m30s\" or \"500ms\"")]
    Empty,
    #[error("missing unit in duration \"{input}\"; write e.g. \"{input}s\" or \"{input}ms\" (units: {UNITS})")]
    MissingUnit { input: String },
    #[error("unknown unit \"{unit}\" in duration \"{input}\"; expected {UNITS}")]
    UnknownUnit { input: String, unit: String },
    #[error("invalid duration \"{input}\"; expected numbers with units and no spaces, e.g. \"30s\", \"1m30s\", \"1.5s\" or \"500ms\"")]
    Invalid { input: String },
    #[error("negative duration \"{input}\"")]
    Negative { input: String },
    #[error("duration {input} is longer than the 30 day maximum")]
    TooLong { input: String },
    #[error("invalid range \"{input}\": the minimum {min} is longer than the maximum {max}")]
    ReversedRange {
        input: String,
        min: String,
        max: String,
    },
}

/// Nanoseconds per unit.
fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        "d" => 86_400 * 1_000_000_000,
        _ => return None,
    })
}

/// Parses a duration such as `30s`, `1m30s`, `500ms`, `1.5s`, `2h`, `100us`, `1h2m3.5s`, `0s`.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let input = || s.to_string();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let (negative, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err(DurationError::Invalid { input: input() });
    }
    // Past this many nanoseconds we only need to know that the value is too long.
    const CAP: u128 = (MAX_DURATION.as_nanos()) * 1_000;
    let mut total: u128 = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let b = rest.as_bytes();
        let mut i = 0;
        let mut whole: u128 = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            whole = (whole * 10 + u128::from(b[i] - b'0')).min(CAP);
            i += 1;
        }
        let int_digits = i;
        let mut frac: u128 = 0;
        let mut scale: u128 = 1;
        let mut frac_digits = 0;
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                // Digits past nanosecond precision of the largest unit change nothing.
                if scale < 10u128.pow(20) {
                    frac = frac * 10 + u128::from(b[i] - b'0');
                    scale *= 10;
                }
                i += 1;
            }
            frac_digits = i - start;
        }
        if int_digits == 0 && frac_digits == 0 {
            return Err(DurationError::Invalid { input: input() });
        }
        let unit_len = rest[i..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len() - i);
        let unit = &rest[i..i + unit_len];
        if unit.is_empty() {
            // `1h30`: Go calls this a missing unit too.
            return Err(DurationError::MissingUnit { input: input() });
        }
        let Some(per) = unit_nanos(unit) else {
            return Err(if unit.chars().any(char::is_whitespace) {
                DurationError::Invalid { input: input() }
            } else {
                DurationError::UnknownUnit {
                    input: input(),
                    unit: unit.to_string(),
                }
            });
        };
        total = total
            .saturating_add(whole.saturating_mul(per))
            .saturating_add(frac * per / scale)
            .min(CAP);
        rest = &rest[i + unit_len..];
    }
    if negative && total > 0 {
        return Err(DurationError::Negative { input: input() });
    }
    if total > MAX_DURATION.as_nanos() {
        return Err(DurationError::TooLong { input: input() });
    }
    let secs = (total / 1_000_000_000) as u64;
    let nanos = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

/// Parses a think-time range: `1s..3s` (minimum first) or one duration (minimum equals maximum).
pub fn parse_duration_range(s: &str) -> Result<(Duration, Duration), DurationError> {
    match s.split_once("..") {
        None => {
            let d = parse_duration(s.trim())?;
            Ok((d, d))
        }
        Some((lo, hi)) => {
            let min = parse_duration(lo.trim())?;
            let max = parse_duration(hi.trim())?;
            if min > max {
                return Err(DurationError::ReversedRange {
                    input: s.to_string(),
                    min: lo.trim().to_string(),
                    max: hi.trim().to_string(),
                });
            }
            Ok((min, max))
        }
    }
}

/// The compact form: `1m30s`, `500ms`, `2h`, `1h0.5s`, `1.5ms`, `0s`. Parsing it with
/// [`parse_duration`] gives the same duration back (for durations up to [`MAX_DURATION`]).
pub fn format_duration(d: Duration) -> String {
    let mut out = String::new();
    if d.is_zero() {
        out.push_str("0s");
        return out;
    }
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    if secs == 0 {
        let (value, per, unit) = if nanos >= 1_000_000 {
            (nanos, 1_000_000, "ms")
        } else if nanos >= 1_000 {
            (nanos, 1_000, "us")
        } else {
            (nanos, 1, "ns")
        };
        push_decimal(&mut out, u64::from(value / per), value % per, per);
        out.push_str(unit);
        return out;
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if m > 0 {
        let _ = write!(out, "{m}m");
    }
    if s > 0 || nanos > 0 {
        push_decimal(&mut out, s, nanos, 1_000_000_000);
        out.push('s');
    }
    out
}

/// Writes `whole.frac` with `frac` in units of `1/per`, trailing zeros dropped.
fn push_decimal(out: &mut String, whole: u64, frac: u32, per: u32) {
    let _ = write!(out, "{whole}");
    if frac == 0 {
        return;
    }
    let width = per.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    out.push('.');
    out.push_str(digits.trim_end_matches('0'));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn parses_go_and_k6_durations() {
        let cases: &[(&str, Duration)] = &[
            ("30s", ms(30_000)),
            ("1m30s", ms(90_000)),
            ("500ms", ms(500)),
            ("1.5s", ms(1_500)),
            ("2h", ms(7_200_000)),
            ("100us", Duration::from_micros(100)),
            ("100µs", Duration::from_micros(100)),
            ("100μs", Duration::from_micros(100)),
            ("250ns", Duration::from_nanos(250)),
            ("1h2m3.5s", ms(3_723_500)),
            ("0s", Duration::ZERO),
            ("0", Duration::ZERO),
            ("+0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("-0s", Duration::ZERO),
            ("+5s", ms(5_000)),
            (".5s", ms(500)),
            ("5.s", ms(5_000)),
            ("1.5h", ms(5_400_000)),
            ("0.001ms", Duration::from_micros(1)),
            ("1.0000000001s", ms(1_000)), // below nanosecond precision, dropped as Go does
            ("1d", ms(86_400_000)),
            ("1d12h", ms(129_600_000)),
            ("1s1s", ms(2_000)),   // Go adds repeated units
            ("30s1m", ms(90_000)), // in any order
            ("007s", ms(7_000)),
            ("30d", MAX_DURATION),
            ("720h", MAX_DURATION),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_duration(s), Ok(want), "{s:?}");
        }
    }

    #[test]
    fn rejects_bad_durations() {
        let cases: &[(&str, &str)] = &[
            ("", "empty duration"),
            (
                "30",
                "missing unit in duration \"30\"; write e.g. \"30s\" or \"30ms\"",
            ),
            ("1.5", "missing unit"),
            ("1h30", "missing unit"),
            ("10sec", "unknown unit \"sec\""),
            ("10S", "unknown unit \"S\""),
            ("1w", "unknown unit \"w\""),
            ("5 s", "invalid duration \"5 s\""),
            (" 5s", "invalid duration"),
            ("5s ", "invalid duration"),
            ("s", "invalid duration"),
            (".s", "invalid duration"),
            ("-", "invalid duration"),
            ("1..5s", "missing unit"),
            ("1e3ms", "unknown unit \"e\""),
            ("-1s", "negative duration \"-1s\""),
            ("--1s", "invalid duration"),
            (
                "999999h",
                "duration 999999h is longer than the 30 day maximum",
            ),
            ("30d1ns", "longer than the 30 day maximum"),
            ("720h0.000000001s", "longer than the 30 day maximum"),
            (
                "99999999999999999999999999999999999999999h",
                "longer than the 30 day maximum",
            ),
        ];
        for &(s, want) in cases {
            let msg = match parse_duration(s) {
                Ok(d) => panic!("{s:?} should be rejected, got {d:?}"),
                Err(e) => e.to_string(),
            };
            assert!(msg.contains(want), "{s:?}: {msg:?} should contain {want:?}");
        }
    }

    #[test]
    fn formats_compactly() {
        let cases: &[(Duration, &str)] = &[
            (Duration::ZERO, "0s"),
            (ms(500), "500ms"),
            (ms(90_000), "1m30s"),
            (ms(7_200_000), "2h"),
            (ms(3_723_500), "1h2m3.5s"),
            (ms(3_605_000), "1h5s"),
            (ms(3_600_500), "1h0.5s"),
            (ms(1_500), "1.5s"),
            (ms(60_000), "1m"),
            (Duration::from_micros(1_500), "1.5ms"),
            (Duration::from_micros(100), "100us"),
            (Duration::from_nanos(1), "1ns"),
            (Duration::from_nanos(1_000_000_001), "1.000000001s"),
            (MAX_DURATION, "720h"),
        ];
        for &(d, want) in cases {
            assert_eq!(format_duration(d), want, "{d:?}");
        }
    }

    #[test]
    fn format_round_trips() {
        let mut n: u64 = 1;
        while n < MAX_DURATION.as_nanos() as u64 {
            for d in [Duration::from_nanos(n), Duration::from_nanos(n * 7 / 3)] {
                if d <= MAX_DURATION {
                    assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?}");
                }
            }
            n = n * 3 + 1;
        }
        for s in ["30s", "1m30s", "500ms", "2h", "1h2m3.5s", "0s", "100us"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }

    #[test]
    fn parses_ranges() {
        assert_eq!(parse_duration_range("1s..3s"), Ok((ms(1_000), ms(3_000))));
        assert_eq!(parse_duration_range("1s .. 3s"), Ok((ms(1_000), ms(3_000))));
        assert_eq!(parse_duration_range("1.5s..2s"), Ok((ms(1_500), ms(2_000))));
        assert_eq!(parse_duration_range("2s..2s"), Ok((ms(2_000), ms(2_000))));
        assert_eq!(parse_duration_range("500ms"), Ok((ms(500), ms(500))));
        assert_eq!(
            parse_duration_range("0s..1m"),
            Ok((Duration::ZERO, ms(60_000)))
        );
        assert_eq!(
            parse_duration_range("3s..1s").unwrap_err().to_string(),
            "invalid range \"3s..1s\": the minimum 3s is longer than the maximum 1s"
        );
        assert!(matches!(
            parse_duration_range("1..3s"),
            Err(DurationError::MissingUnit { .. })
        ));
        assert!(parse_duration_range("1s..").is_err());
        assert!(parse_duration_range("..1s").is_err());
        assert!(parse_duration_range("1s...3s").is_err());
    }
}
