//! The Markdown summary (`*_summary.md`): the sticky PR comment, the GitLab MR note and the
//! `$GITHUB_STEP_SUMMARY` page. Verdict first, then a run line, then per scenario a compact
//! table, the thresholds, the endpoints and checks folded in `<details>`, and mermaid charts.
//!
//! A PR comment holds at most 65 536 characters, so the summary is rendered with less detail
//! until it fits: first without charts, then without endpoint tables, then without checks, then
//! with only the thresholds that did not pass, then without scenario sections. The verdict is
//! never cut, and a cut summary says so. The first line is a hidden marker
//! (`<!-- kaizen-loadtest:{plan}:{environment} -->`) the sticky comment is found by.

use handlebars::Handlebars;
use serde::Serialize;

use super::chart;
use super::format::{self, duration_s, int, ms, opt_ms};
use super::outline;
use super::reporter::Reporter;
use crate::summary::schema::{ScenarioStatus, ScenarioSummary, Summary, ThresholdStatus};

/// GitHub's limit for a comment body. Counted in bytes here, which is stricter.
pub(crate) const MAX_LEN: usize = 65_536;
/// Points per mermaid chart: more and GitHub draws an unreadable comb.
const CHART_POINTS: usize = 60;

pub(crate) struct Markdown;

impl Reporter for Markdown {
    fn render(&self, s: &Summary) -> anyhow::Result<Vec<u8>> {
        Ok(render_capped(s, MAX_LEN)?.into_bytes())
    }
}

/// How much of the detail a rendering includes; each level drops more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Detail {
    Full,
    NoCharts,
    NoEndpoints,
    NoChecks,
    FailedThresholdsOnly,
    VerdictOnly,
}

const LEVELS: [Detail; 6] = [
    Detail::Full,
    Detail::NoCharts,
    Detail::NoEndpoints,
    Detail::NoChecks,
    Detail::FailedThresholdsOnly,
    Detail::VerdictOnly,
];

fn render_capped(s: &Summary, max: usize) -> anyhow::Result<String> {
    let hb = engine()?;
    let mut last = String::new();
    for level in LEVELS {
        last = hb.render("summary", &view(s, level))?;
        if last.len() < max {
            return Ok(last);
        }
    }
    // Only a verdict and run line longer than the limit get here (absurd names): cut at a
    // character boundary, keeping the verdict that comes first.
    let mut end = max - 1;
    while !last.is_char_boundary(end) {
        end -= 1;
    }
    last.truncate(end);
    Ok(last)
}

fn engine() -> anyhow::Result<Handlebars<'static>> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(md_escape);
    hb.register_template_string("summary", include_str!("templates/summary.md.hbs"))?;
    Ok(hb)
}

