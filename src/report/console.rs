//! The end-of-run summary for the terminal, laid out like k6's so a k6 user reads it at a
//! glance: the verdict, then per scenario its thresholds (✓/✗), its checks, why requests failed
//! (`tls: certificate expired (4)`), and one dotted line per metric. Plain text, no colour: it goes to CI logs as often as to a terminal. It says
//! nothing about report files; the caller lists those after it.

use std::fmt::Write as _;

use super::format::{self, bytes, duration_s, int, k6_duration, num, percent};
use super::outline;
use crate::summary::schema::{
    Metric, MetricType, ScenarioStatus, ScenarioSummary, Summary, ThresholdStatus,
};

/// The k6-like end-of-run summary: verdict, thresholds, checks, metrics.
pub fn console(s: &Summary) -> String {
    let h = outline::headline(s);
    let mut out = String::new();
    let _ = writeln!(out, "\n  {} {}", h.symbol(), h.text());
    for note in &h.notes {
        let _ = writeln!(out, "    {note}");
    }
    let _ = writeln!(
        out,
        "\n  plan {} · environment {} · {} · {}",
        s.run.plan_name,
        s.run.environment,
        s.run.base_url,
        duration_s(s.run.duration_s)
    );
    let width = s
        .scenarios
        .iter()
        .flat_map(|sc| sc.metrics.keys())
        .map(|k| display_name(k).chars().count())
        .max()
        .unwrap_or(0)
        + 3;
    for sc in &s.scenarios {
        scenario(&mut out, s, sc, width.max(24));
    }
    out
}

