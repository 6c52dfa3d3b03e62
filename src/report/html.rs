//! The HTML report (`*_report.html`): one self-contained page for a person, offline. Inline CSS,
//! charts as inline SVG drawn in Rust, no script and no URL it would load: it opens the same from
//! a CI artifact, an e-mail or a laptop on a plane. Every value goes through handlebars' HTML
//! escaping; only the SVG the chart module builds (which escapes its own text) is inserted raw.

use handlebars::Handlebars;
use serde::Serialize;

use super::chart::{self, Line, LineChart};
use super::format::{self, bytes, duration_s, int, ms, opt_ms, percent};
use super::outline::{self, Outcome};
use super::reporter::Reporter;
use crate::summary::hist::{decode_hist, new_hist, Hist};
use crate::summary::schema::{
    HealthStatus, ScenarioStatus, ScenarioSummary, Summary, ThresholdStatus,
};

/// Points per time chart: enough for a smooth line on a wide screen, small enough for the file.
const CHART_POINTS: usize = 300;
/// Bars in the latency distribution.
const DISTRIBUTION_BINS: usize = 30;

pub(crate) struct Html;

impl Reporter for Html {
    fn render(&self, s: &Summary) -> anyhow::Result<Vec<u8>> {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_template_string("report", include_str!("templates/report.html.hbs"))?;
        Ok(hb.render("report", &view(s))?.into_bytes())
    }
}

#[derive(Serialize)]
struct View {
    title: &'static str,
    icon: &'static str,
    outcome: &'static str,
    headline: String,
    notes: Vec<String>,
    run: RunView,
    meta: Vec<Pair>,
    several: bool,
    scenarios: Vec<ScenarioView>,
    footer: String,
}

#[derive(Serialize)]
struct RunView {
    plan: String,
    environment: String,
}

#[derive(Serialize)]
struct Pair {
    label: &'static str,
    value: String,
}

#[derive(Serialize)]
struct ScenarioView {
    name: String,
    anchor: String,
    subtitle: String,
    status_badge: String,
    cards: Vec<Pair>,
    open_model: String,
    capacity: String,
    comparisons: Vec<outline::Comparison>,
    endpoint_deltas: Vec<outline::EndpointDeltaRow>,
    load_chart: String,
    latency_chart: String,
    distribution_chart: String,
    thresholds: Vec<ThresholdRow>,
    /// Why requests failed: `tls: certificate expired (4)`.
    errors: Vec<String>,
    endpoints: Vec<EndpointRow>,
    checks: Vec<CheckRow>,
}

#[derive(Serialize)]
struct ThresholdRow {
    status: &'static str,
    icon: &'static str,
    label: &'static str,
    metric: String,
    expression: String,
    abort_on_fail: bool,
    observed: String,
    limit: String,
    line: String,
}

#[derive(Serialize)]
struct EndpointRow {
    method: String,
    name: String,
    group: String,
    requests: String,
    failed: String,
    rps: String,
    avg: String,
    p50: String,
    p90: String,
    p95: String,
    p99: String,
    max: String,
    statuses: String,
    errors: String,
}

#[derive(Serialize)]
struct CheckRow {
    status: &'static str,
    icon: &'static str,
    name: String,
    passes: String,
    fails: String,
    rate: String,
}