/// Text that renders as itself in GitHub Markdown and cannot break a table or open an HTML
/// tag. `<` followed by a digit (`p(95)<500`) is left alone: it cannot start a tag.
fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '|' | '\\' | '`' | '*' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '<' if chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphabetic() || matches!(n, '/' | '!' | '?')) =>
            {
                out.push_str("&lt;")
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The hidden marker's text: no `--` (which would end the comment early) and one line.
fn marker(s: &Summary) -> String {
    let raw = format!("{}:{}", s.run.plan_name, s.run.environment);
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '-' if out.ends_with('-') => {}
            '\n' | '\r' | '>' | '<' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A link target that stays inside `(...)`.
fn url(u: &str) -> String {
    u.chars()
        .map(|c| match c {
            ' ' => "%20".to_string(),
            '(' => "%28".to_string(),
            ')' => "%29".to_string(),
            '<' => "%3C".to_string(),
            '>' => "%3E".to_string(),
            c if c.is_control() => String::new(),
            c => c.to_string(),
        })
        .collect()
}

#[derive(Serialize)]
struct View {
    marker: String,
    icon: &'static str,
    headline: String,
    cut: bool,
    notes: Vec<String>,
    run: RunView,
    scenarios: Vec<ScenarioView>,
}

#[derive(Serialize)]
struct RunView {
    plan: String,
    environment: String,
    scenarios: String,
    duration: String,
    commit: String,
    ci_url: String,
}

#[derive(Serialize)]
struct ScenarioView {
    name: String,
    executor: String,
    vus_max: String,
    duration: String,
    status_note: String,
    row: Row,
    open_model: Option<OpenModelView>,
    thresholds: Vec<ThresholdRow>,
    thresholds_cut: usize,
    capacity: String,
    /// Why requests failed: `tls: certificate expired (4)`.
    errors: Vec<String>,
    comparisons: Vec<outline::Comparison>,
    endpoint_deltas: Vec<outline::EndpointDeltaRow>,
    endpoints: Vec<EndpointRow>,
    endpoint_count: usize,
    checks: Vec<CheckRow>,
    check_count: usize,
    checks_failing: usize,
    chart: String,
}

#[derive(Serialize)]
struct Row {
    requests: String,
    rps: String,
    p50: String,
    p95: String,
    p99: String,
    error_rate: String,
    checks: String,
}

#[derive(Serialize)]
struct OpenModelView {
    lag_p99: String,
    lag_max: String,
    raw_p95: String,
    raw_p99: String,
}

#[derive(Serialize)]
struct ThresholdRow {
    icon: &'static str,
    name: String,
    observed: String,
    limit: String,
}

#[derive(Serialize)]
struct EndpointRow {
    name: String,
    requests: String,
    failed: String,
    rps: String,
    p50: String,
    p95: String,
    p99: String,
    max: String,
    statuses: String,
    errors: String,
}

#[derive(Serialize)]
struct CheckRow {
    icon: &'static str,
    name: String,
    passes: String,
    fails: String,
}

fn view(s: &Summary, detail: Detail) -> View {
    let h = outline::headline(s);
    View {
        marker: marker(s),
        icon: h.icon(),
        headline: h.text(),
        cut: detail > Detail::Full,
        notes: h.notes,
        run: RunView {
            plan: s.run.plan_name.clone(),
            environment: s.run.environment.clone(),
            scenarios: s.run.scenarios.join(", "),
            duration: duration_s(s.run.duration_s),
            commit: s
                .run
                .git_sha
                .as_deref()
                .map(|c| c.chars().take(12).collect())
                .unwrap_or_default(),
            ci_url: s.run.ci_run_url.as_deref().map(url).unwrap_or_default(),
        },
        scenarios: if detail >= Detail::VerdictOnly {
            Vec::new()
        } else {
            s.scenarios
                .iter()
                .map(|sc| scenario(s, sc, detail))
                .collect()
        },
    }
}

fn scenario(s: &Summary, sc: &ScenarioSummary, detail: Detail) -> ScenarioView {
    let status_note = match sc.status {
        ScenarioStatus::Completed => String::new(),
        ScenarioStatus::Aborted => "⚠️ aborted".into(),
        ScenarioStatus::Interrupted => "⚠️ interrupted".into(),
    };
    let mut thresholds = Vec::new();
    let mut thresholds_cut = 0;
    for t in &sc.thresholds {
        if detail >= Detail::FailedThresholdsOnly && t.status == ThresholdStatus::Pass {
            thresholds_cut += 1;
            continue;
        }
        thresholds.push(ThresholdRow {
            icon: outline::icon(t.status),
            name: format!("{} {}", t.metric, t.expression),
            observed: format::observed(t),
            limit: format::limit(t),
        });
    }
    let endpoints = if detail >= Detail::NoEndpoints {
        Vec::new()
    } else {
        sc.endpoints
            .iter()
            .map(|e| EndpointRow {
                name: if e.group.is_empty() {
                    format!("{} {}", e.method, e.name)
                } else {
                    format!("{} {} ({})", e.method, e.name, e.group)
                },
                requests: int(e.requests),
                failed: int(e.failed),
                rps: format::num(e.rps, 1),
                p50: ms(e.latency.med),
                p95: ms(e.latency.p95),
                p99: ms(e.latency.p99),
                max: ms(e.latency.max),
                statuses: e
                    .statuses
                    .iter()
                    .map(|(code, n)| {
                        let code = if code == "0" { "no response" } else { code };
                        format!("{code}: {}", int(*n))
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                errors: outline::endpoint_errors(e).join(", "),
            })
            .collect()
    };
    let checks: Vec<CheckRow> = if detail >= Detail::NoChecks {
        Vec::new()
    } else {
        sc.checks
            .iter()
            .map(|c| CheckRow {
                icon: if c.fails > 0 { "❌" } else { "✅" },
                name: c.name.clone(),
                passes: int(c.passes),
                fails: int(c.fails),
            })
            .collect()
    };
    let chart = if detail >= Detail::NoCharts || sc.timeseries.points.is_empty() {
        String::new()
    } else {
        chart::mermaid(
            &sc.name,
            &chart::downsample(&sc.timeseries, sc.duration_s, CHART_POINTS),
        )
    };
    ScenarioView {
        name: sc.name.clone(),
        executor: sc.executor.clone(),
        vus_max: int(sc.vus_max),
        duration: duration_s(sc.duration_s),
        status_note,
        row: Row {
            requests: int(sc.requests),
            rps: format::num(sc.rps, 1),
            p50: opt_ms(format::duration_stat(sc, "med")),
            p95: opt_ms(format::duration_stat(sc, "p(95)")),
            p99: opt_ms(format::duration_stat(sc, "p(99)")),
            error_rate: format::error_rate(sc),
            checks: format::checks_cell(sc),
        },
        open_model: sc.open_model.as_ref().map(|o| OpenModelView {
            lag_p99: ms(o.start_lag_p99_ms),
            lag_max: ms(o.start_lag_max_ms),
            raw_p95: ms(o.raw_p95_ms),
            raw_p99: ms(o.raw_p99_ms),
        }),
        thresholds,
        thresholds_cut,
        capacity: outline::capacity(sc),
        errors: outline::scenario_errors(sc),
        comparisons: outline::comparisons(s, sc),
        endpoint_deltas: if detail >= Detail::NoEndpoints {
            Vec::new()
        } else {
            outline::endpoint_deltas(s, sc)
        },
        checks_failing: sc.checks.iter().filter(|c| c.fails > 0).count(),
        endpoint_count: endpoints.len(),
        check_count: checks.len(),
        endpoints,
        checks,
        chart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;
    use crate::summary::schema::{Endpoint, Latency};

    fn render(s: &Summary) -> String {
        String::from_utf8(Markdown.render(s).unwrap()).unwrap()
    }

    #[test]
    fn failed_fixture() {
        let md = render(&testdata::load("failed"));
        insta::assert_snapshot!("markdown_failed", md);
        let mut lines = md.lines();
        assert_eq!(
            lines.next(),
            Some("<!-- kaizen-loadtest:kaizen-studio:staging -->")
        );
        assert_eq!(
            lines.next(),
            Some("## ❌ Load test failed — 2 thresholds failed: http_req_duration p(95)<500 (observed 968.2 ms in auth), http_req_failed rate<0.05 (observed 6.32% in auth)")
        );
        assert!(md.contains(
            "| ✅ | http_req_duration{name:logout} p(95)<150 | no data, judged as 0 | 150 ms |"
        ));
        assert!(md.contains("| ⚪ | http_req_failed{name:logout} rate<0.01 | no data | 1% |"));
        assert!(md.contains("<details><summary>Endpoints (3)</summary>"));
        assert!(md.contains("xychart-beta"));
        assert!(!md.contains("details cut to fit"));
        for block in md.split("```mermaid").skip(1) {
            let xs = block.lines().find(|l| l.contains("x-axis")).unwrap();
            assert!(xs.matches(',').count() < CHART_POINTS, "{xs}");
        }
    }

    #[test]
    fn passed_interrupted_and_aborted_headlines() {
        let md = render(&testdata::load("passed"));
        insta::assert_snapshot!("markdown_passed", md);
        assert!(md.contains("\n## ✅ Load test passed\n"));
        let md = render(&testdata::load("interrupted"));
        assert!(md.contains("\n## ⚠️ Load test interrupted\n"), "{md}");
        assert!(md.contains("- Scenario smoke was interrupted after 12.3s of 30s planned; the figures cover only what ran."));
        let md = render(&testdata::load("aborted"));
        assert!(md.contains("\n## ❌ Load test failed — 1 threshold failed: http_req_failed rate<0.05 (observed "), "{md}");
        assert!(md.contains("- Scenario stress was stopped after 1m 36s of 5m 0s planned: http_req_failed rate<0.05 failed and has abort_on_fail."));
        assert!(md.contains("### stress · ramping-vus · 158 VUs max · 1m 36s · ⚠️ aborted"));
    }

    #[test]
    fn baseline_drift_capacity_and_health() {
        let md = render(&testdata::load("regressed"));
        insta::assert_snapshot!("markdown_regressed", md);
        assert!(
            md.contains("\n## ❌ Load test failed — 1 regression limit and 1 drift limit failed: ")
        );
        assert!(md.contains("\n- Inconclusive: the load generator did not keep up"));
        assert!(md.contains("\n**vs baseline** (soak_staging_20260223T140000Z_summary.json, started 2026-02-23T14:00:00Z)\n"));
        assert!(md.contains("| | regression limit | baseline | current | limit |"));
        assert!(md.contains("\n**Drift** (the first 1m 0s against the last 1m 0s)\n"));
        assert!(md.contains("<details><summary>Endpoints against the baseline</summary>"));
        let md = render(&testdata::load("aborted"));
        assert!(md.contains("\nCapacity ≈ "), "{md}");
    }

    #[test]
    fn names_cannot_break_tables_or_open_tags() {
        assert_eq!(
            md_escape("a|b <script> p(95)<500 `x`"),
            r"a\|b &lt;script> p(95)<500 \`x\`"
        );
        let mut s = testdata::load("passed");
        s.run.plan_name = "evil --> <b>".into();
        let md = render(&s);
        assert!(
            md.starts_with("<!-- kaizen-loadtest:evil -   b :local -->\n"),
            "{md}"
        );
    }

    #[test]
    fn a_huge_summary_is_cut_to_fit_and_keeps_the_verdict() {
        let mut s = testdata::load("failed");
        let template = s.scenarios[0].endpoints[0].clone();
        for sc in &mut s.scenarios {
            sc.endpoints = (0..500)
                .map(|i| Endpoint {
                    name: format!("endpoint_with_a_long_name_{i:03}"),
                    latency: Latency {
                        p95: i as f64,
                        ..template.latency
                    },
                    ..template.clone()
                })
                .collect();
        }
        let md = render(&s);
        assert!(md.len() < MAX_LEN, "{}", md.len());
        assert!(md.contains("## ❌ Load test failed — 2 thresholds failed"));
        assert!(md.contains("(details cut to fit"));
        assert!(!md.contains("xychart-beta"), "charts go first");
        assert!(!md.contains("endpoint_with_a_long_name"), "then endpoints");
        assert!(
            md.contains("| ❌ | http_req_duration p(95)<500 |"),
            "thresholds stay"
        );
        assert!(
            md.contains("Checks (3, 3 failing)"),
            "checks stay while they fit"
        );

        // With a tiny limit everything but the verdict goes.
        let tiny = render_capped(&s, 700).unwrap();
        assert!(tiny.len() < 700);
        assert!(
            tiny.contains("## ❌ Load test failed — 2 thresholds failed"),
            "{tiny}"
        );
    }
}
