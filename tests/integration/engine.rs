//! The engine driven with plans built in code, against the reference API on 127.0.0.1:0:
//! what the scheduler issued, what was recorded, and how thresholds judge it.

use std::sync::Arc;
use std::time::Duration;

use kaizen_loadtest::engine::{self, Selection, Stop};
use kaizen_loadtest::fixture::{FixtureConfig, FixtureHandle};
use kaizen_loadtest::plan::model::*;
use kaizen_loadtest::plan::template::{self, Scope, VarRef};
use kaizen_loadtest::rules::threshold::{Threshold, ThresholdCondition};
use kaizen_loadtest::summary::dataset::{Dataset, Names};

use crate::support;

struct NoVars;
impl Scope for NoVars {
    fn resolve(&self, path: &str) -> Result<VarRef, String> {
        Err(format!("unknown variable {path}"))
    }
}

fn get(name: &str, path: &str) -> RequestSpec {
    RequestSpec {
        name: name.into(),
        method: "GET".into(),
        url: template::compile(path, &NoVars).unwrap(),
        query: vec![],
        headers: vec![],
        body: None,
        expect: Expect::default(),
        captures: vec![],
        metrics: vec![],
        gauges: vec![],
        timeout: None,
        line: 1,
    }
}

pub fn plan_with(executor: Executor, requests: Vec<RequestSpec>) -> Plan {
    let flow = (0..requests.len()).map(Step::Request).collect();
    Plan {
        name: "engine".into(),
        file: "engine.yaml".into(),
        hash: "0".into(),
        environments: vec![],
        default_environment: None,
        defaults: Defaults::default(),
        feeds: vec![],
        requests,
        metrics: vec![],
        captures: vec![],
        thresholds: vec![],
        scenarios: vec![Scenario {
            name: "s".into(),
            executor,
            start_time: Duration::ZERO,
            graceful_stop: Duration::from_secs(5),
            setup: vec![],
            flow,
            teardown: vec![],
            thresholds: vec![],
            protected_ok: false,
            think: None,
            judge: true,
            line: 1,
        }],
        setup: None,
        teardown: None,
        secrets: vec![],
        warnings: vec![],
        regressions: vec![],
        drift: vec![],
        drift_window: None,
        tls: Default::default(),
    }
}

pub fn run_plan(plan: Plan, base_url: String) -> (engine::Outcome, Dataset) {
    let plan = Arc::new(plan);
    let sel = Selection {
        scenarios: vec![0],
        env: "test".into(),
        base_url,
        parallel: false,
    };
    let outcome = engine::run(plan.clone(), &sel, Stop::default(), Box::new(|_| {})).unwrap();
    let durations: Vec<_> = outcome
        .runs
        .iter()
        .map(|r| (r.index, r.duration.as_secs_f64()))
        .collect();
    let ds = Dataset::from_recorder(
        &outcome.collected.total,
        &Names {
            plan: &plan,
            groups: &outcome.groups,
            checks: &outcome.checks,
            durations: &durations,
        },
    );
    (outcome, ds)
}

#[test]
fn per_vu_iterations_issue_exactly_vus_times_iterations() {
    let _load = support::load_lock();
    let server = support::api(FixtureConfig::default());
    let plan = plan_with(
        Executor::PerVuIterations {
            vus: 3,
            iterations: 7,
            max_duration: Duration::from_secs(30),
        },
        vec![get("health", "/health"), get("missing", "/nope")],
    );
    let (outcome, ds) = run_plan(plan, server.base_url());
    let total = &outcome.collected.total;
    assert_eq!(total.scenarios[0].iterations, 21);
    let health: u64 = ds
        .series
        .iter()
        .filter(|s| s.name == "health")
        .map(|s| s.count)
        .sum();
    let missing: Vec<_> = ds.series.iter().filter(|s| s.name == "missing").collect();
    assert_eq!(health, 21);
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert_eq!(missing[0].status, 404);
    assert!(
        missing[0].failed,
        "a 404 is a failed request by k6's default"
    );
    assert_eq!(missing[0].count, 21);
    server.stop();
}

/// The reference API with this latency and error rate, and no seeded users.
fn server_with(latency: &str, error_rate: f64) -> FixtureHandle {
    support::api(FixtureConfig {
        latency: latency.parse().unwrap(),
        error_rate,
        ..Default::default()
    })
}

#[test]
fn shared_iterations_are_shared_exactly() {
    let _load = support::load_lock();
    let server = server_with("1ms", 0.0);
    let plan = plan_with(
        Executor::SharedIterations {
            vus: 4,
            iterations: 37,
            max_duration: Duration::from_secs(30),
        },
        vec![get("health", "/health")],
    );
    let (outcome, ds) = run_plan(plan, server.base_url());
    assert_eq!(outcome.collected.total.scenarios[0].iterations, 37);
    assert_eq!(ds.series.iter().map(|s| s.count).sum::<u64>(), 37);
}

