//! Number, duration and size formatting shared by the human-readable reports, so that the
//! console, Markdown, HTML and JUnit all print the same figure the same way.

use crate::summary::schema::{ScenarioSummary, ThresholdResult, ThresholdStatus};

/// `v` with at most `decimals` decimals and no trailing zeros: `500`, `0.5`, `7.125`.
pub(crate) fn num(v: f64, decimals: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// An integer with thousands separators: `12,345`.
pub(crate) fn int(v: u64) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A latency for tables: `812.4 ms` below a second, `1.24 s` above.
pub(crate) fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else {
        format!("{v:.1} ms")
    }
}

/// A latency the way k6's console summary prints it: `12.25µs`, `144.56ms`, `1.14s`, `0s`.
pub(crate) fn k6_duration(v_ms: f64) -> String {
    if v_ms == 0.0 {
        "0s".into()
    } else if v_ms < 1.0 {
        format!("{}µs", num(v_ms * 1000.0, 2))
    } else if v_ms < 1000.0 {
        format!("{}ms", num(v_ms, 2))
    } else if v_ms < 60_000.0 {
        format!("{}s", num(v_ms / 1000.0, 2))
    } else {
        let total_s = v_ms / 1000.0;
        let m = (total_s / 60.0).floor();
        format!("{}m{}s", m, num(total_s - m * 60.0, 1))
    }
}

/// A share (0..1) as a percentage with two decimals: `7.12%`.
pub(crate) fn percent(rate: f64) -> String {
    format!("{:.2}%", rate * 100.0)
}

/// A byte count in SI units, as k6 prints it: `81 kB`, `1.3 MB`.
pub(crate) fn bytes(v: f64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = v;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// A wall-clock span: `12.5s`, `4m 0s`, `1h 2m 3s`.
pub(crate) fn duration_s(secs: f64) -> String {
    if secs < 60.0 {
        return format!("{}s", num(secs, 1));
    }
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}h {m}m {s}s")
    } else {
        format!("{m}m {s}s")
    }
}

/// How a threshold's numbers read. `ThresholdResult::unit` is `ms`, `rate`, `count`, `per_s`
/// (a counter's rate) or empty; `bytes` and the spellings of `threshold::Unit` (`millis`,
/// `ratio`, `plain`) read as expected too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Millis,
    /// A share, 0..1, shown as a percentage.
    Ratio,
    /// A counter's `rate`: per second.
    PerSecond,
    Bytes,
    BytesPerSecond,
    /// A count: an integer.
    Count,
    Plain,
}

fn kind(t: &ThresholdResult) -> Kind {
    let per_second = t.expression.trim_start().starts_with("rate");
    match t.unit.as_str() {
        "ms" | "millis" => Kind::Millis,
        "rate" | "ratio" => Kind::Ratio,
        "per_s" => Kind::PerSecond,
        "bytes" if per_second => Kind::BytesPerSecond,
        "bytes" => Kind::Bytes,
        _ if per_second => Kind::PerSecond,
        "count" => Kind::Count,
        _ => Kind::Plain,
    }
}

/// A threshold's observed value in its unit: `812.4 ms`, `7.12%`, `12`; `no data` without one.
pub(crate) fn observed(t: &ThresholdResult) -> String {
    let Some(v) = t.observed else {
        return match t.status {
            ThresholdStatus::NoData => "no data".into(),
            _ => "no data, judged as 0".into(),
        };
    };
    match kind(t) {
        Kind::Millis => format!("{v:.1} ms"),
        Kind::Ratio => percent(v),
        Kind::PerSecond => format!("{}/s", num(v, 2)),
        Kind::Bytes => bytes(v),
        Kind::BytesPerSecond => format!("{}/s", bytes(v)),
        Kind::Count => format!("{v:.0}"),
        Kind::Plain => num(v, 3),
    }
}

/// A threshold's limit in its unit, with no more decimals than it needs: `500 ms`, `5%`.
pub(crate) fn limit(t: &ThresholdResult) -> String {
    let v = t.limit;
    match kind(t) {
        Kind::Millis => format!("{} ms", num(v, 3)),
        Kind::Ratio => format!("{}%", num(v * 100.0, 4)),
        Kind::PerSecond => format!("{}/s", num(v, 2)),
        Kind::Bytes => bytes(v),
        Kind::BytesPerSecond => format!("{}/s", bytes(v)),
        Kind::Count | Kind::Plain => num(v, 3),
    }
}

/// The JUnit failure message and the Markdown verdict's parenthesis use this one sentence.
pub(crate) fn observed_vs_limit(t: &ThresholdResult) -> String {
    format!("observed {}, limit {}", observed(t), limit(t))
}

