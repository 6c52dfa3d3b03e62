//! What the human-readable reports say, in words and rows, before any of them lays it out: the
//! verdict line and its notes, the comparison tables (against a baseline, first window against
//! last), and why requests failed. The console, Markdown, HTML and JUnit all take their wording from here, so a
//! figure reads the same everywhere.

use std::collections::BTreeMap;

use serde::Serialize;

use super::format::{int, ms, num, observed, opt_ms, percent};
use crate::summary::schema::{
    Delta, Endpoint, MetricType, RegressionResult, ScenarioStatus, ThresholdResult, Verdict,
};
use crate::summary::schema::{ScenarioSummary, Summary, ThresholdStatus};

/// How the run ended, for the first line of every human-readable report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Passed,
    Failed,
    /// Stopped by a signal with every threshold passing on what ran.
    Interrupted,
}

/// The verdict in words: `Load test failed` and what failed, plus the notes a reader needs
/// before trusting the figures (interrupted, aborted, no data, an overloaded generator).
pub(crate) struct Headline {
    pub outcome: Outcome,
    pub title: &'static str,
    /// `2 thresholds failed: http_req_duration p(95)<500 (observed 812.4 ms), ...`
    pub detail: Option<String>,
    pub notes: Vec<String>,
}

impl Headline {
    pub fn icon(&self) -> &'static str {
        match self.outcome {
            Outcome::Passed => "✅",
            Outcome::Failed => "❌",
            Outcome::Interrupted => "⚠️",
        }
    }

    /// The same as a text symbol every font has (the HTML page and the console).
    pub fn symbol(&self) -> &'static str {
        match self.outcome {
            Outcome::Passed => "✓",
            Outcome::Failed => "✗",
            Outcome::Interrupted => "⚠",
        }
    }

    /// `Load test failed — 2 thresholds failed: ...`
    pub fn text(&self) -> String {
        match &self.detail {
            Some(d) => format!("{} — {d}", self.title),
            None => self.title.to_string(),
        }
    }
}

/// How many failures (and no-data thresholds) a line names before it says "and N more".
const NAMED: usize = 5;

pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn name_some(mut names: Vec<String>) -> String {
    let more = names.len().saturating_sub(NAMED);
    names.truncate(NAMED);
    let mut text = names.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// Broken drift limits, with their scenario.
fn drift_rules(s: &Summary) -> impl Iterator<Item = (&ScenarioSummary, &RegressionResult)> {
    s.scenarios
        .iter()
        .flat_map(|sc| sc.drift.iter().flat_map(|d| &d.rules).map(move |r| (sc, r)))
}

/// A value of `metric` the way the scenario's own figures read: ms for trends, a percentage for
/// rates, a plain number otherwise.
pub(crate) fn metric_value(sc: Option<&ScenarioSummary>, metric: &str, v: Option<f64>) -> String {
    let Some(v) = v else {
        return "—".into();
    };
    let base = metric.split('{').next().unwrap_or(metric);
    let kind = sc
        .and_then(|sc| sc.metrics.get(base))
        .map(|m| Some(m.kind))
        .unwrap_or(match base {
            "http_req_failed" | "checks" => Some(MetricType::Rate),
            b if b.starts_with("http_req_") || b == "iteration_duration" => Some(MetricType::Trend),
            _ => None,
        });
    match kind {
        Some(MetricType::Trend) => ms(v),
        Some(MetricType::Rate) => percent(v),
        _ => num(v, 2),
    }
}

pub(crate) fn headline(s: &Summary) -> Headline {
    let v = &s.verdict;
    let outcome = if !v.passed || v.thresholds_failed + v.regressions_failed + v.drift_failed > 0 {
        Outcome::Failed
    } else if s.run.interrupted {
        Outcome::Interrupted
    } else {
        Outcome::Passed
    };
    let title = match outcome {
        Outcome::Passed => "Load test passed",
        Outcome::Failed => "Load test failed",
        Outcome::Interrupted => "Load test interrupted",
    };
    let named = failures(s);
    let detail = (outcome == Outcome::Failed && !named.is_empty()).then(|| failed_line(v, named));
    Headline {
        outcome,
        title,
        detail,
        notes: notes(s),
    }
}

/// What ran but did not count: iterations interrupted, iterations dropped, requests cut off in
/// flight, requests that could not be built (`3 iterations interrupted, 2 requests cut off in
/// flight`); `None` when nothing was.
pub(crate) fn leftovers(sc: &ScenarioSummary) -> Option<String> {
    let mut parts = Vec::new();
    if sc.iterations_interrupted > 0 {
        parts.push(format!(
            "{} interrupted",
            plural(
                sc.iterations_interrupted as usize,
                "iteration",
                "iterations"
            )
        ));
    }
    if sc.dropped_iterations > 0 {
        parts.push(format!(
            "{} dropped (no free VU)",
            plural(sc.dropped_iterations as usize, "iteration", "iterations")
        ));
    }
    if sc.requests_interrupted > 0 {
        parts.push(format!(
            "{} cut off in flight (not counted in http_reqs)",
            plural(sc.requests_interrupted as usize, "request", "requests")
        ));
    }
    if sc.requests_invalid > 0 {
        parts.push(format!(
            "{} not sent: a value made {} impossible to build (invalid_request, not counted in http_reqs; the run's log names the template)",
            plural(sc.requests_invalid as usize, "request", "requests"),
            if sc.requests_invalid == 1 { "it" } else { "them" }
        ));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// ` in <scenario>`, when the run had several.
fn in_scenario(s: &Summary, sc: &ScenarioSummary) -> String {
    if s.scenarios.len() > 1 {
        format!(" in {}", sc.name)
    } else {
        String::new()
    }
}

/// Each failure named once, with the value it was judged on.
fn failures(s: &Summary) -> Vec<String> {
    let v = &s.verdict;
    let in_ = |sc: &ScenarioSummary| in_scenario(s, sc);
    let mut named: Vec<String> = Vec::new();
    let mut known: Vec<String> = Vec::new();
    for sc in &s.scenarios {
        if let Some(why) = crate::verdict::tested_nothing(sc) {
            named.push(format!("scenario {}: {why}", sc.name));
            known.push(format!("{}: {why}", sc.name));
        }
    }
    for (sc, t) in s
        .thresholds()
        .filter(|(_, t)| t.status == ThresholdStatus::Fail)
    {
        named.push(format!(
            "{} {} (observed {}{})",
            t.metric,
            t.expression,
            observed(t),
            in_(sc)
        ));
        known.push(format!("{} {}", t.metric, t.expression));
        known.push(format!("{}: {} {}", sc.name, t.metric, t.expression));
    }
    let regressions = s.baseline.iter().flat_map(|b| &b.regressions);
    for r in regressions.filter(|r| r.status == ThresholdStatus::Fail) {
        let sc = s.scenarios.iter().find(|sc| sc.name == r.scenario);
        named.push(format!(
            "{} {} against the baseline ({} → {}{})",
            r.metric,
            r.rule,
            metric_value(sc, &r.metric, r.baseline),
            metric_value(sc, &r.metric, r.current),
            sc.map(in_).unwrap_or_default()
        ));
        known.push(format!(
            "regression: {}: {} {}",
            r.scenario, r.metric, r.rule
        ));
    }
    for (sc, r) in drift_rules(s).filter(|(_, r)| r.status == ThresholdStatus::Fail) {
        named.push(format!(
            "{} {} over the run ({} → {}{})",
            r.metric,
            r.rule,
            metric_value(Some(sc), &r.metric, r.baseline),
            metric_value(Some(sc), &r.metric, r.current),
            in_(sc)
        ));
        known.push(format!("drift: {}: {} {}", r.scenario, r.metric, r.rule));
    }
    // A verdict from elsewhere (an older `merge`) may list failures no scenario carries.
    let unknown: Vec<&String> = v.failed.iter().filter(|f| !known.contains(f)).collect();
    named.extend(unknown.iter().map(|f| f.to_string()));

    named
}

/// `2 thresholds and 1 drift limit failed: …`.
fn failed_line(v: &Verdict, named: Vec<String>) -> String {
    let mut kinds = Vec::new();
    if v.scenarios_failed > 0 {
        kinds.push(plural(v.scenarios_failed, "scenario", "scenarios"));
    }
    if v.thresholds_failed > 0 {
        kinds.push(plural(v.thresholds_failed, "threshold", "thresholds"));
    }
    if v.regressions_failed > 0 {
        kinds.push(plural(
            v.regressions_failed,
            "regression limit",
            "regression limits",
        ));
    }
    if v.drift_failed > 0 {
        kinds.push(plural(v.drift_failed, "drift limit", "drift limits"));
    }
    if kinds.is_empty() {
        kinds.push(plural(named.len(), "condition", "conditions"));
    }
    format!("{} failed: {}", kinds.join(" and "), name_some(named))
}

/// What a reader should know besides pass or fail: scenarios stopped early, an interrupted run,
/// an inconclusive one, thresholds without data, a baseline that could not be used.
fn notes(s: &Summary) -> Vec<String> {
    let v = &s.verdict;
    let several = s.scenarios.len() > 1;
    let mut notes = Vec::new();
    for sc in &s.scenarios {
        if let Some(left) = leftovers(sc) {
            notes.push(format!("Scenario {}: {left}.", sc.name));
        }
        let ran = format!(
            "after {} of {} planned",
            super::format::duration_s(sc.duration_s),
            super::format::duration_s(sc.planned_duration_s)
        );
        match sc.status {
            ScenarioStatus::Aborted => notes.push(match &s.run.aborted_by {
                Some(_) if s.run.setup_failure().is_some() => format!(
                    "Scenario {} did not run: the once-per-test {}.",
                    sc.name,
                    s.run.aborted_by.as_deref().unwrap_or_default()
                ),
                Some(t) => format!(
                    "Scenario {} was stopped {ran}: {t} failed and has abort_on_fail.",
                    sc.name
                ),
                None => format!(
                    "Scenario {} was stopped {ran} by an abort_on_fail threshold.",
                    sc.name
                ),
            }),
            ScenarioStatus::Interrupted => notes.push(format!(
                "Scenario {} was interrupted {ran}; the figures cover only what ran.",
                sc.name
            )),
            ScenarioStatus::Completed => {}
        }
    }
    if s.run.interrupted
        && !s
            .scenarios
            .iter()
            .any(|sc| sc.status == ScenarioStatus::Interrupted)
    {
        notes.push("The run was interrupted; the figures cover only what ran.".into());
    }
    if v.inconclusive {
        let unconnected = |r: &String| r.contains(crate::summary::analysis::UNCONNECTED);
        let reasons = &s.health.reasons;
        if !reasons.is_empty() && reasons.iter().all(unconnected) {
            // The generator kept up; what it measured was its own retries.
            notes.push(format!("Inconclusive: {}.", reasons.join("; ")));
        } else {
            let why = if reasons.is_empty() {
                String::new()
            } else {
                format!(": {}", reasons.join("; "))
            };
            notes.push(format!(
                "Inconclusive: the load generator did not keep up, so the figures may blame the \
                 target for the generator's limits{why}."
            ));
        }
    }
    let named = |keep: &dyn Fn(&ThresholdResult) -> bool| -> Vec<String> {
        s.thresholds()
            .filter(|(_, t)| t.observed.is_none() && keep(t))
            .map(|(sc, t)| {
                if several {
                    format!("{} {} ({})", t.metric, t.expression, sc.name)
                } else {
                    format!("{} {}", t.metric, t.expression)
                }
            })
            .collect()
    };
    let skipped = named(&|t| t.status == ThresholdStatus::NoData);
    if !skipped.is_empty() {
        notes.push(format!(
            "{} had no data and could not be judged: {}.",
            plural(skipped.len(), "threshold", "thresholds"),
            name_some(skipped)
        ));
    }
    let as_zero = named(&|t| t.status != ThresholdStatus::NoData);
    if !as_zero.is_empty() {
        notes.push(format!(
            "{} had no data and {} judged as 0, as k6 judges a trend, counter or gauge without samples: {}.",
            plural(as_zero.len(), "threshold", "thresholds"),
            if as_zero.len() == 1 { "was" } else { "were" },
            name_some(as_zero)
        ));
    }
    if let Some(note) = s.baseline.as_ref().and_then(|b| b.note.as_ref()) {
        notes.push(format!("Baseline: {note}."));
    }
    notes
}

/// A table of figures side by side (baseline and current, or the first and last window), with
/// the limits judged on them.
#[derive(Debug, Serialize)]
pub(crate) struct Comparison {
    /// `vs baseline`, `Drift`.
    pub title: String,
    /// Where the other side comes from, or what the windows are.
    pub subtitle: String,
    /// Column names: `baseline`/`current`, `first 60s`/`last 60s`.
    pub a_label: String,
    pub b_label: String,
    pub rows: Vec<ComparisonRow>,
    /// One line under the table (drift: the trend lines).
    pub note: String,
    /// `regression limit`, `drift limit`.
    pub rule_label: String,
    pub rules: Vec<RuleRow>,
}

#[derive(Debug, Serialize)]
pub(crate) struct ComparisonRow {
    pub label: &'static str,
    pub a: String,
    pub b: String,
    /// `+26.3%`, or `—` when there is nothing to compare.
    pub change: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct RuleRow {
    /// `pass`, `fail`, `no_data`.
    pub status: &'static str,
    /// ✅ ❌ ⚪ (Markdown) and ✓ ✗ ○ (console, HTML).
    pub icon: &'static str,
    pub symbol: &'static str,
    pub name: String,
    pub a: String,
    pub b: String,
    pub limit: String,
}

/// `+26.3%`, `-4.0%`, or `—`.
pub(crate) fn change(d: &Delta) -> String {
    match d.change_pct {
        Some(p) => format!("{p:+.1}%"),
        None => "—".into(),
    }
}

pub(crate) fn icon(s: ThresholdStatus) -> &'static str {
    match s {
        ThresholdStatus::Pass => "✅",
        ThresholdStatus::Fail => "❌",
        ThresholdStatus::NoData => "⚪",
    }
}

pub(crate) fn symbol(s: ThresholdStatus) -> &'static str {
    match s {
        ThresholdStatus::Pass => "✓",
        ThresholdStatus::Fail => "✗",
        ThresholdStatus::NoData => "○",
    }
}

pub(crate) fn status_name(s: ThresholdStatus) -> &'static str {
    match s {
        ThresholdStatus::Pass => "pass",
        ThresholdStatus::Fail => "fail",
        ThresholdStatus::NoData => "no_data",
    }
}

fn rule_rows(sc: &ScenarioSummary, rules: &[&RegressionResult]) -> Vec<RuleRow> {
    rules
        .iter()
        .map(|r| RuleRow {
            status: status_name(r.status),
            icon: icon(r.status),
            symbol: symbol(r.status),
            name: format!("{} {}", r.metric, r.rule),
            a: metric_value(Some(sc), &r.metric, r.baseline),
            b: metric_value(Some(sc), &r.metric, r.current),
            limit: metric_value(Some(sc), &r.metric, r.limit),
        })
        .collect()
}

/// The rows of a comparison: p50, p95, p99, error rate and req/s, from baseline (`a`) to
/// current (`b`).
fn rows(d: [&Delta; 5]) -> Vec<ComparisonRow> {
    let row = |label, d: &Delta, f: fn(Option<f64>) -> String| ComparisonRow {
        label,
        a: f(d.baseline),
        b: f(d.current),
        change: change(d),
    };
    vec![
        row("p50", d[0], opt_ms),
        row("p95", d[1], opt_ms),
        row("p99", d[2], opt_ms),
        row("error rate", d[3], opt_pct),
        row("req/s", d[4], opt_rps),
    ]
}

fn opt_pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), percent)
}

