//! Baselines: how a run compares with an earlier one (`run --baseline FILE`,
//! `compare CURRENT BASELINE`), per scenario and endpoint, from the histograms, and the plan's
//! regression limits judged like thresholds.
//!
//! A regression rule reads `"<aggregation> <change>"`: `p(95) +20%` (at most 20 % above the
//! baseline), `rate x2` (at most twice the baseline), `avg +5ms` (at most 5 ms more). A noise
//! floor keeps jitter from failing a build: a trend never regresses by less than 2 ms, a rate by
//! less than 0.5 percentage points, whatever the relative change.

use serde::{Deserialize, Serialize};

use crate::rules::threshold::{self, Aggregation, MetricKey, MetricType};
use crate::summary::dataset::{observe, Dataset};
use crate::summary::schema::{Summary, ThresholdStatus};

/// Absolute changes below these never count as regressions.
pub const NOISE_FLOOR_MS: f64 = 2.0;
pub const NOISE_FLOOR_RATE: f64 = 0.005;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Allowed {
    /// At most this many percent above the baseline.
    Percent(f64),
    /// At most this many times the baseline.
    Factor(f64),
    /// At most this much more, in the metric's unit (ms for trends).
    Absolute(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegressionRule {
    pub key: MetricKey,
    pub metric_type: MetricType,
    pub aggregation: Aggregation,
    pub allowed: Allowed,
    /// As written: `p(95) +20%`.
    pub source: String,
}

impl RegressionRule {
    /// Judges `current` against `reference` (a baseline run, or a run's first window): the
    /// allowance, but never less than the noise floor above the reference.
    pub fn judge(
        &self,
        scenario: &str,
        reference: Option<f64>,
        current: Option<f64>,
    ) -> RegressionResult {
        let (limit, status) = match (reference, current) {
            (Some(b), Some(c)) => {
                let allowed = match self.allowed {
                    Allowed::Percent(p) => b * (1.0 + p / 100.0),
                    Allowed::Factor(f) => b * f,
                    Allowed::Absolute(a) => b + a,
                };
                let floor = match self.metric_type {
                    MetricType::Trend => NOISE_FLOOR_MS,
                    MetricType::Rate => NOISE_FLOOR_RATE,
                    _ => 0.0,
                };
                let limit = allowed.max(b + floor);
                let status = if c <= limit {
                    ThresholdStatus::Pass
                } else {
                    ThresholdStatus::Fail
                };
                (Some(limit), status)
            }
            _ => (None, ThresholdStatus::NoData),
        };
        RegressionResult {
            scenario: scenario.to_string(),
            metric: self.key.source.clone(),
            rule: self.source.clone(),
            baseline: reference,
            current,
            limit,
            status,
        }
    }
}

/// Parses `"p(95) +20%"`, `"rate x2"`, `"avg +5ms"`.
pub fn parse_rule(
    key: &str,
    metric_type: MetricType,
    rule: &str,
) -> Result<RegressionRule, String> {
    let key = threshold::parse_metric_key(key).map_err(|e| e.to_string())?;
    let rule_t = rule.trim();
    let (agg, change) = rule_t.rsplit_once(char::is_whitespace).ok_or_else(|| {
        format!("\"{rule}\" is not \"<aggregation> <change>\" (e.g. \"p(95) +20%\", \"rate x2\")")
    })?;
    // Reuse the threshold grammar for the aggregation.
    let cond =
        threshold::parse_condition(&format!("{}<0", agg.trim())).map_err(|e| e.to_string())?;
    if !cond.aggregation.fits(metric_type) {
        return Err(format!(
            "{} does not fit {} (a {}); use {}",
            cond.aggregation.name(),
            key.metric,
            metric_type.as_str(),
            metric_type.supported_aggregations()
        ));
    }
    let num = |s: &str| -> Result<f64, String> {
        let v: f64 = s
            .parse()
            .map_err(|_| format!("\"{change}\" is not +N%, xN or +Nms"))?;
        if !v.is_finite() || v < 0.0 {
            return Err(format!(
                "\"{change}\": the allowance must be a non-negative number"
            ));
        }
        Ok(v)
    };
    let allowed = if let Some(p) = change.strip_prefix('+').and_then(|c| c.strip_suffix('%')) {
        Allowed::Percent(num(p)?)
    } else if let Some(f) = change
        .strip_prefix('x')
        .or_else(|| change.strip_prefix('×'))
    {
        let f = num(f)?;
        if f < 1.0 {
            return Err(format!(
                "\"{change}\": a factor below 1 would fail an unchanged run"
            ));
        }
        Allowed::Factor(f)
    } else if let Some(a) = change
        .strip_prefix('+')
        .map(|c| c.strip_suffix("ms").unwrap_or(c))
    {
        Allowed::Absolute(num(a)?)
    } else {
        return Err(format!("\"{change}\" is not +N%, xN or +Nms"));
    };
    Ok(RegressionRule {
        key,
        metric_type,
        aggregation: cond.aggregation,
        allowed,
        source: rule_t.to_string(),
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// (current − baseline) / baseline × 100, when both exist and the baseline is not 0.
    pub change_pct: Option<f64>,
}

impl Delta {
    pub fn new(baseline: Option<f64>, current: Option<f64>) -> Delta {
        let change_pct = match (baseline, current) {
            (Some(b), Some(c)) if b != 0.0 => Some((c - b) / b * 100.0),
            _ => None,
        };
        Delta {
            baseline,
            current,
            change_pct,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointDelta {
    /// Empty for the whole scenario.
    pub name: String,
    pub p50: Delta,
    pub p95: Delta,
    pub p99: Delta,
    pub error_rate: Delta,
    pub rps: Delta,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionResult {
    pub scenario: String,
    pub metric: String,
    pub rule: String,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// The most the current value may be.
    pub limit: Option<f64>,
    pub status: ThresholdStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioComparison {
    pub name: String,
    pub overall: EndpointDelta,
    pub endpoints: Vec<EndpointDelta>,
}

/// The comparison with a baseline, stored in the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Where the baseline came from (a file name).
    pub source: String,
    pub baseline_started_at: String,
    pub scenarios: Vec<ScenarioComparison>,
    pub regressions: Vec<RegressionResult>,
    /// A note when the baseline could not be used (e.g. missing), shown instead of deltas.
    pub note: Option<String>,
}

fn key(metric: &str, tags: &[(&str, &str)]) -> MetricKey {
    MetricKey {
        source: metric.to_string(),
        metric: metric.to_string(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn figures(ds: &Dataset, scenario: &str, name: Option<&str>) -> [Option<f64>; 5] {
    let tags: Vec<(&str, &str)> = name.map(|n| vec![("name", n)]).unwrap_or_default();
    let d = observe(ds, None, scenario, &key("http_req_duration", &tags));
    let f = observe(ds, None, scenario, &key("http_req_failed", &tags));
    let r = observe(ds, None, scenario, &key("http_reqs", &tags));
    let p = |q: f64| {
        d.as_ref()
            .and_then(|o| o.aggregate(Aggregation::Percentile(q)))
    };
    [
        p(50.0),
        p(95.0),
        p(99.0),
        f.and_then(|o| o.aggregate(Aggregation::Rate)),
        r.and_then(|o| o.aggregate(Aggregation::Rate)),
    ]
}

fn endpoint_delta(name: &str, b: [Option<f64>; 5], c: [Option<f64>; 5]) -> EndpointDelta {
    EndpointDelta {
        name: name.to_string(),
        p50: Delta::new(b[0], c[0]),
        p95: Delta::new(b[1], c[1]),
        p99: Delta::new(b[2], c[2]),
        error_rate: Delta::new(b[3], c[3]),
        rps: Delta::new(b[4], c[4]),
    }
}

/// Compares `current` with `baseline` scenario by scenario (same names), and judges `rules`.
pub fn compare(
    current: &Summary,
    baseline: &Summary,
    source: &str,
    rules: &[RegressionRule],
) -> anyhow::Result<Comparison> {
    let cur = Dataset::from_raw(&current.data)?;
    let base = Dataset::from_raw(&baseline.data)?;
    let mut scenarios = Vec::new();
    let mut regressions = Vec::new();
    for sc in &current.scenarios {
        if !baseline.scenarios.iter().any(|b| b.name == sc.name) {
            continue;
        }
        let overall = endpoint_delta(
            "",
            figures(&base, &sc.name, None),
            figures(&cur, &sc.name, None),
        );
        let mut endpoints = Vec::new();
        let mut seen = Vec::new();
        for e in &sc.endpoints {
            if seen.contains(&e.name) {
                continue;
            }
            seen.push(e.name.clone());
            endpoints.push(endpoint_delta(
                &e.name,
                figures(&base, &sc.name, Some(&e.name)),
                figures(&cur, &sc.name, Some(&e.name)),
            ));
        }
        for r in rules {
            let b = observe(&base, Some(r.metric_type), &sc.name, &r.key)
                .and_then(|o| o.aggregate(r.aggregation));
            let c = observe(&cur, Some(r.metric_type), &sc.name, &r.key)
                .and_then(|o| o.aggregate(r.aggregation));
            regressions.push(r.judge(&sc.name, b, c));
        }
        scenarios.push(ScenarioComparison {
            name: sc.name.clone(),
            overall,
            endpoints,
        });
    }
    let note = if scenarios.is_empty() {
        Some(format!(
            "the baseline {source} has none of this run's scenarios"
        ))
    } else {
        None
    };
    Ok(Comparison {
        source: source.to_string(),
        baseline_started_at: baseline.run.started_at.clone(),
        scenarios,
        regressions,
        note,
    })
}

fn fmt_delta(d: &Delta, unit: &str) -> String {
    let v = |x: Option<f64>| match (x, unit) {
        (None, _) => "-".to_string(),
        (Some(x), "%") => format!("{:.2}%", x * 100.0),
        (Some(x), u) => format!("{x:.1}{u}"),
    };
    match d.change_pct {
        Some(p) => format!("{} → {} ({:+.1}%)", v(d.baseline), v(d.current), p),
        None => format!("{} → {}", v(d.baseline), v(d.current)),
    }
}

/// The comparison as plain text, for the console.
pub fn render_text(c: &Comparison) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "compared with {} (started {})",
        c.source, c.baseline_started_at
    );
    if let Some(n) = &c.note {
        let _ = writeln!(out, "  {n}");
    }
    for s in &c.scenarios {
        let _ = writeln!(out, "\nscenario {}", s.name);
        for e in std::iter::once(&s.overall).chain(s.endpoints.iter()) {
            let name = if e.name.is_empty() {
                "(all requests)"
            } else {
                e.name.as_str()
            };
            let _ = writeln!(out, "  {name}");
            let _ = writeln!(
                out,
                "    p50 {}  p95 {}  p99 {}",
                fmt_delta(&e.p50, " ms"),
                fmt_delta(&e.p95, " ms"),
                fmt_delta(&e.p99, " ms")
            );
            let _ = writeln!(
                out,
                "    errors {}  req/s {}",
                fmt_delta(&e.error_rate, "%"),
                fmt_delta(&e.rps, "")
            );
        }
    }
    if !c.regressions.is_empty() {
        let _ = writeln!(out, "\nregression limits:");
        for r in &c.regressions {
            let mark = match r.status {
                ThresholdStatus::Pass => "✓",
                ThresholdStatus::Fail => "✗",
                ThresholdStatus::NoData => "○",
            };
            let f = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.3}"));
            let _ = writeln!(
                out,
                "  {mark} {}: {} {}  baseline {}  current {}  limit {}",
                r.scenario,
                r.metric,
                r.rule,
                f(r.baseline),
                f(r.current),
                f(r.limit)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse() {
        let r = parse_rule("http_req_duration", MetricType::Trend, "p(95) +20%").unwrap();
        assert_eq!(r.aggregation, Aggregation::Percentile(95.0));
        assert_eq!(r.allowed, Allowed::Percent(20.0));
        let r = parse_rule("http_req_failed", MetricType::Rate, "rate x2").unwrap();
        assert_eq!(r.allowed, Allowed::Factor(2.0));
        let r = parse_rule(
            "http_req_duration{name:login}",
            MetricType::Trend,
            "avg +5ms",
        )
        .unwrap();
        assert_eq!(r.allowed, Allowed::Absolute(5.0));
        assert!(
            parse_rule("http_req_failed", MetricType::Rate, "p(95) +20%")
                .unwrap_err()
                .contains("does not fit")
        );
        assert!(parse_rule("http_req_duration", MetricType::Trend, "p(95)").is_err());
        assert!(
            parse_rule("http_req_duration", MetricType::Trend, "p(95) x0.5")
                .unwrap_err()
                .contains("below 1")
        );
        assert!(parse_rule("http_req_duration", MetricType::Trend, "p(95) +abc%").is_err());
    }

    #[test]
    fn deltas() {
        let d = Delta::new(Some(100.0), Some(120.0));
        assert_eq!(d.change_pct, Some(20.0));
        assert_eq!(Delta::new(Some(0.0), Some(1.0)).change_pct, None);
    }
}