/// A scenario's `http_req_duration` aggregate (`med`, `p(95)`, ...), in ms.
pub(crate) fn duration_stat(sc: &ScenarioSummary, stat: &str) -> Option<f64> {
    sc.metrics
        .get("http_req_duration")
        .and_then(|m| m.values.get(stat))
        .copied()
}

/// `7.12%` of requests failed, or `—` with no requests.
pub(crate) fn error_rate(sc: &ScenarioSummary) -> String {
    if sc.requests == 0 {
        "—".into()
    } else {
        percent(sc.requests_failed as f64 / sc.requests as f64)
    }
}

/// `98.50% (15 failed)`, `100.00%`, or `—` without checks.
pub(crate) fn checks_cell(sc: &ScenarioSummary) -> String {
    let passes: u64 = sc.checks.iter().map(|c| c.passes).sum();
    let fails: u64 = sc.checks.iter().map(|c| c.fails).sum();
    if passes + fails == 0 {
        "—".into()
    } else if fails == 0 {
        percent(1.0)
    } else {
        format!(
            "{} ({} failed)",
            percent(passes as f64 / (passes + fails) as f64),
            int(fails)
        )
    }
}

pub(crate) fn opt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::schema::ThresholdStatus;

    fn t(unit: &str, expression: &str, observed: Option<f64>, limit: f64) -> ThresholdResult {
        ThresholdResult {
            metric: "m".into(),
            expression: expression.into(),
            observed,
            limit,
            unit: unit.into(),
            status: ThresholdStatus::Fail,
            abort_on_fail: false,
            line: 0,
        }
    }

    #[test]
    fn threshold_messages_use_the_metric_unit() {
        let m = |x: ThresholdResult| observed_vs_limit(&x);
        assert_eq!(
            m(t("ms", "p(95)<500", Some(812.4), 500.0)),
            "observed 812.4 ms, limit 500 ms"
        );
        assert_eq!(
            m(t("ms", "avg<250.5", Some(300.04), 250.5)),
            "observed 300.0 ms, limit 250.5 ms"
        );
        assert_eq!(
            m(t("rate", "rate<0.05", Some(0.0712), 0.05)),
            "observed 7.12%, limit 5%"
        );
        assert_eq!(
            m(t("rate", "rate<0.001", Some(0.07), 0.001)),
            "observed 7.00%, limit 0.1%"
        );
        assert_eq!(
            m(t("count", "count<100", Some(120.0), 100.0)),
            "observed 120, limit 100"
        );
        assert_eq!(
            m(t("count", "rate<10", Some(12.345), 10.0)),
            "observed 12.35/s, limit 10/s"
        );
        assert_eq!(
            m(t("per_s", "rate<10", Some(12.345), 10.0)),
            "observed 12.35/s, limit 10/s"
        );
        assert_eq!(
            m(t("", "value<10", Some(12.0), 10.0)),
            "observed 12, limit 10"
        );
        // Without samples: a trend judged as 0 (as k6 does), a rate skipped.
        assert_eq!(
            m(t("ms", "p(95)<500", None, 500.0)),
            "observed no data, judged as 0, limit 500 ms"
        );
        let skipped = ThresholdResult {
            status: ThresholdStatus::NoData,
            ..t("rate", "rate<0.01", None, 0.01)
        };
        assert_eq!(m(skipped), "observed no data, limit 1%");
        assert_eq!(
            m(t("bytes", "count<2000000", Some(2.5e6), 2e6)),
            "observed 2.5 MB, limit 2.0 MB"
        );
        assert_eq!(
            m(t("millis", "med<200", Some(250.0), 200.0)),
            "observed 250.0 ms, limit 200 ms"
        );
        assert_eq!(
            m(t("ratio", "rate<0.01", Some(0.02), 0.01)),
            "observed 2.00%, limit 1%"
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(num(500.0, 3), "500");
        assert_eq!(num(0.07 * 100.0, 4), "7");
        assert_eq!(num(-0.0001, 2), "0");
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1_234_567), "1,234,567");
        assert_eq!(ms(812.44), "812.4 ms");
        assert_eq!(ms(1234.0), "1.23 s");
        assert_eq!(k6_duration(0.01225), "12.25µs");
        assert_eq!(k6_duration(144.561), "144.56ms");
        assert_eq!(k6_duration(1140.0), "1.14s");
        assert_eq!(k6_duration(0.0), "0s");
        assert_eq!(k6_duration(90_000.0), "1m30s");
        assert_eq!(bytes(81_000.0), "81 kB");
        assert_eq!(bytes(1_300_000.0), "1.3 MB");
        assert_eq!(bytes(999.0), "999 B");
        assert_eq!(duration_s(30.0), "30s");
        assert_eq!(duration_s(12.345), "12.3s");
        assert_eq!(duration_s(240.0), "4m 0s");
        assert_eq!(duration_s(3723.0), "1h 2m 3s");
        assert_eq!(percent(0.0712), "7.12%");
    }
}