fn view(s: &Summary) -> View {
    let h = outline::headline(s);
    let r = &s.run;
    let mut meta = vec![
        Pair {
            label: "plan",
            value: format!("{} ({})", r.plan_name, r.plan_file),
        },
        Pair {
            label: "plan sha256",
            value: r.plan_hash.clone(),
        },
        Pair {
            label: "environment",
            value: r.environment.clone(),
        },
        Pair {
            label: "base URL",
            value: r.base_url.clone(),
        },
        Pair {
            label: "scenarios",
            value: r.scenarios.join(", "),
        },
        Pair {
            label: "started",
            value: format!("{} (ended {})", r.started_at, r.ended_at),
        },
        Pair {
            label: "duration",
            value: duration_s(r.duration_s),
        },
        Pair {
            label: "mode",
            value: format!(
                "{}{}",
                r.mode,
                if r.parallel {
                    ", scenarios in parallel"
                } else {
                    ""
                }
            ),
        },
    ];
    if let Some(sha) = &r.git_sha {
        meta.push(Pair {
            label: "commit",
            value: sha.clone(),
        });
    }
    if let Some(url) = &r.ci_run_url {
        // Shown, not linked: the page makes no reference a browser could follow on its own.
        meta.push(Pair {
            label: "CI run",
            value: url.clone(),
        });
    }
    if let Some(seg) = &r.segment {
        meta.push(Pair {
            label: "segment",
            value: format!("{} of {}", seg.index, seg.count),
        });
    }
    if let Some(id) = &r.run_id {
        meta.push(Pair {
            label: "run id",
            value: id.clone(),
        });
    }
    meta.push(Pair {
        label: "load generator",
        value: format!(
            "{}{}",
            match s.health.status {
                HealthStatus::Unchecked => "ok",
                checked => checked.as_str(),
            },
            s.health
                .cpu_percent
                .map(|c| format!(", {c:.0}% CPU on {} cores", r.host_cpus))
                .unwrap_or_default()
        ),
    });
    if let Some(b) = &s.baseline {
        meta.push(Pair {
            label: "baseline",
            value: format!("{} (started {})", b.source, b.baseline_started_at),
        });
    }
    meta.push(Pair {
        label: "thresholds",
        value: format!(
            "{} total, {} failed, {} without data",
            s.verdict.thresholds_total, s.verdict.thresholds_failed, s.verdict.thresholds_no_data
        ),
    });
    View {
        title: h.title,
        icon: h.symbol(),
        outcome: match h.outcome {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Interrupted => "interrupted",
        },
        headline: h.text(),
        notes: h.notes,
        run: RunView {
            plan: r.plan_name.clone(),
            environment: r.environment.clone(),
        },
        meta,
        several: s.scenarios.len() > 1,
        scenarios: s
            .scenarios
            .iter()
            .enumerate()
            .map(|(i, sc)| scenario(s, sc, i))
            .collect(),
        footer: format!(
            "{} {} · summary schema {} · {}_summary.json · {} CPUs",
            s.tool.name, s.tool.version, s.schema, r.file_stem, r.host_cpus
        ),
    }
}

/// An `id` made of `[a-z0-9-]`, unique by its index.
fn anchor(name: &str, i: usize) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("scenario-{i}-{slug}")
}

fn scenario(s: &Summary, sc: &ScenarioSummary, i: usize) -> ScenarioView {
    let open_model = sc
        .open_model
        .as_ref()
        .map(|o| {
            format!(
                "Open model: iterations started {} late at p50, {} at p99, {} at most. Latency is \
                 measured from the scheduled start; from the actual send p95 would read {} and \
                 p99 {}.",
                ms(o.start_lag_p50_ms),
                ms(o.start_lag_p99_ms),
                ms(o.start_lag_max_ms),
                ms(o.raw_p95_ms),
                ms(o.raw_p99_ms)
            )
        })
        .unwrap_or_default();
    let (load_chart, latency_chart) = time_charts(sc);
    ScenarioView {
        name: sc.name.clone(),
        anchor: anchor(&sc.name, i),
        subtitle: format!(
            "{} · {} VUs max · ran {} of {} planned · started {} into the run",
            sc.executor,
            int(sc.vus_max),
            duration_s(sc.duration_s),
            duration_s(sc.planned_duration_s),
            duration_s(sc.started_after_s)
        ),
        status_badge: if sc.status == ScenarioStatus::Completed {
            String::new()
        } else {
            sc.status.to_string()
        },
        cards: cards(sc),
        open_model,
        capacity: outline::capacity(sc),
        comparisons: outline::comparisons(s, sc),
        endpoint_deltas: outline::endpoint_deltas(s, sc),
        load_chart,
        latency_chart,
        distribution_chart: distribution_chart(s, sc),
        thresholds: threshold_rows(sc),
        errors: outline::scenario_errors(sc),
        endpoints: endpoint_rows(sc),
        checks: check_rows(sc),
    }
}

