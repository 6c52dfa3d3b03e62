//! JUnit XML (`*_junit.xml`) for CI test reporters (GitHub test-report actions, GitLab
//! `reports: junit`, Jenkins): one testsuite per scenario; in it one testcase per threshold
//! (a breach is a `<failure>`, a threshold with no data is `<skipped>`), one per check, and one
//! named `run health` that is an `<error>` when the scenario could not be measured to its end.
//! A failure's text and the run health's say why requests failed (`errors: tls: certificate
//! expired (4)`).
//!
//! The XML is built with quick-junit, then reduced to what the Jenkins xunit-plugin schema
//! (`tests/schemas/junit-10.xsd`) allows: quick-junit writes attributes the schema rejects
//! (`disabled` on `<testsuite>`, in newer versions `skipped` on `<testsuites>`), and strict
//! consumers refuse the whole file for one unknown attribute.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use quick_xml::events::{BytesStart, Event};

use super::format::{self, duration_s};
use super::outline;
use super::reporter::Reporter;
use crate::summary::schema::RegressionResult;
use crate::summary::schema::{
    HealthStatus, ScenarioStatus, ScenarioSummary, Summary, ThresholdStatus,
};

pub(crate) struct Junit;

impl Reporter for Junit {
    fn render(&self, s: &Summary) -> anyhow::Result<Vec<u8>> {
        let mut report = Report::new(format!("kaizen-loadtest {}", s.run.plan_name));
        report.set_time(secs(s.run.duration_s));
        for sc in &s.scenarios {
            report.add_test_suite(suite(s, sc));
        }
        let xml = report.to_string()?;
        conform_to_schema(xml.as_bytes())
    }
}

fn secs(v: f64) -> Duration {
    Duration::try_from_secs_f64(v).unwrap_or_default()
}

fn suite(s: &Summary, sc: &ScenarioSummary) -> TestSuite {
    let mut suite = TestSuite::new(sc.name.as_str());
    suite.set_time(secs(sc.duration_s));
    suite.extra.insert(
        "timestamp".into(),
        started_at(&s.run.started_at, sc.started_after_s).into(),
    );
    let mut props = vec![
        ("plan", s.run.plan_name.clone()),
        ("environment", s.run.environment.clone()),
        ("base_url", s.run.base_url.clone()),
        ("executor", sc.executor.clone()),
        ("vus_max", sc.vus_max.to_string()),
        ("duration_s", format::num(sc.duration_s, 3)),
        ("status", sc.status.to_string()),
    ];
    if let Some(sha) = &s.run.git_sha {
        props.push(("git_sha", sha.clone()));
    }
    if let Some(url) = &s.run.ci_run_url {
        props.push(("ci_run_url", url.clone()));
    }
    suite.add_properties(props.into_iter().map(|(k, v)| Property::new(k, v)));

    let plan_file = s.run.plan_file.as_str();
    let errors = errors_said(sc);
    for t in &sc.thresholds {
        let name = format!("{} {}", t.metric, t.expression);
        let where_ = if t.line > 0 {
            format!(" ({plan_file} line {})", t.line)
        } else {
            String::new()
        };
        let status = match t.status {
            ThresholdStatus::Pass => TestCaseStatus::success(),
            ThresholdStatus::Fail => {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_type("threshold")
                    .set_message(format::observed_vs_limit(t))
                    .set_description(format!(
                        "{name} failed in scenario {}: {}{where_}{}{errors}",
                        sc.name,
                        format::observed_vs_limit(t),
                        if t.abort_on_fail {
                            "; abort_on_fail is set"
                        } else {
                            ""
                        }
                    ));
                st
            }
            ThresholdStatus::NoData => {
                let mut st = TestCaseStatus::skipped();
                st.set_message("no data").set_description(format!(
                    "{} had no samples in scenario {}, so {name} could not be judged{where_}",
                    t.metric, sc.name
                ));
                st
            }
        };
        let mut case = TestCase::new(name, status);
        case.set_classname(format!("{}.thresholds", sc.name));
        if t.status == ThresholdStatus::Pass {
            case.set_system_out(format::observed_vs_limit(t));
        }
        suite.add_test_case(case);
    }

    for c in &sc.checks {
        let total = c.passes + c.fails;
        let status = if c.fails > 0 {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_type("check")
                .set_message(format!("{} of {total} failed", c.fails));
            st
        } else {
            TestCaseStatus::success()
        };
        let mut case = TestCase::new(c.name.as_str(), status);
        case.set_classname(format!("{}.checks", sc.name));
        if c.fails == 0 {
            case.set_system_out(format!("{} of {total} passed", c.passes));
        }
        suite.add_test_case(case);
    }

    let regressions: Vec<&RegressionResult> = s
        .baseline
        .iter()
        .flat_map(|b| &b.regressions)
        .filter(|r| r.scenario == sc.name)
        .collect();
    let drift: Vec<&RegressionResult> = sc.drift.iter().flat_map(|d| &d.rules).collect();
    for (kind, rules, a, b) in [
        ("regression", regressions, "baseline", "current"),
        ("drift", drift, "first window", "last window"),
    ] {
        for r in rules {
            let value = |v| outline::metric_value(Some(sc), &r.metric, v);
            let figures = format!(
                "{a} {}, {b} {}, limit {}",
                value(r.baseline),
                value(r.current),
                value(r.limit)
            );
            let status = match r.status {
                ThresholdStatus::Pass => TestCaseStatus::success(),
                ThresholdStatus::Fail => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_type(kind).set_message(figures.as_str());
                    st
                }
                ThresholdStatus::NoData => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message("no data");
                    st
                }
            };
            let mut case = TestCase::new(format!("{kind}: {} {}", r.metric, r.rule), status);
            case.set_classname(format!("{}.{kind}", sc.name));
            if r.status == ThresholdStatus::Pass {
                case.set_system_out(figures);
            }
            suite.add_test_case(case);
        }
    }

    suite.add_test_case(run_health(s, sc));
    suite.add_test_case(generator_health(s, sc));
    suite
}