fn opt_rps(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| num(v, 1))
}

fn signed(v: Option<f64>, unit: &str, decimals: usize) -> String {
    match v {
        Some(v) => format!(
            "{}{}{unit}",
            if v >= 0.0 { "+" } else { "-" },
            num(v.abs(), decimals)
        ),
        None => "—".into(),
    }
}

/// The scenario's comparisons: against the baseline (when the run had one) and its drift
/// (when the plan asked for it).
pub(crate) fn comparisons(s: &Summary, sc: &ScenarioSummary) -> Vec<Comparison> {
    let mut out = Vec::new();
    if let Some(b) = &s.baseline {
        if let Some(c) = b.scenarios.iter().find(|c| c.name == sc.name) {
            let o = &c.overall;
            let rules: Vec<&RegressionResult> = b
                .regressions
                .iter()
                .filter(|r| r.scenario == sc.name)
                .collect();
            out.push(Comparison {
                title: "vs baseline".into(),
                subtitle: format!("{}, started {}", b.source, b.baseline_started_at),
                a_label: "baseline".into(),
                b_label: "current".into(),
                rows: rows([&o.p50, &o.p95, &o.p99, &o.error_rate, &o.rps]),
                note: String::new(),
                rule_label: "regression limit".into(),
                rules: rule_rows(sc, &rules),
            });
        }
    }
    if let Some(d) = &sc.drift {
        let (f, l) = (&d.first, &d.last);
        let rules: Vec<&RegressionResult> = d.rules.iter().collect();
        let window = super::format::duration_s(d.window_s);
        let sl = &d.slopes;
        let trend = [sl.p95_ms_per_h, sl.error_rate_per_h, sl.rps_per_h]
            .iter()
            .any(Option::is_some);
        let note = if !d.judged {
            format!(
                "Not judged: the scenario's steady part ran {}, fewer than two {window} windows.",
                super::format::duration_s(d.steady_s)
            )
        } else if trend {
            format!(
                "Trend over the run: p95 {}, error rate {}, throughput {}.",
                signed(sl.p95_ms_per_h, " ms/h", 1),
                signed(sl.error_rate_per_h.map(|v| v * 100.0), " %/h", 2),
                signed(sl.rps_per_h, " req/s per h", 1),
            )
        } else {
            String::new()
        };
        out.push(Comparison {
            title: "Drift".into(),
            subtitle: format!("the first {window} against the last {window}"),
            a_label: format!("first {window}"),
            b_label: format!("last {window}"),
            rows: if d.judged {
                rows([
                    &Delta::new(f.p50, l.p50),
                    &Delta::new(f.p95, l.p95),
                    &Delta::new(f.p99, l.p99),
                    &Delta::new(f.error_rate, l.error_rate),
                    &Delta::new(Some(f.rps), Some(l.rps)),
                ])
            } else {
                Vec::new()
            },
            note,
            rule_label: "drift limit".into(),
            rules: rule_rows(sc, &rules),
        });
    }
    out
}