/// The figures on the scenario's cards.
fn cards(sc: &ScenarioSummary) -> Vec<Pair> {
    vec![
        Pair {
            label: "requests",
            value: int(sc.requests),
        },
        Pair {
            label: "req/s",
            value: format::num(sc.rps, 1),
        },
        Pair {
            label: "p50",
            value: opt_ms(format::duration_stat(sc, "med")),
        },
        Pair {
            label: "p95",
            value: opt_ms(format::duration_stat(sc, "p(95)")),
        },
        Pair {
            label: "p99",
            value: opt_ms(format::duration_stat(sc, "p(99)")),
        },
        Pair {
            label: "error rate",
            value: format::error_rate(sc),
        },
        Pair {
            label: "checks",
            value: format::checks_cell(sc),
        },
        Pair {
            label: "iterations",
            value: format!(
                "{}{}",
                int(sc.iterations),
                if sc.iterations_interrupted > 0 {
                    format!(" (+{} cut)", int(sc.iterations_interrupted))
                } else {
                    String::new()
                }
            ),
        },
        Pair {
            label: "dropped iterations",
            value: int(sc.dropped_iterations),
        },
        Pair {
            label: "data sent",
            value: bytes(sc.data_sent as f64),
        },
        Pair {
            label: "data received",
            value: bytes(sc.data_received as f64),
        },
    ]
}

/// The scenario's thresholds, one row per condition.
fn threshold_rows(sc: &ScenarioSummary) -> Vec<ThresholdRow> {
    sc.thresholds
        .iter()
        .map(|t| {
            let (status, icon, label) = match t.status {
                ThresholdStatus::Pass => ("pass", "✓", "pass"),
                ThresholdStatus::Fail => ("fail", "✗", "fail"),
                ThresholdStatus::NoData => ("no_data", "○", "no data"),
            };
            ThresholdRow {
                status,
                icon,
                label,
                metric: t.metric.clone(),
                expression: t.expression.clone(),
                abort_on_fail: t.abort_on_fail,
                observed: format::observed(t),
                limit: format::limit(t),
                line: if t.line > 0 {
                    t.line.to_string()
                } else {
                    String::new()
                },
            }
        })
        .collect()
}

/// The scenario's endpoints, one row per request name and group.
fn endpoint_rows(sc: &ScenarioSummary) -> Vec<EndpointRow> {
    sc.endpoints
        .iter()
        .map(|e| EndpointRow {
            method: e.method.clone(),
            name: e.name.clone(),
            group: e.group.clone(),
            requests: int(e.requests),
            failed: int(e.failed),
            rps: format::num(e.rps, 2),
            avg: ms(e.latency.avg),
            p50: ms(e.latency.med),
            p90: ms(e.latency.p90),
            p95: ms(e.latency.p95),
            p99: ms(e.latency.p99),
            max: ms(e.latency.max),
            statuses: e
                .statuses
                .iter()
                .map(|(code, n)| {
                    format!("{}: {}", if code == "0" { "none" } else { code }, int(*n))
                })
                .collect::<Vec<_>>()
                .join(", "),
            errors: outline::endpoint_errors(e).join(", "),
        })
        .collect()
}

/// The scenario's checks.
fn check_rows(sc: &ScenarioSummary) -> Vec<CheckRow> {
    sc.checks
        .iter()
        .map(|c| {
            let total = c.passes + c.fails;
            CheckRow {
                status: if c.fails > 0 { "fail" } else { "pass" },
                icon: if c.fails > 0 { "✗" } else { "✓" },
                name: c.name.clone(),
                passes: int(c.passes),
                fails: int(c.fails),
                rate: if total > 0 {
                    percent(c.passes as f64 / total as f64)
                } else {
                    "—".into()
                },
            }
        })
        .collect()
}

