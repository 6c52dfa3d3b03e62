//! Regression and drift limits: how much worse than a reference a figure may get.
//!
//! A rule reads `"<aggregation> <change>"`: `p(95) +20%` (at most 20 % above the reference),
//! `rate x2` (at most twice the reference), `avg +5ms` (at most 5 ms more). The reference is a
//! baseline run (`regression:`, `--baseline`) or a run's own first window (`drift:`). A noise
//! floor keeps jitter from failing a build: a trend never regresses by less than 2 ms, a rate by
//! less than 0.5 percentage points, whatever the relative change.

use serde::{Deserialize, Serialize};

use super::threshold::{self, Aggregation, MetricKey};
use crate::summary::schema::{MetricType, RegressionResult, ThresholdStatus};

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
    /// The row this rule gives a scenario: what it compares, the reference (a baseline run, or
    /// the run's own first window) and the current value. `crate::verdict::judge` decides its
    /// limit and status; until then they are `None` and no data.
    pub fn observed(
        &self,
        scenario: &str,
        reference: Option<f64>,
        current: Option<f64>,
    ) -> RegressionResult {
        RegressionResult {
            scenario: scenario.to_string(),
            metric: self.key.source.clone(),
            rule: self.source.clone(),
            baseline: reference,
            current,
            limit: None,
            status: ThresholdStatus::NoData,
        }
    }

    /// The most `current` may be for a `reference`: the allowance, but never less than the noise
    /// floor above the reference.
    pub fn limit(&self, reference: f64) -> f64 {
        let allowed = match self.allowed {
            Allowed::Percent(p) => reference * (1.0 + p / 100.0),
            Allowed::Factor(f) => reference * f,
            Allowed::Absolute(a) => reference + a,
        };
        let floor = match self.metric_type {
            MetricType::Trend => NOISE_FLOOR_MS,
            MetricType::Rate => NOISE_FLOOR_RATE,
            _ => 0.0,
        };
        allowed.max(reference + floor)
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
}