/// Why requests failed, said with every failure of the scenario: `; errors: tls: certificate
/// expired (4)`, or nothing.
fn errors_said(sc: &ScenarioSummary) -> String {
    match outline::scenario_errors(sc) {
        e if e.is_empty() => String::new(),
        e => format!("; errors: {}", e.join(", ")),
    }
}

/// Whether the load generator kept up while this scenario ran. An overloaded generator does
/// not fail the run (unless `--fail-on-inconclusive`), but nothing was judged reliably either:
/// the case is skipped with the reasons.
fn generator_health(s: &Summary, sc: &ScenarioSummary) -> TestCase {
    let mine = format!("{}: ", sc.name);
    let reasons: Vec<&str> = s
        .health
        .reasons
        .iter()
        .filter(|r| {
            r.starts_with(&mine)
                || !s
                    .scenarios
                    .iter()
                    .any(|other| r.starts_with(&format!("{}: ", other.name)))
        })
        .map(String::as_str)
        .collect();
    let cpu = s
        .health
        .cpu_percent
        .map(|c| format!("the load generator used {c:.0}% of the machine's CPU"))
        .unwrap_or_else(|| "the load generator's CPU use is unknown".into());
    let status = if s.health.status == HealthStatus::Inconclusive && !reasons.is_empty() {
        let mut st = TestCaseStatus::skipped();
        st.set_type("inconclusive")
            .set_message(format!("inconclusive: {}", reasons.join("; ")));
        st
    } else {
        TestCaseStatus::success()
    };
    let passed = matches!(status, TestCaseStatus::Success { .. });
    let mut case = TestCase::new("load generator health", status);
    case.set_classname(sc.name.as_str());
    if passed {
        case.set_system_out(cpu);
    }
    case
}

/// When the scenario started: the run's start plus its offset, RFC 3339 (the run's start as
/// written when it does not parse).
fn started_at(run_start: &str, after_s: f64) -> String {
    use time::format_description::well_known::Rfc3339;
    let Ok(start) = time::OffsetDateTime::parse(run_start, &Rfc3339) else {
        return run_start.to_string();
    };
    let at = start + time::Duration::seconds_f64(after_s);
    at.format(&Rfc3339)
        .unwrap_or_else(|_| run_start.to_string())
}