fn time_charts(sc: &ScenarioSummary) -> (String, String) {
    let buckets = chart::downsample(&sc.timeseries, sc.duration_s, CHART_POINTS);
    let x: Vec<f64> = buckets.iter().map(|b| b.t).collect();
    let load_title = format!("{}: VUs, requests/s and errors/s over time", sc.name);
    let load = chart::line_svg(&LineChart {
        kind: "load",
        title: &load_title,
        x: x.clone(),
        left_unit: "per second",
        right_unit: "VUs",
        lines: vec![
            Line {
                label: "requests/s",
                color: "#4e79a7",
                values: buckets.iter().map(|b| Some(b.rps())).collect(),
                right: false,
                width: 1.6,
            },
            Line {
                label: "errors/s",
                color: "#e15759",
                values: buckets.iter().map(|b| Some(b.errors_per_s())).collect(),
                right: false,
                width: 1.6,
            },
            Line {
                label: "VUs (right axis)",
                color: "#59a14f",
                values: buckets.iter().map(|b| Some(b.vus as f64)).collect(),
                right: true,
                width: 1.6,
            },
        ],
        left_cap: None,
    });
    let latency_title = format!(
        "{}: http_req_duration p50, p95 and p99 over time (ms)",
        sc.name
    );
    // A handful of timeouts would otherwise squash p50 and p95 into the floor.
    let worst =
        |f: fn(&chart::Bucket) -> Option<f64>| buckets.iter().filter_map(f).fold(0.0, f64::max);
    let p95_max = worst(|b| b.p95);
    let left_cap = (worst(|b| b.p99) > 3.0 * p95_max && p95_max > 0.0).then_some(p95_max * 1.5);
    let latency = chart::line_svg(&LineChart {
        kind: "latency",
        title: &latency_title,
        x,
        left_unit: "ms",
        right_unit: "",
        lines: vec![
            Line {
                label: "p50",
                color: "#59a14f",
                values: buckets.iter().map(|b| b.p50).collect(),
                right: false,
                width: 1.6,
            },
            Line {
                label: "p95",
                color: "#f28e2b",
                values: buckets.iter().map(|b| b.p95).collect(),
                right: false,
                width: 3.2,
            },
            Line {
                label: "p99",
                color: "#e15759",
                values: buckets.iter().map(|b| b.p99).collect(),
                right: false,
                width: 5.0,
            },
        ],
        left_cap,
    });
    (load, latency)
}

/// The scenario's `http_req_duration` histogram, merged from the raw series: `None` when the
/// summary carries none (or one that does not decode).
fn scenario_hist(s: &Summary, scenario: &str) -> Option<Hist> {
    let mut merged = new_hist();
    let mut any = false;
    for series in s.data.series.iter().filter(|r| r.scenario == scenario) {
        if let Some(enc) = series.hists.get("http_req_duration") {
            let h = decode_hist(enc).ok()?;
            merged.add(&h).ok()?;
            any = true;
        }
    }
    (any && !merged.is_empty()).then_some(merged)
}

/// A latency histogram on a log scale (the shape of latency: most requests fast, a long tail),
/// from the raw histogram; without one, the summary's percentiles as bars.
fn distribution_chart(s: &Summary, sc: &ScenarioSummary) -> String {
    if let Some(h) = scenario_hist(s, &sc.name) {
        let bins = log_bins(&h, DISTRIBUTION_BINS);
        let title = format!(
            "{}: distribution of http_req_duration ({} requests, log-scale bins)",
            sc.name,
            int(h.len())
        );
        return chart::bars_svg(
            "distribution",
            &title,
            "requests",
            "latency (upper edge of each bin)",
            &bins,
        );
    }
    let stats = ["min", "med", "p(90)", "p(95)", "p(99)", "max"];
    let bars: Vec<(String, f64)> = stats
        .iter()
        .filter_map(|k| format::duration_stat(sc, k).map(|v| (k.to_string(), v)))
        .collect();
    let title = format!("{}: http_req_duration percentiles (ms)", sc.name);
    chart::bars_svg("distribution", &title, "ms", "percentile", &bars)
}

/// Counts per logarithmic bin between the smallest and largest recorded value.
fn log_bins(h: &Hist, n: usize) -> Vec<(String, f64)> {
    let lo = (h.min().max(1)) as f64;
    let hi = (h.max().max(h.min() + 1)) as f64;
    let ratio = (hi / lo).powf(1.0 / n as f64);
    let edges: Vec<f64> = (1..=n).map(|i| lo * ratio.powi(i as i32)).collect();
    let mut counts = vec![0u64; n];
    for v in h.iter_recorded() {
        let value = h.highest_equivalent(v.value_iterated_to()) as f64;
        let idx = edges.iter().position(|e| value <= *e).unwrap_or(n - 1);
        counts[idx] += v.count_at_value();
    }
    edges
        .iter()
        .zip(counts)
        .map(|(edge, c)| (short_ms(edge / 1000.0), c as f64))
        .collect()
}