/// The scenario's capacity as a sentence: `Capacity ≈ 64 VUs / 130 req/s; ...`, or empty.
pub(crate) fn capacity(sc: &ScenarioSummary) -> String {
    let Some(c) = &sc.capacity else {
        return String::new();
    };
    let mut chars = c.text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// One endpoint against the baseline.
#[derive(Debug, Serialize)]
pub(crate) struct EndpointDeltaRow {
    pub name: String,
    pub p95: String,
    pub p99: String,
    pub error_rate: String,
    pub rps: String,
}

fn arrow(d: &Delta, f: fn(Option<f64>) -> String) -> String {
    format!("{} → {} ({})", f(d.baseline), f(d.current), change(d))
}

pub(crate) fn endpoint_deltas(s: &Summary, sc: &ScenarioSummary) -> Vec<EndpointDeltaRow> {
    let Some(c) = s
        .baseline
        .iter()
        .flat_map(|b| &b.scenarios)
        .find(|c| c.name == sc.name)
    else {
        return Vec::new();
    };
    c.endpoints
        .iter()
        .map(|e| EndpointDeltaRow {
            name: e.name.clone(),
            p95: arrow(&e.p95, opt_ms),
            p99: arrow(&e.p99, opt_ms),
            error_rate: arrow(&e.error_rate, opt_pct),
            rps: arrow(&e.rps, opt_rps),
        })
        .collect()
}

/// How many reasons of one error class the reports name; the others are counted together.
pub(crate) const REASONS_PER_CLASS: usize = 3;

/// Why requests failed, one line per reason, the classes with the most failed requests first
/// and in each the most common reasons: `tls: certificate expired (2,227)`. Past `per_class`
/// reasons, the rest of a class (and what no reason explains) is one line, `tls: other reasons
/// (12)`; a class without any reason (a summary written before reasons were counted) is
/// `tls (4)`.
pub(crate) fn error_reasons(
    errors: &BTreeMap<String, u64>,
    reasons: &BTreeMap<String, BTreeMap<String, u64>>,
    per_class: usize,
) -> Vec<String> {
    let mut classes: Vec<(&String, u64)> = errors
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| (c, *n))
        .collect();
    classes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut lines = Vec::new();
    for (class, total) in classes {
        let mut why: Vec<(&String, u64)> = reasons
            .get(class)
            .map(|m| {
                m.iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(r, n)| (r, *n))
                    .collect()
            })
            .unwrap_or_default();
        if why.is_empty() {
            lines.push(format!("{class} ({})", int(total)));
            continue;
        }
        why.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let mut named = 0;
        for (reason, n) in why.iter().take(per_class) {
            lines.push(format!("{class}: {reason} ({})", int(*n)));
            named += n;
        }
        if total > named {
            lines.push(format!("{class}: other reasons ({})", int(total - named)));
        }
    }
    lines
}