#[test]
fn constant_arrival_rate_starts_what_the_schedule_says() {
    let _load = support::load_lock();
    let server = server_with("2ms", 0.0);
    let plan = plan_with(
        Executor::ConstantArrivalRate {
            rate: 40,
            time_unit: Duration::from_secs(1),
            duration: Duration::from_secs(2),
            pre_allocated_vus: 5,
            max_vus: 10,
        },
        vec![get("health", "/health")],
    );
    let (outcome, ds) = run_plan(plan, server.base_url());
    let s = &outcome.collected.total.scenarios[0];
    // 40/s for 2 s: the schedule has exactly 80 start times; none may be dropped with 10 VUs
    // free for 2 ms requests.
    assert_eq!(s.iterations + s.dropped, 80, "{s:?}");
    assert_eq!(s.dropped, 0);
    assert_eq!(ds.series.iter().map(|x| x.count).sum::<u64>(), 80);
    assert!(s.start_lag.is_some(), "open model records its start lag");
    // As k6: `vus_max` counts the pool allocated, though 2-ms iterations keep one or two busy.
    assert!(s.vus_max >= 5, "{s:?}");
}

#[test]
fn arrival_rate_drops_iterations_when_no_vu_is_free() {
    let _load = support::load_lock();
    let server = server_with("300ms", 0.0);
    let plan = plan_with(
        Executor::ConstantArrivalRate {
            rate: 20,
            time_unit: Duration::from_secs(1),
            duration: Duration::from_secs(1),
            pre_allocated_vus: 1,
            max_vus: 2,
        },
        vec![get("health", "/health")],
    );
    let (outcome, _) = run_plan(plan, server.base_url());
    let s = &outcome.collected.total.scenarios[0];
    assert_eq!(s.iterations + s.dropped, 20, "{s:?}");
    // Two VUs busy 300 ms each can start at most ~8 of the 20 in one second.
    assert!(s.dropped >= 8, "{s:?}");
    assert_eq!(s.vus_max, 2, "the pool grew to max_vus");
}

#[test]
fn graceful_stop_interrupts_what_runs_too_long() {
    let _load = support::load_lock();
    let server = server_with("3s", 0.0);
    let mut plan = plan_with(
        Executor::ConstantVus {
            vus: 2,
            duration: Duration::from_millis(300),
        },
        vec![get("slow", "/health")],
    );
    plan.scenarios[0].graceful_stop = Duration::from_millis(200);
    let t0 = std::time::Instant::now();
    let (outcome, _) = run_plan(plan, server.base_url());
    let s = &outcome.collected.total.scenarios[0];
    assert_eq!(s.iterations, 0);
    assert_eq!(s.interrupted, 2, "{s:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "the run did not wait for the 3 s requests"
    );
}

#[test]
fn ramping_vus_follow_the_stages() {
    let _load = support::load_lock();
    let server = server_with("5ms", 0.0);
    let plan = plan_with(
        Executor::RampingVus {
            start_vus: 0,
            stages: vec![
                Stage {
                    duration: Duration::from_millis(1500),
                    target: 6,
                },
                Stage {
                    duration: Duration::from_millis(1500),
                    target: 6,
                },
                Stage {
                    duration: Duration::from_millis(500),
                    target: 0,
                },
            ],
            graceful_ramp_down: Duration::from_secs(1),
        },
        vec![get("health", "/health")],
    );
    let (outcome, _) = run_plan(plan, server.base_url());
    let s = &outcome.collected.total.scenarios[0];
    assert_eq!(s.vus_max, 6, "{s:?}");
    let series = &outcome.collected.series[0];
    assert!(series.iter().any(|p| p.vus == 6), "{series:?}");
    assert!(series.first().is_some_and(|p| p.vus < 6), "{series:?}");
}

fn threshold(key: &str, cond: &str) -> Threshold {
    let key = kaizen_loadtest::rules::threshold::parse_metric_key(key).unwrap();
    let metric_type = kaizen_loadtest::rules::threshold::builtin_metric(&key.metric).unwrap();
    Threshold {
        key,
        metric_type,
        conditions: vec![ThresholdCondition {
            condition: kaizen_loadtest::rules::threshold::parse_condition(cond).unwrap(),
            abort_on_fail: false,
            delay_abort_eval: Duration::ZERO,
        }],
        line: 1,
    }
}

