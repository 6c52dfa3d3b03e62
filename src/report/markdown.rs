//! The Markdown summary (`*_summary.md`): the sticky PR comment, the GitLab MR note and the
//! `$GITHUB_STEP_SUMMARY` page. Verdict first, then a run line, then per scenario a compact
//! table, the thresholds, the endpoints and checks folded in `<details>`, and mermaid charts.
//!
//! A PR comment holds at most 65 536 characters (the job summary 1 MiB), so the summary is
//! rendered with less detail until it fits ([`render_within`]): first without charts, then with
//! the ten, the three, the one most telling endpoints and checks of each scenario (failing
//! first, then the slowest), then without them, then with only the thresholds that did not pass, and
//! at last as one row per scenario and the list of every failed threshold (as many as fit, then
//! how many more). The verdict, the run line and its links are never cut, and a cut summary says
//! so. The first line is a hidden marker (`<!-- kaizen-loadtest:{plan}:{environment} -->`) the
//! sticky comment is found by.

use handlebars::Handlebars;
use serde::Serialize;

use super::chart;
use super::format::{self, duration_s, int, ms, opt_ms};
use super::outline;
use super::reporter::Reporter;
use crate::summary::schema::{ScenarioStatus, ScenarioSummary, Summary, ThresholdStatus};

/// GitHub's limit for a comment body. Counted in bytes here, which is stricter.
pub const MAX_LEN: usize = 65_536;
/// Points per mermaid chart: more and GitHub draws an unreadable comb.
const CHART_POINTS: usize = 60;

pub(crate) struct Markdown;

impl Reporter for Markdown {
    fn render(&self, s: &Summary) -> anyhow::Result<Vec<u8>> {
        Ok(render_within(s, MAX_LEN)?.into_bytes())
    }
}

/// How much of the detail a rendering includes; each level drops more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Detail {
    Full,
    NoCharts,
    /// The ten most telling endpoints and checks of each scenario.
    TopTen,
    TopThree,
    /// The one most telling endpoint and check.
    TopOne,
    NoEndpointsOrChecks,
    FailedThresholdsOnly,
    /// One row per scenario, and every failed threshold in a list.
    Rows,
}

const LEVELS: [Detail; 8] = [
    Detail::Full,
    Detail::NoCharts,
    Detail::TopTen,
    Detail::TopThree,
    Detail::TopOne,
    Detail::NoEndpointsOrChecks,
    Detail::FailedThresholdsOnly,
    Detail::Rows,
];

impl Detail {
    /// How many endpoints and checks of a scenario are shown.
    fn top(self) -> usize {
        match self {
            Detail::Full | Detail::NoCharts => usize::MAX,
            Detail::TopTen => 10,
            Detail::TopThree => 3,
            Detail::TopOne => 1,
            _ => 0,
        }
    }
}

/// The Markdown summary in less than `max` bytes: each level of detail in turn until one fits.
/// The last keeps the verdict, the run line with its links, one row per scenario and as many of
/// the failed thresholds as fit, saying how many more there are.
pub fn render_within(s: &Summary, max: usize) -> anyhow::Result<String> {
    let hb = engine()?;
    let mut last = String::new();
    for level in LEVELS {
        let mut v = view(s, level);
        last = hb.render("summary", &v)?;
        if last.len() < max || level != Detail::Rows {
            if last.len() < max {
                return Ok(last);
            }
            continue;
        }
        // The failed thresholds, as many as fit (the most that keep it under `max`).
        let all = std::mem::take(&mut v.failed);
        let (mut lo, mut hi) = (0, all.len());
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            v.failed = all[..mid].to_vec();
            v.failed_more = all.len() - mid;
            v.failed_shown = true;
            if hb.render("summary", &v)?.len() < max {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        v.failed = all[..lo].to_vec();
        v.failed_more = all.len() - lo;
        v.failed_shown = !all.is_empty();
        last = hb.render("summary", &v)?;
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
    /// The last level: one row per scenario, and the failed thresholds in a list.
    rows: Vec<MinimalRow>,
    failed: Vec<String>,
    failed_more: usize,
    /// Whether the failed list has anything to say (some shown, or a count of the rest).
    failed_shown: bool,
}

#[derive(Serialize, Clone)]
struct MinimalRow {
    name: String,
    status: String,
    row: Row,
}

#[derive(Serialize)]
struct RunView {
    plan: String,
    environment: String,
    scenarios: String,
    duration: String,
    commit: String,
    ci_url: String,
    /// Where the run's report files are: the run page's artifacts on GitHub.
    artifacts_url: String,
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
    /// Endpoints and checks left out at this level (shown: the most telling).
    endpoints_more: usize,
    checks: Vec<CheckRow>,
    check_count: usize,
    checks_more: usize,
    checks_failing: usize,
    chart: String,
}

#[derive(Serialize, Clone)]
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
            artifacts_url: s
                .run
                .ci_run_url
                .as_deref()
                .filter(|u| u.contains("/actions/runs/"))
                .map(|u| format!("{}#artifacts", url(u)))
                .unwrap_or_default(),
        },
        scenarios: if detail >= Detail::Rows {
            Vec::new()
        } else {
            s.scenarios
                .iter()
                .map(|sc| scenario(s, sc, detail))
                .collect()
        },
        rows: if detail >= Detail::Rows {
            s.scenarios.iter().map(minimal_row).collect()
        } else {
            Vec::new()
        },
        failed: if detail >= Detail::Rows {
            failed_list(s)
        } else {
            Vec::new()
        },
        failed_more: 0,
        failed_shown: detail >= Detail::Rows,
    }
}