/// Whether the scenario's figures cover the whole plan: an interrupted or aborted scenario is an
/// error rather than a failure (nothing was judged wrong, the measurement itself is incomplete);
/// one that tested nothing (no request completed, every iteration interrupted) is a failure, as
/// it fails the run, with the verdict's own words.
fn run_health(s: &Summary, sc: &ScenarioSummary) -> TestCase {
    let ran = format!(
        "after {} of {} planned",
        duration_s(sc.duration_s),
        duration_s(sc.planned_duration_s)
    );
    let problem = match sc.status {
        ScenarioStatus::Aborted => Some(match &s.run.aborted_by {
            Some(t) if s.run.setup_failure().is_some() => {
                format!("did not run: the once-per-test {t}")
            }
            Some(t) => format!("aborted {ran}: threshold {t} failed and has abort_on_fail"),
            None => format!("aborted {ran} by an abort_on_fail threshold"),
        }),
        ScenarioStatus::Interrupted => Some(format!(
            "interrupted by a signal {ran}; the figures cover only what ran"
        )),
        _ => None,
    };
    let nothing = crate::verdict::tested_nothing(sc);
    // Requests that could not be built are named only when there were any.
    let invalid = match sc.requests_invalid {
        0 => String::new(),
        n => format!(", {n} not sent: invalid_request"),
    };
    let errors = errors_said(sc);
    let summary_line = format!(
        "{}: {} requests ({} failed, {} cut off in flight{invalid}), {} iterations ({} interrupted, {} dropped) in {}{errors}",
        sc.status,
        sc.requests,
        sc.requests_failed,
        sc.requests_interrupted,
        sc.iterations,
        sc.iterations_interrupted,
        sc.dropped_iterations,
        duration_s(sc.duration_s)
    );
    let status = match (&problem, &nothing) {
        (Some(msg), _) => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            st.set_type(sc.status.as_str())
                .set_message(msg.as_str())
                .set_description(summary_line.as_str());
            st
        }
        (None, Some(why)) => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_type("tested_nothing")
                .set_message(why.as_str())
                .set_description(summary_line.as_str());
            st
        }
        (None, None) => TestCaseStatus::success(),
    };
    let problem = problem.or(nothing);
    let mut case = TestCase::new("run health", status);
    case.set_classname(sc.name.as_str());
    case.set_time(secs(sc.duration_s));
    if problem.is_none() {
        case.set_system_out(summary_line);
    }
    case
}

/// The attributes the xunit-plugin schema allows on each element; others are dropped.
fn allowed_attributes(element: &[u8]) -> Option<&'static [&'static [u8]]> {
    Some(match element {
        b"testsuites" => &[b"name", b"time", b"tests", b"failures", b"errors"],
        b"testsuite" => &[
            b"name",
            b"tests",
            b"failures",
            b"errors",
            b"group",
            b"time",
            b"skipped",
            b"timestamp",
            b"hostname",
            b"id",
            b"package",
            b"file",
            b"log",
            b"url",
        ],
        b"testcase" => &[b"name", b"time", b"classname", b"group"],
        b"failure" | b"error" | b"skipped" => &[b"type", b"message"],
        b"property" => &[b"name", b"value"],
        _ => return None,
    })
}

/// Rewrites the XML with only schema-allowed attributes, adding `skipped` (allowed) to each
/// `<testsuite>` from the `disabled` count quick-junit keeps. Text, order and escaping are
/// copied byte for byte.
fn conform_to_schema(xml: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut writer = quick_xml::Writer::new(Vec::with_capacity(xml.len()));
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf)? {
            Event::Eof => break,
            Event::Start(e) => writer.write_event(Event::Start(filter(&e)?))?,
            Event::Empty(e) => writer.write_event(Event::Empty(filter(&e)?))?,
            other => writer.write_event(other)?,
        }
        buf.clear();
    }
    Ok(writer.into_inner())
}