#[test]
fn thresholds_judge_the_injected_error_rate_and_latency() {
    use kaizen_loadtest::rules::Rules;
    use kaizen_loadtest::summary::build::interim;
    use kaizen_loadtest::summary::schema::ThresholdStatus::*;
    let _load = support::load_lock();
    let server = server_with("20ms", 0.25);
    let plan = plan_with(
        Executor::PerVuIterations {
            vus: 2,
            iterations: 20,
            max_duration: Duration::from_secs(30),
        },
        vec![get("health", "/health")],
    );
    let (_, ds) = run_plan(plan.clone(), server.base_url());
    let rules = Rules {
        thresholds: vec![(
            "s".into(),
            vec![
                threshold("http_req_failed", "rate<0.1"),
                threshold("http_req_failed", "rate<0.3"),
                threshold("http_req_duration", "p(95)>=20"),
                threshold("http_req_duration", "max<1"),
                threshold("http_req_duration{status:500}", "count>0"),
                threshold("http_reqs", "count==40"),
                threshold("http_req_duration{name:nothing}", "p(95)<1"),
            ],
        )],
        ..Rules::default()
    };
    let observed = interim(&ds, &rules);
    let judged = kaizen_loadtest::verdict::judge(&observed, &rules)
        .apply(observed)
        .scenarios
        .remove(0)
        .thresholds;
    let statuses: Vec<_> = judged.iter().map(|t| t.status).collect();
    // The reference API fails exactly 25% of requests: 10 of 40.
    assert_eq!(judged[0].observed, Some(0.25));
    // Thresholds on trends with no samples are judged as 0, as k6 does:
    // `count>0` fails and `p(95)<1` passes.
    assert_eq!(
        statuses,
        vec![Fail, Pass, Pass, Fail, Fail, Pass, Pass],
        "{judged:#?}"
    );
}

#[test]
fn plain_http_requests_are_timed_at_the_socket() {
    use kaizen_loadtest::engine::metrics::recorder::Trend;
    let _load = support::load_lock();
    let server = server_with("5ms", 0.0);
    let plan = plan_with(
        Executor::PerVuIterations {
            vus: 2,
            iterations: 5,
            max_duration: Duration::from_secs(30),
        },
        vec![get("health", "/health")],
    );
    let (_, ds) = run_plan(plan, server.base_url());
    assert_eq!(ds.series.len(), 1);
    let s = &ds.series[0];
    assert_eq!(s.count, 10);
    let h = |t: Trend| {
        s.hists[t as usize]
            .as_ref()
            .unwrap_or_else(|| panic!("{t:?} not recorded"))
    };
    for t in [
        Trend::Duration,
        Trend::Waiting,
        Trend::Receiving,
        Trend::Sending,
        Trend::Connecting,
        Trend::TlsHandshaking,
        Trend::Blocked,
    ] {
        assert_eq!(h(t).len(), 10, "{t:?}");
    }
    // Plain HTTP: no TLS. Two VUs connect at most twice; the other requests reuse a connection
    // (connecting 0).
    assert_eq!(h(Trend::TlsHandshaking).max(), 0);
    let connected = 10 - h(Trend::Connecting).count_between(0, 0);
    assert!((1..=2).contains(&connected), "{connected} connects");
    // The server holds each request 5 ms: that is waiting, inside the duration.
    assert!(
        h(Trend::Waiting).min() >= 5_000,
        "{}",
        h(Trend::Waiting).min()
    );
    assert!(h(Trend::Duration).min() >= h(Trend::Waiting).min());
    assert!(h(Trend::Duration).max() < 1_000_000);
    server.stop();
}

/// `http_req_waiting` runs from the last byte written to the first byte read, one clock
/// reading each: against a server that holds every request 10 ms, no wait is shorter, however
/// busy the generator (50 VUs on a 2-core machine). It came out at 7.3 ms when part of the wait
/// was booked as sending.
#[test]
fn a_held_response_is_all_waiting_at_50_vus() {
    use kaizen_loadtest::engine::metrics::recorder::Trend;
    let _load = support::load_lock();
    let server = server_with("10ms", 0.0);
    let plan = plan_with(
        Executor::PerVuIterations {
            vus: 50,
            iterations: 20,
            max_duration: Duration::from_secs(60),
        },
        vec![get("health", "/health")],
    );
    let (_, ds) = run_plan(plan, server.base_url());
    let s = &ds.series[0];
    assert_eq!((s.count, ds.series.len()), (1000, 1));
    let h = |t: Trend| s.hists[t as usize].as_ref().unwrap();
    assert!(
        h(Trend::Waiting).min() >= 10_000,
        "http_req_waiting min {} µs",
        h(Trend::Waiting).min()
    );
    assert!(h(Trend::Duration).min() >= h(Trend::Waiting).min());
    server.stop();
}