fn minimal_row(sc: &ScenarioSummary) -> MinimalRow {
    MinimalRow {
        name: sc.name.clone(),
        status: match sc.status {
            ScenarioStatus::Completed => "completed".into(),
            ScenarioStatus::Aborted => "⚠️ aborted".into(),
            ScenarioStatus::Interrupted => "⚠️ interrupted".into(),
        },
        row: row(sc),
    }
}

/// Every threshold that failed, `scenario · metric expression · observed (limit)`, then every
/// broken drift and regression limit, in the verdict's order.
fn failed_list(s: &Summary) -> Vec<String> {
    let mut out: Vec<String> = s
        .thresholds()
        .filter(|(_, t)| t.status == ThresholdStatus::Fail)
        .map(|(sc, t)| {
            format!(
                "{} · {} {} · {} (limit {})",
                sc.name,
                t.metric,
                t.expression,
                format::observed(t),
                format::limit(t)
            )
        })
        .collect();
    out.extend(
        s.verdict
            .failed
            .iter()
            .filter(|f| f.starts_with("drift: ") || f.starts_with("regression: "))
            .cloned(),
    );
    out
}

fn row(sc: &ScenarioSummary) -> Row {
    Row {
        requests: int(sc.requests),
        rps: format::num(sc.rps, 1),
        p50: opt_ms(format::duration_stat(sc, "med")),
        p95: opt_ms(format::duration_stat(sc, "p(95)")),
        p99: opt_ms(format::duration_stat(sc, "p(99)")),
        error_rate: format::error_rate(sc),
        checks: format::checks_cell(sc),
    }
}