fn scenario(out: &mut String, s: &Summary, sc: &ScenarioSummary, width: usize) {
    let status = if sc.status == ScenarioStatus::Completed {
        String::new()
    } else {
        format!(" · {}", sc.status.as_str().to_uppercase())
    };
    let _ = writeln!(
        out,
        "\n  █ {} · {} · {} VUs max · {} of {} planned{status}",
        sc.name,
        sc.executor,
        sc.vus_max,
        duration_s(sc.duration_s),
        duration_s(sc.planned_duration_s)
    );

    if !sc.thresholds.is_empty() {
        let _ = writeln!(out, "\n    THRESHOLDS");
        let mut last_metric = None;
        for t in &sc.thresholds {
            if last_metric != Some(&t.metric) {
                let _ = writeln!(out, "\n    {}", t.metric);
                last_metric = Some(&t.metric);
            }
            let (mark, value) = match t.status {
                ThresholdStatus::Pass => ("✓", observed_as(t)),
                ThresholdStatus::Fail => ("✗", observed_as(t)),
                ThresholdStatus::NoData => ("○", format::observed(t)),
            };
            let _ = writeln!(out, "    {mark} '{}' {value}", t.expression);
        }
    }

    if !sc.checks.is_empty() {
        let _ = writeln!(out, "\n    CHECKS\n");
        for c in &sc.checks {
            if c.fails == 0 {
                let _ = writeln!(out, "    ✓ {}", c.name);
            } else {
                let total = c.passes + c.fails;
                let _ = writeln!(
                    out,
                    "    ✗ {}\n     ↳  {}% — ✓ {} / ✗ {}",
                    c.name,
                    (c.passes as f64 / total as f64 * 100.0).floor(),
                    c.passes,
                    c.fails
                );
            }
        }
    }

    let errors = outline::scenario_errors(sc);
    if !errors.is_empty() {
        let _ = writeln!(out, "\n    ERRORS\n");
        for line in &errors {
            let _ = writeln!(out, "    ✗ {line}");
        }
    }

    for c in outline::comparisons(s, sc) {
        let _ = writeln!(out, "\n    {} ({})\n", c.title.to_uppercase(), c.subtitle);
        for r in &c.rows {
            let _ = writeln!(out, "    {:<11}{} → {} ({})", r.label, r.a, r.b, r.change);
        }
        if !c.note.is_empty() {
            let _ = writeln!(out, "    {}", c.note);
        }
        if !c.rules.is_empty() {
            let _ = writeln!(out);
        }
        for r in &c.rules {
            let _ = writeln!(
                out,
                "    {} {}  {} → {} (limit {})",
                r.symbol, r.name, r.a, r.b, r.limit
            );
        }
    }

    let capacity = outline::capacity(sc);
    if !capacity.is_empty() {
        let _ = writeln!(out, "\n    {capacity}");
    }

    if let Some(o) = &sc.open_model {
        let _ = writeln!(
            out,
            "\n    open model: start lag p50={} p99={} max={}; from the actual send p(95)={} p(99)={}",
            k6_duration(o.start_lag_p50_ms),
            k6_duration(o.start_lag_p99_ms),
            k6_duration(o.start_lag_max_ms),
            k6_duration(o.raw_p95_ms),
            k6_duration(o.raw_p99_ms)
        );
    }

    if sc.metrics.is_empty() {
        return;
    }
    let _ = writeln!(out);
    // Sub-metrics follow their metric, as in k6.
    let mut keys: Vec<&String> = sc.metrics.keys().collect();
    keys.sort_by_key(|k| (base(k).to_string(), k.contains('{'), k.to_string()));
    let rows: Vec<(String, Vec<String>, bool)> = keys
        .iter()
        .map(|k| {
            let m = &sc.metrics[*k];
            (display_name(k), cells(k, m), m.kind == MetricType::Trend)
        })
        .collect();
    // Columns line up within trends and within the other metrics, as in k6.
    let widths = |trend: bool| {
        let mut w: Vec<usize> = Vec::new();
        for (_, cells, _) in rows.iter().filter(|r| r.2 == trend) {
            for (i, c) in cells.iter().enumerate() {
                let len = c.chars().count();
                if w.len() <= i {
                    w.push(len);
                } else {
                    w[i] = w[i].max(len);
                }
            }
        }
        w
    };
    let (trend_w, other_w) = (widths(true), widths(false));
    for (name, cells, trend) in &rows {
        let w = if *trend { &trend_w } else { &other_w };
        let dots = ".".repeat(width.saturating_sub(name.chars().count()).max(1));
        let mut line = format!("    {name}{dots}: ");
        for (i, c) in cells.iter().enumerate() {
            if i + 1 < cells.len() {
                let pad = w[i].saturating_sub(c.chars().count());
                let _ = write!(line, "{c}{} ", " ".repeat(pad));
            } else {
                line.push_str(c);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// `p(95)=968.2 ms`: the aggregation the expression judges, with the observed value (or
/// `no data, judged as 0`).
fn observed_as(t: &crate::summary::schema::ThresholdResult) -> String {
    if t.observed.is_none() {
        return format::observed(t);
    }
    let method: String = t
        .expression
        .chars()
        .take_while(|c| !matches!(c, '<' | '>' | '=' | '!'))
        .collect();
    format!("{}={}", method.trim(), format::observed(t))
}

fn base(key: &str) -> &str {
    key.split('{').next().unwrap_or(key)
}

/// `http_req_duration{name:login}` shows as `  { name:login }` under its metric, as in k6.
fn display_name(key: &str) -> String {
    match key.find('{') {
        Some(i) => format!("  {{ {} }}", key[i + 1..].trim_end_matches('}')),
        None => key.to_string(),
    }
}

/// Six significant digits, like k6's counter rates (`4.36938/s`).
fn sig6(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".into();
    }
    let decimals = (5 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    num(v, decimals)
}

fn cells(key: &str, m: &Metric) -> Vec<String> {
    let v = |k: &str| m.values.get(k).copied().unwrap_or(0.0);
    let is_bytes = matches!(base(key), "data_sent" | "data_received");
    match m.kind {
        MetricType::Trend => ["avg", "min", "med", "max", "p(90)", "p(95)"]
            .iter()
            .filter(|k| m.values.contains_key(**k))
            .map(|k| format!("{k}={}", k6_duration(v(k))))
            .collect(),
        MetricType::Counter if is_bytes => {
            vec![bytes(v("count")), format!("{}/s", bytes(v("rate")))]
        }
        MetricType::Counter => vec![int(v("count") as u64), format!("{}/s", sig6(v("rate")))],
        MetricType::Rate => vec![
            percent(v("rate")),
            format!("✓ {}", v("passes") as u64),
            format!("✗ {}", v("fails") as u64),
        ],
        _ => vec![
            num(v("value"), 3),
            format!("min={}", num(v("min"), 3)),
            format!("max={}", num(v("max"), 3)),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    #[test]
    fn failed_fixture() {
        let text = console(&testdata::load("failed"));
        insta::assert_snapshot!("console_failed", text);
        assert!(text.contains("\n  ✗ Load test failed — 2 thresholds failed: http_req_duration p(95)<500 (observed 968.2 ms in auth)"));
        assert!(text.contains("\n    ✗ 'p(95)<500' p(95)=968.2 ms\n"));
        // Without samples, as k6: a trend judged as 0, a rate skipped; both say "no data".
        assert!(text.contains("\n    ✓ 'p(95)<150' no data, judged as 0\n"));
        assert!(text.contains("\n    ○ 'rate<0.01' no data\n"));
        assert!(text.contains("\n    Scenario agents: 4 iterations dropped (no free VU).\n"));
        assert!(text.contains("\n    ✗ create_agent: status is 201\n     ↳  99% — ✓ 1196 / ✗ 4\n"));
        assert!(!text.contains("\x1b["), "no colour");
        assert!(
            !text.contains(".json") && !text.contains(".xml"),
            "no file names"
        );
    }

    #[test]
    fn metric_lines_are_dotted_and_aligned() {
        let text = console(&testdata::load("passed"));
        insta::assert_snapshot!("console_passed", text);
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("...")).collect();
        assert!(lines.len() >= 8, "{text}");
        let colon = lines[0].find(": ").unwrap();
        assert!(lines.iter().all(|l| l.find(": ") == Some(colon)), "{text}");
        assert!(text.contains("    http_reqs"));
        assert!(
            text.contains("    http_reqs...............: 300     10/s\n"),
            "{text}"
        );
    }

    #[test]
    fn baseline_drift_and_capacity() {
        let text = console(&testdata::load("regressed"));
        assert!(text.contains("\n    VS BASELINE (soak_staging_20260223T140000Z_summary.json, started 2026-02-23T14:00:00Z)\n"), "{text}");
        assert!(
            text.contains("\n    p95        95.0 ms → 122.7 ms (+29.1%)\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\n    ✗ http_req_duration p(95) +10%  95.0 ms → 122.7 ms (limit 104.5 ms)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\n    DRIFT (the first 1m 0s against the last 1m 0s)\n"),
            "{text}"
        );
        assert!(
            text.contains("    Inconclusive: the load generator did not keep up"),
            "{text}"
        );
        let text = console(&testdata::load("aborted"));
        assert!(text.contains("\n    Capacity ≈ "), "{text}");
    }

    #[test]
    fn sub_metrics_sit_under_their_metric() {
        assert_eq!(
            display_name("http_req_duration{name:login}"),
            "  { name:login }"
        );
        assert_eq!(sig6(4.369380123), "4.36938");
        assert_eq!(sig6(1234.5678), "1234.57");
    }
}