fn filter(e: &BytesStart) -> anyhow::Result<BytesStart<'static>> {
    let name = e.name();
    let Some(allowed) = allowed_attributes(name.as_ref()) else {
        return Ok(e.clone().into_owned());
    };
    let mut out = BytesStart::new(String::from_utf8(name.as_ref().to_vec())?);
    let mut skipped = None;
    for a in e.attributes() {
        let a = a?;
        if allowed.contains(&a.key.as_ref()) {
            out.push_attribute(a);
        } else if name.as_ref() == b"testsuite" && a.key.as_ref() == b"disabled" {
            skipped = Some(a.value.into_owned());
        }
    }
    if let Some(n) = skipped {
        out.push_attribute((&b"skipped"[..], &n[..]));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    fn render(name: &str) -> String {
        String::from_utf8(Junit.render(&testdata::load(name)).unwrap()).unwrap()
    }

    #[test]
    fn failed_fixture_maps_thresholds_checks_and_health() {
        let xml = render("failed");
        insta::assert_snapshot!("junit_failed", xml);
        // Every element the schema knows, and no attribute it does not.
        assert!(!xml.contains("disabled="));
        assert!(xml.contains(r#"<testsuite name="auth" tests="11" errors="0" failures="5" time="240.000" timestamp="2026-03-02T11:00:00Z" skipped="1">"#), "{xml}");
        assert!(xml.contains(r#"<testsuite name="agents" tests="9" errors="0" failures="1" time="120.000" timestamp="2026-03-02T11:04:00Z" skipped="1">"#), "{xml}");
        assert!(xml.contains(r#"<skipped message="no data">"#));
        assert!(xml.contains(
            r#"<property name="git_sha" value="9b1e4c7a2d5f8e3b6a9c0d1e2f3a4b5c6d7e8f90"/>"#
        ));
    }

    #[test]
    fn failure_messages_give_observed_and_limit_in_the_metric_unit() {
        let xml = render("failed");
        let s = testdata::load("failed");
        let p95 = s.scenarios[0].thresholds[0].observed.unwrap();
        assert!(xml.contains(
            r#"<testcase name="http_req_duration p(95)&lt;500" classname="auth.thresholds">"#
        ));
        assert!(xml.contains(&format!(
            r#"<failure message="observed {p95:.1} ms, limit 500 ms" type="threshold">"#
        )));
        let rate = s.scenarios[0].thresholds[2].observed.unwrap();
        assert!(xml.contains(&format!(
            r#"<failure message="observed {:.2}%, limit 5%" type="threshold">"#,
            rate * 100.0
        )));
        let c = &s.scenarios[0].checks[1];
        assert!(
            xml.contains(&format!(
                r#"<failure message="{} of {} failed" type="check"/>"#,
                c.fails,
                c.passes + c.fails
            )),
            "{xml}"
        );
    }

    #[test]
    fn aborted_and_interrupted_runs_are_errors() {
        let xml = render("aborted");
        assert!(xml.contains(r#"<error message="aborted after 1m 36s of 5m 0s planned: threshold http_req_failed rate&lt;0.05 failed and has abort_on_fail" type="aborted">"#), "{xml}");
        let xml = render("interrupted");
        assert!(xml.contains(r#"<error message="interrupted by a signal after 12.3s of 30s planned; the figures cover only what ran" type="interrupted">"#), "{xml}");
        let xml = render("passed");
        assert!(!xml.contains("<error"));
        assert!(!xml.contains("<failure"));
    }

    #[test]
    fn regression_and_drift_limits_and_generator_health() {
        let xml = render("regressed");
        assert!(xml.contains(r#"<testcase name="regression: http_req_duration p(95) +10%" classname="soak.regression">"#), "{xml}");
        assert!(xml.contains(r#"<failure message="baseline 95.0 ms, current 122.7 ms, limit 104.5 ms" type="regression"/>"#), "{xml}");
        assert!(
            xml.contains(
                r#"<testcase name="drift: http_req_duration p(95) +25%" classname="soak.drift">"#
            ),
            "{xml}"
        );
        assert!(xml.contains(r#"<failure message="first window 96.8 ms, last window 146.6 ms, limit 121.0 ms" type="drift"/>"#), "{xml}");
        assert!(xml.contains(r#"<skipped message="inconclusive: the load generator used 94% of the machine&apos;s CPU" type="inconclusive"/>"#), "{xml}");
        // Only the scenario a reason names is marked.
        let xml = render("failed");
        assert_eq!(xml.matches("type=\"inconclusive\"").count(), 1, "{xml}");
        assert!(
            xml.contains("inconclusive: agents: 4 iterations dropped"),
            "{xml}"
        );
    }

    #[test]
    fn unknown_attributes_are_dropped_and_text_is_kept() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="a &amp; b" tests="1" failures="0" errors="0" skipped="0">
    <testsuite name="s" tests="1" disabled="2" errors="0" failures="0">
        <testcase name="x" assertions="3"><failure message="m" extra="1">a &lt; b</failure></testcase>
    </testsuite>
</testsuites>
"#;
        let out = String::from_utf8(conform_to_schema(xml).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="a &amp; b" tests="1" failures="0" errors="0">
    <testsuite name="s" tests="1" errors="0" failures="0" skipped="2">
        <testcase name="x"><failure message="m">a &lt; b</failure></testcase>
    </testsuite>
</testsuites>
"#
        );
    }
}