/// The indices of `n` items, the most telling first (`key`: larger is more telling), the first
/// `top` of them in their original order.
fn most_telling<K: Ord>(n: usize, top: usize, key: impl Fn(usize) -> K) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    if top < n {
        idx.sort_by_key(|&i| std::cmp::Reverse(key(i)));
        idx.truncate(top);
        idx.sort_unstable();
    }
    idx
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
    let top = detail.top();
    // Failing endpoints first, then the slowest.
    let shown = most_telling(sc.endpoints.len(), top, |i| {
        let e = &sc.endpoints[i];
        (e.failed, (e.latency.p95 * 1000.0) as u64)
    });
    let endpoints_more = sc.endpoints.len() - shown.len();
    let endpoints = {
        shown
            .iter()
            .map(|&i| &sc.endpoints[i])
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
    let shown = most_telling(sc.checks.len(), top, |i| sc.checks[i].fails);
    let checks_more = sc.checks.len() - shown.len();
    let checks: Vec<CheckRow> = {
        shown
            .iter()
            .map(|&i| &sc.checks[i])
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
        row: row(sc),
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
        endpoint_deltas: if detail >= Detail::NoEndpointsOrChecks {
            Vec::new()
        } else {
            outline::endpoint_deltas(s, sc)
        },
        checks_failing: sc.checks.iter().filter(|c| c.fails > 0).count(),
        endpoint_count: sc.endpoints.len(),
        endpoints_more,
        check_count: sc.checks.len(),
        checks_more,
        endpoints,
        checks,
        chart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;
    use crate::summary::schema::{Endpoint, Latency, ThresholdResult};

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
                    failed: 0,
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
        // Then the endpoints are shortened to the most telling (the slowest here), not dropped.
        assert!(md.contains("endpoint_with_a_long_name_499"), "{md}");
        assert!(!md.contains("endpoint_with_a_long_name_000"), "{md}");
        assert!(md.contains("more endpoints (failing first, then the slowest, are shown)"));
        assert!(
            md.contains("| ❌ | http_req_duration p(95)<500 |"),
            "thresholds stay"
        );
        assert!(
            md.contains("Checks (3, 3 failing)"),
            "checks stay while they fit"
        );

        // With a tiny limit: the verdict, one row per scenario and the failed thresholds.
        let tiny = render_within(&s, 2_000).unwrap();
        assert!(tiny.len() < 2_000, "{}", tiny.len());
        assert!(
            tiny.contains("## ❌ Load test failed — 2 thresholds failed"),
            "{tiny}"
        );
        for sc in &s.scenarios {
            assert!(tiny.contains(&format!("\n| {} | ", sc.name)), "{tiny}");
        }
        assert!(
            tiny.contains("- ❌ auth · http_req_duration p(95)<500 · "),
            "{tiny}"
        );
    }

    /// 40 scenarios × 30 endpoints: the comment keeps each scenario's most telling endpoints
    /// (it dropped every endpoint and check table); the job summary, with its own 1 MiB limit,
    /// keeps everything.
    #[test]
    fn many_scenarios_keep_their_most_telling_endpoints() {
        let base = testdata::load("failed");
        let mut s = base.clone();
        s.scenarios = (0..40)
            .map(|n| {
                let mut sc = base.scenarios[n % 2].clone();
                sc.name = format!("scenario_{n:02}");
                let e0 = sc.endpoints[0].clone();
                sc.endpoints = (0..30)
                    .map(|i| Endpoint {
                        name: format!("ep_{n:02}_{i:02}"),
                        failed: u64::from(i == 7),
                        ..e0.clone()
                    })
                    .collect();
                sc
            })
            .collect();
        let md = render(&s);
        assert!(md.len() < MAX_LEN, "{}", md.len());
        for n in 0..40 {
            // Every scenario keeps its section and its failing endpoint.
            assert!(md.contains(&format!("### scenario_{n:02} ")), "{n}");
            assert!(md.contains(&format!(" ep_{n:02}_07")), "{n}");
        }
        let full = render_within(&s, crate::notify::actions::STEP_SUMMARY_MAX).unwrap();
        assert!(!full.contains("(details cut to fit"), "{}", full.len());
        assert!(full.contains("ep_39_29"));
    }

    /// 2 400 failed thresholds: the comment keeps the verdict, the run line with its links, a
    /// row per scenario and as many failed thresholds as fit, then how many more (it was 1.4 kB:
    /// the headline alone, no link).
    #[test]
    fn thousands_of_failed_thresholds_keep_the_rows_the_links_and_a_count() {
        let mut s = testdata::load("failed");
        s.run.ci_run_url = Some("https://github.com/acme/api/actions/runs/42".into());
        let t0 = s.scenarios[0]
            .thresholds
            .iter()
            .find(|t| t.status == ThresholdStatus::Fail)
            .unwrap()
            .clone();
        for sc in &mut s.scenarios {
            sc.thresholds = (0..1_200)
                .map(|i| ThresholdResult {
                    metric: format!("http_req_duration{{name:request_number_{i:04}}}"),
                    ..t0.clone()
                })
                .collect();
        }
        let md = render(&s);
        assert!(md.len() < MAX_LEN, "{}", md.len());
        assert!(md.len() > MAX_LEN / 2, "the room is used: {}", md.len());
        assert!(md.contains("[CI run](https://github.com/acme/api/actions/runs/42)"));
        assert!(
            md.contains("[report files](https://github.com/acme/api/actions/runs/42#artifacts)")
        );
        assert!(
            md.contains("\n| auth | ") && md.contains("\n| agents | "),
            "{md}"
        );
        let listed = md.matches("\n- ❌ ").count();
        let more: usize = md
            .split("- … and ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("a count of the rest");
        assert_eq!(listed + more, 2_400, "{listed} listed, {more} more");
        assert!(listed > 300, "{listed}");
    }
}