/// An axis label: `850µs`, `12ms`, `1.2s`.
fn short_ms(v: f64) -> String {
    if v < 1.0 {
        format!("{}µs", format::num(v * 1000.0, 0))
    } else if v < 1000.0 {
        format!("{}ms", format::num(v, if v < 10.0 { 1 } else { 0 }))
    } else {
        format!("{}s", format::num(v / 1000.0, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    fn render(s: &Summary) -> String {
        String::from_utf8(Html.render(s).unwrap()).unwrap()
    }

    #[test]
    fn failed_fixture_has_banner_charts_and_tables() {
        let html = render(&testdata::load("failed"));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains(r#"<header class="verdict failed">"#));
        assert!(html.contains("<h1>✗ Load test failed — 2 thresholds failed: http_req_duration p(95)&lt;500 (observed 968.2 ms in auth)"));
        for kind in ["load", "latency", "distribution"] {
            assert_eq!(
                html.matches(&format!("<svg data-chart=\"{kind}\"")).count(),
                2,
                "{kind}"
            );
        }
        for svg in html.split("<svg ").skip(1) {
            let second_line = svg.lines().nth(1).unwrap();
            assert!(
                second_line.starts_with("<title>") && second_line.ends_with("</title>"),
                "{second_line}"
            );
        }
        assert!(
            html.contains("log-scale bins"),
            "the distribution comes from the histograms"
        );
        assert!(html.contains("<td>http_req_duration{name:logout}</td>"));
        assert!(html.contains("<td class=\"status-no_data\">○ no data</td>"));
        assert!(html.contains("register: status is 201"));
        assert!(html.contains("POST create_agent"));
    }

    #[test]
    fn baseline_drift_and_health_have_their_tables() {
        let html = render(&testdata::load("regressed"));
        assert!(html.contains("<h3>vs baseline <small>soak_staging_20260223T140000Z_summary.json, started 2026-02-23T14:00:00Z</small></h3>"));
        assert!(
            html.contains("<h3>Drift <small>the first 1m 0s against the last 1m 0s</small></h3>")
        );
        assert!(
            html.contains("<td class=\"status-fail\">✗</td><td>http_req_duration p(95) +10%</td>")
        );
        assert!(html.contains("<h3>Endpoints against the baseline</h3>"));
        assert!(html.contains("<dt>load generator</dt><dd>inconclusive, 94% CPU on 2 cores</dd>"));
        assert!(html.contains("<li>Inconclusive: the load generator did not keep up"));
        let html = render(&testdata::load("aborted"));
        assert!(html.contains("<p class=\"note\">Capacity ≈ "));
    }

    #[test]
    fn the_page_loads_nothing_from_anywhere() {
        for name in testdata::NAMES {
            let html = render(&testdata::load(name));
            for needle in [
                "<script",
                "<link",
                "<img",
                "<iframe",
                "src=",
                "url(",
                "@import",
                "href=\"http",
                "xmlns",
            ] {
                assert!(!html.contains(needle), "{name}: {needle}");
            }
        }
    }

    #[test]
    fn everything_from_the_summary_is_escaped() {
        let mut s = testdata::load("passed");
        s.scenarios[0].name = "<img src=x onerror=alert(1)>".into();
        s.scenarios[0].endpoints[0].name = "\"><script>x</script>".into();
        s.run.plan_name = "a & b".into();
        let html = render(&s);
        assert!(!html.contains("<img"));
        assert!(!html.contains("<script"));
        assert!(
            html.contains("&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;"),
            "{html}"
        );
        assert!(html.contains("a &amp; b"));
    }

    #[test]
    fn without_histograms_the_distribution_shows_percentiles() {
        let mut s = testdata::load("passed");
        s.data.series.clear();
        let html = render(&s);
        assert!(html.contains("smoke: http_req_duration percentiles (ms)"));
    }

    #[test]
    fn log_bins_count_every_request() {
        let mut h = new_hist();
        for v in 1..=10_000u64 {
            h.record(v * 100).unwrap();
        }
        let bins = log_bins(&h, 30);
        assert_eq!(bins.len(), 30);
        assert_eq!(bins.iter().map(|b| b.1).sum::<f64>(), 10_000.0);
        assert_eq!(bins.last().unwrap().0, "1s");
    }

    #[test]
    #[ignore = "writes the fixtures' pages to the temp directory, to look at"]
    fn dump_fixture_pages() {
        for name in testdata::NAMES {
            let path = std::env::temp_dir().join(format!("kaizen-report-{name}.html"));
            std::fs::write(&path, render(&testdata::load(name))).unwrap();
            println!("{}", path.display());
        }
    }
}