/// [`error_reasons`] of one endpoint.
pub(crate) fn endpoint_errors(e: &Endpoint) -> Vec<String> {
    error_reasons(&e.errors, &e.reasons, REASONS_PER_CLASS)
}

/// [`error_reasons`] of a whole scenario: its endpoints' added up.
pub(crate) fn scenario_errors(sc: &ScenarioSummary) -> Vec<String> {
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut reasons: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for e in &sc.endpoints {
        for (class, n) in &e.errors {
            *errors.entry(class.clone()).or_default() += n;
        }
        for (class, why) in &e.reasons {
            let mine = reasons.entry(class.clone()).or_default();
            for (reason, n) in why {
                *mine.entry(reason.clone()).or_default() += n;
            }
        }
    }
    error_reasons(&errors, &reasons, REASONS_PER_CLASS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    #[test]
    fn headline_names_every_kind_of_failure_with_its_values() {
        let h = headline(&testdata::load("regressed"));
        assert_eq!(h.outcome, Outcome::Failed);
        let text = h.text();
        assert!(
            text.starts_with("Load test failed — 1 regression limit and 1 drift limit failed: http_req_duration p(95) +10% against the baseline ("),
            "{text}"
        );
        assert!(
            text.contains("http_req_duration p(95) +25% over the run ("),
            "{text}"
        );
        assert!(
            h.notes.iter().any(|n| n
                .starts_with("Inconclusive: the load generator did not keep up")
                && n.contains("94%")),
            "{:?}",
            h.notes
        );
    }

    #[test]
    fn failures_of_several_scenarios_are_not_named_twice() {
        let s = testdata::load("failed");
        assert!(
            s.verdict.failed[0].starts_with("auth: "),
            "{:?}",
            s.verdict.failed
        );
        let text = headline(&s).text();
        assert_eq!(
            text.matches("http_req_duration p(95)<500").count(),
            1,
            "{text}"
        );
    }

    #[test]
    fn a_long_list_of_failures_is_cut() {
        let names: Vec<String> = (0..8).map(|i| format!("m{i}")).collect();
        assert_eq!(name_some(names), "m0, m1, m2, m3, m4 and 3 more");
    }

    #[test]
    fn comparisons_for_baseline_and_drift() {
        let s = testdata::load("regressed");
        let c = comparisons(&s, &s.scenarios[0]);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].title, "vs baseline");
        assert_eq!(c[0].rules.len(), 3);
        assert_eq!(c[0].rules[0].status, "fail");
        assert!(c[0].rows[1].change.starts_with('+'), "{:?}", c[0].rows[1]);
        assert_eq!(c[1].a_label, "first 1m 0s");
        assert_eq!(c[1].rules[0].status, "fail");
        assert!(
            c[1].note.starts_with("Trend over the run: p95 +"),
            "{}",
            c[1].note
        );
        assert!(comparisons(
            &testdata::load("passed"),
            &testdata::load("passed").scenarios[0]
        )
        .is_empty());
        assert_eq!(endpoint_deltas(&s, &s.scenarios[0]).len(), 5);
    }

    /// The classes with the most requests first, each with its most common reasons; past three,
    /// the rest of a class is one line; a class without reasons (an older summary) alone.
    #[test]
    fn error_reasons_name_the_most_common_first() {
        let map = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
            pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
        };
        let errors = map(&[
            ("connect", 164_294),
            ("tls", 2_240),
            ("reset", 3),
            ("status", 0),
        ]);
        let reasons: BTreeMap<String, BTreeMap<String, u64>> = [
            ("connect", map(&[("connection refused", 164_294)])),
            (
                "tls",
                map(&[
                    ("certificate expired", 2_227),
                    ("alert from the server", 4),
                    ("certificate for another host name", 4),
                    ("certificate revoked", 3),
                    ("record does not decrypt", 1),
                ]),
            ),
        ]
        .into_iter()
        .map(|(c, m)| (c.to_string(), m))
        .collect();
        assert_eq!(
            error_reasons(&errors, &reasons, REASONS_PER_CLASS),
            [
                "connect: connection refused (164,294)",
                "tls: certificate expired (2,227)",
                "tls: alert from the server (4)",
                "tls: certificate for another host name (4)",
                "tls: other reasons (5)",
                "reset (3)",
            ]
        );
    }
}