#[test]
fn https_connections_are_timed_where_they_are_made() {
    use kaizen_loadtest::engine::metrics::recorder::Trend;
    use std::sync::atomic::Ordering;
    let _load = support::load_lock();
    for h2 in [false, true] {
        let server = support::tls::TlsServer::start(h2);
        let mut plan = plan_with(
            Executor::PerVuIterations {
                vus: 1,
                iterations: 5,
                max_duration: Duration::from_secs(30),
            },
            vec![get("health", "/health")],
        );
        plan.tls.insecure_skip_verify = true;
        let (_, ds) = run_plan(plan, server.url.clone());
        let s = &ds.series[0];
        assert_eq!((s.count, s.status, ds.series.len()), (5, 200, 1), "h2 {h2}");
        // One connection, over HTTP/2 when the server offers it.
        assert_eq!(server.accepted.load(Ordering::SeqCst), 1, "h2 {h2}");
        assert_eq!(
            server.h2_connections.load(Ordering::SeqCst),
            u64::from(h2),
            "HTTP/2 is used when the server offers it"
        );
        let h = |t: Trend| {
            s.hists[t as usize]
                .as_ref()
                .unwrap_or_else(|| panic!("{t:?} not recorded (h2 {h2})"))
        };
        // One VU: the first request made the connection (connect and handshake measured), the
        // other four reused it (0, as k6).
        for t in [Trend::Connecting, Trend::TlsHandshaking] {
            assert_eq!(h(t).len(), 5, "{t:?} h2 {h2}");
            assert_eq!(h(t).count_between(0, 0), 4, "{t:?} h2 {h2}");
        }
        // A TLS handshake on loopback takes some hundreds of microseconds, never nothing.
        assert!(h(Trend::TlsHandshaking).max() > 0);
        assert!(
            h(Trend::Blocked).max() + 1
                >= h(Trend::Connecting).max() + h(Trend::TlsHandshaking).max()
        );
        // Every timing of every request, over either protocol: the sending of an HTTP/2
        // request ends when its frames reached the socket.
        for t in [
            Trend::Blocked,
            Trend::Sending,
            Trend::Waiting,
            Trend::Receiving,
        ] {
            assert_eq!(h(t).len(), 5, "{t:?} h2 {h2}");
        }
        assert_eq!(h(Trend::Blocked).count_between(0, 0), 4, "h2 {h2}");
        let parts: Vec<u64> = [
            Trend::Sending,
            Trend::Waiting,
            Trend::Receiving,
            Trend::Duration,
        ]
        .iter()
        .map(|&t| h(t).max())
        .collect();
        // Duration = sending + waiting + receiving, each request (within the histograms'
        // 3 significant digits).
        assert!(
            (parts[0] + parts[1] + parts[2]) * 1001 / 1000 + 2 >= parts[3],
            "h2 {h2}: {parts:?}"
        );
        drop(server);
    }
}

#[test]
fn static_bodies_survive_redirects_over_both_protocols() {
    use kaizen_loadtest::engine::metrics::recorder::Trend;
    let _load = support::load_lock();
    for h2 in [false, true] {
        let server = support::tls::TlsServer::start(h2);
        // A request built once before the run (static URL, headers and body), redirected with
        // 307: its later hop must send the body again, over HTTP/1.1 and HTTP/2 alike.
        let mut post = get("post", "/redirect");
        post.method = "POST".into();
        post.body = Some(Body::Text(
            template::compile("the static body", &NoVars).unwrap(),
        ));
        post.expect.checks = vec![Check {
            name: "echoed".into(),
            kind: CheckKind::BodyContains(template::Template::literal("the static body")),
        }];
        let mut plan = plan_with(
            Executor::PerVuIterations {
                vus: 1,
                iterations: 3,
                max_duration: Duration::from_secs(30),
            },
            vec![post],
        );
        plan.tls.insecure_skip_verify = true;
        let (_, ds) = run_plan(plan, server.url.clone());
        let c = &ds.checks[0];
        assert_eq!((c.passes, c.fails), (3, 0), "h2 {h2}: {:?}", ds.checks);
        let s = &ds.series[0];
        assert_eq!((s.count, s.status), (3, 200), "h2 {h2}");
        // Sending is the first hop's, waiting and receiving the last hop's: each stays within
        // the whole duration.
        let h = |t: Trend| s.hists[t as usize].as_ref().map(|h| h.max());
        let duration = h(Trend::Duration).unwrap();
        for t in [Trend::Sending, Trend::Waiting, Trend::Receiving] {
            let v = h(t).unwrap_or_else(|| panic!("{t:?} not recorded (h2 {h2})"));
            assert!(v <= duration, "{t:?} {v} > duration {duration} (h2 {h2})");
        }
    }
}
