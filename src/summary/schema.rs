//! `Summary`: the JSON summary, the source of truth of a run (`"schema": 1`, documented by
//! `schemas/summary.schema.json`). Every report is rendered from it alone, so `report` and `merge`
//! can rebuild every format later: besides the figures people read, it carries the serialized HDR
//! histograms (`data`) from which all of them are derived.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::engine::metrics::recorder::{new_hist, Hist};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Always 1 for this layout.
    pub schema: u32,
    pub tool: Tool,
    pub run: RunMeta,
    pub verdict: Verdict,
    pub scenarios: Vec<ScenarioSummary>,
    /// The comparison with a baseline run (`--baseline`), when one was given.
    #[serde(default)]
    pub baseline: Option<crate::summary::compare::Comparison>,
    /// The load generator's own health.
    #[serde(default)]
    pub health: Health,
    /// The raw measurements everything above is derived from (exact, mergeable).
    pub data: RawData,
}

impl Summary {
    /// Every threshold result with the scenario it belongs to.
    pub fn thresholds(&self) -> impl Iterator<Item = (&ScenarioSummary, &ThresholdResult)> {
        self.scenarios
            .iter()
            .flat_map(|sc| sc.thresholds.iter().map(move |t| (sc, t)))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub plan_name: String,
    pub plan_file: String,
    /// sha256 of the plan file.
    pub plan_hash: String,
    pub environment: String,
    /// With any `user:password@` stripped.
    pub base_url: String,
    /// The scenarios selected, in the order they ran.
    pub scenarios: Vec<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub ended_at: String,
    pub duration_s: f64,
    /// `run`, `merge`.
    pub mode: String,
    pub parallel: bool,
    pub git_sha: Option<String>,
    pub ci_run_url: Option<String>,
    pub host_cpus: usize,
    /// The report file prefix: `<scenario|all|a+b>_<env>_<stamp>`.
    pub file_stem: String,
    /// Stopped by SIGINT/SIGTERM: the figures cover what ran.
    pub interrupted: bool,
    /// Set when an `abort_on_fail` threshold stopped the run.
    pub aborted_by: Option<String>,
    /// `--segment I/N`: this summary is one slice of a distributed run.
    pub segment: Option<crate::plan::segment::Segment>,
    /// Marks the parts of one distributed run (`--run-id`, else the CI's run id).
    pub run_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Every threshold passed (a threshold with no data does not fail the run; it is listed).
    pub passed: bool,
    pub thresholds_total: usize,
    pub thresholds_failed: usize,
    pub thresholds_no_data: usize,
    /// `metric expression` of each failed threshold, e.g. `http_req_duration p(95)<500`, then
    /// each broken regression limit, e.g. `regression: http_req_duration p(95) +20%`.
    pub failed: Vec<String>,
    /// Regression limits (against `--baseline`) broken; they fail the run like thresholds.
    #[serde(default)]
    pub regressions_failed: usize,
    /// Drift limits broken; they fail the run like thresholds.
    #[serde(default)]
    pub drift_failed: usize,
    /// The load generator was saturated: see `health`.
    #[serde(default)]
    pub inconclusive: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioSummary {
    pub name: String,
    pub executor: String,
    /// Seconds from the start of the run to the scenario's start.
    pub started_after_s: f64,
    /// How long it actually ran, graceful stop included.
    pub duration_s: f64,
    /// The planned duration before graceful stop.
    pub planned_duration_s: f64,
    pub vus_max: u64,
    /// `completed`, `aborted` (abort_on_fail), `interrupted` (signal).
    pub status: String,
    pub requests: u64,
    pub requests_failed: u64,
    /// Requests per second over `duration_s`.
    pub rps: f64,
    pub iterations: u64,
    pub iterations_interrupted: u64,
    pub dropped_iterations: u64,
    pub data_sent: u64,
    pub data_received: u64,
    /// k6-style metrics: name → type and values. Trend values are milliseconds.
    pub metrics: BTreeMap<String, Metric>,
    /// One row per request name (and group), in plan order.
    pub endpoints: Vec<Endpoint>,
    pub checks: Vec<CheckResult>,
    pub thresholds: Vec<ThresholdResult>,
    pub timeseries: TimeSeries,
    /// Open-model executors only: how late iterations started, and latency without the
    /// correction for coordinated omission.
    pub open_model: Option<OpenModel>,
    /// Soak drift: the first window against the last, and trend lines over the run.
    #[serde(default)]
    pub drift: Option<Drift>,
    /// Ramping scenarios: the highest load held before the SLO broke or throughput stopped
    /// growing.
    #[serde(default)]
    pub capacity: Option<Capacity>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowFigures {
    /// Seconds the window covers.
    pub span_s: f64,
    pub requests: u64,
    pub rps: f64,
    pub error_rate: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slopes {
    /// Change per hour of the interval p95 (ms/h), error rate (per hour) and req/s (per hour),
    /// least-squares over the time series.
    pub p95_ms_per_h: Option<f64>,
    pub error_rate_per_h: Option<f64>,
    pub rps_per_h: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    pub window_s: f64,
    pub first: WindowFigures,
    pub last: WindowFigures,
    pub slopes: Slopes,
    /// The plan's `drift:` limits, judged last window against first.
    pub rules: Vec<crate::summary::compare::RegressionResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakPoint {
    /// Seconds since the scenario started.
    pub t_s: f64,
    pub load: f64,
    pub rps: f64,
    pub p95_ms: Option<f64>,
    pub error_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    /// `VUs` or `iterations/s`.
    pub unit: String,
    /// The highest load level held before the break (or reached, when nothing broke).
    pub held_load: f64,
    /// The highest throughput reached before the break.
    pub held_rps: f64,
    /// What broke: `p95 over 1000 ms`, `error rate over 10%`, `throughput stopped growing`;
    /// absent when nothing broke.
    pub broken_by: Option<String>,
    /// The first interval where it broke, with its figures (the evidence).
    pub at: Option<BreakPoint>,
    /// One line for people: `capacity ≈ 310 VUs / 2450 req/s; p95 crossed 1000 ms at 320 VUs`.
    pub text: String,
}

/// Whether the load generator itself kept up; when it did not, the figures may blame the
/// target for the generator's limits and the run is marked inconclusive.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Health {
    /// `ok` or `inconclusive`.
    pub status: String,
    pub reasons: Vec<String>,
    /// The process's CPU time over wall time and cores, percent.
    pub cpu_percent: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// `trend`, `counter`, `rate`, `gauge`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Trend: avg min med max p(90) p(95) p(99) p(99.9) count (ms). Counter: count rate.
    /// Rate: rate passes fails. Gauge: value min max.
    pub values: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub name: String,
    pub method: String,
    pub group: String,
    pub requests: u64,
    pub failed: u64,
    pub rps: f64,
    /// Latency of `http_req_duration`, ms.
    pub latency: Latency,
    /// HTTP status → count; "0" for no response.
    pub statuses: BTreeMap<String, u64>,
    /// Error class (timeout, connect, status, ...) → count.
    pub errors: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Latency {
    pub avg: f64,
    pub min: f64,
    pub med: f64,
    pub max: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// `login: status is 200`.
    pub name: String,
    pub request: String,
    pub passes: u64,
    pub fails: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThresholdStatus {
    Pass,
    Fail,
    NoData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The metric key as written: `http_req_duration{name:login}`.
    pub metric: String,
    /// The condition as written: `p(95)<500`.
    pub expression: String,
    /// The aggregated value it was judged on (trend values in ms), absent with no data.
    pub observed: Option<f64>,
    pub limit: f64,
    /// `ms` for trends, `rate` for rate metrics (0..1), `count` for a `count` condition, `per_s`
    /// for a counter's `rate`, `` for gauges.
    pub unit: String,
    pub status: ThresholdStatus,
    pub abort_on_fail: bool,
    /// Line of the threshold in the plan (0 when unknown).
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeSeries {
    /// Width of one point, seconds (1 s, widened for long runs so the series stays ≤ 1800 points).
    pub interval_s: f64,
    pub points: Vec<Point>,
}

impl TimeSeries {
    /// Seconds point `i` covers: the interval, less for the first point when the scenario
    /// started inside it and for the last when it ended inside it (`duration_s` after it
    /// started).
    pub fn covered_s(&self, i: usize, duration_s: f64) -> f64 {
        let iv = self.interval_s.max(1e-3);
        let t = self.points[i].t;
        let end = self.points.get(i + 1).map_or(duration_s, |next| next.t);
        let w = iv.min(end - t);
        if w > 0.0 {
            w
        } else {
            iv
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Seconds since the scenario started (start of the interval).
    pub t: f64,
    pub requests: u64,
    pub failed: u64,
    pub iterations: u64,
    /// Active VUs at the end of the interval.
    pub vus: u64,
    /// `http_req_duration` percentiles over the interval, ms (absent with no requests).
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenModel {
    pub start_lag_p50_ms: f64,
    pub start_lag_p99_ms: f64,
    pub start_lag_max_ms: f64,
    /// `http_req_duration` p95/p99 measured from the actual send, ms.
    pub raw_p95_ms: f64,
    pub raw_p99_ms: f64,
}

/// The raw, mergeable measurements. Keys are names, not plan indices, so parts from other
/// processes combine without the plan. Histograms are HDR V2, deflate-compressed, base64.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RawData {
    pub series: Vec<RawSeries>,
    pub scenarios: Vec<RawScenario>,
    pub checks: Vec<RawCheck>,
    pub custom: Vec<RawCustom>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawCheck {
    pub scenario: String,
    pub name: String,
    pub request: String,
    pub passes: u64,
    pub fails: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawSeries {
    pub scenario: String,
    pub name: String,
    pub method: String,
    pub group: String,
    pub status: u16,
    pub error: crate::engine::metrics::recorder::ErrorClass,
    pub failed: bool,
    pub count: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Metric name (`http_req_duration`, ...) → serialized histogram (µs).
    pub hists: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawScenario {
    pub name: String,
    pub duration_s: f64,
    pub iterations: u64,
    pub interrupted: u64,
    pub dropped: u64,
    pub vus_max: u64,
    /// `iteration_duration`, `start_lag`, `raw_duration` → serialized histogram (µs).
    pub hists: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawCustom {
    pub scenario: String,
    pub metric: String,
    /// `trend`, `counter`, `rate`.
    pub kind: String,
    /// The request that fed it (`name` tag).
    pub name: String,
    pub count: u64,
    pub trues: u64,
    pub hist: Option<String>,
}

/// Why a serialized histogram could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum HistDecodeError {
    #[error("histogram is not valid base64")]
    Base64(#[source] base64::DecodeError),
    #[error("histogram is not a valid HDR V2 (deflate) encoding")]
    Hdr(#[source] hdrhistogram::serialization::DeserializeError),
    #[error("histogram holds values outside 1 µs..1 h")]
    Bounds(#[source] hdrhistogram::AdditionError),
}

/// Serializes a histogram for [`RawData`]: HDR V2 with deflate, then standard base64 (the
/// encoding HdrHistogram's other implementations read too).
pub fn encode_hist(h: &Hist) -> String {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .expect("serializing into a Vec cannot fail");
    BASE64.encode(buf)
}

/// Reads a histogram written by [`encode_hist`]. The result always has the recorder's
/// resolution and ceiling, so it merges with any other histogram of the run with `add`.
pub fn decode_hist(s: &str) -> Result<Hist, HistDecodeError> {
    let bytes = BASE64.decode(s.trim()).map_err(HistDecodeError::Base64)?;
    let read: Hist = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(HistDecodeError::Hdr)?;
    if read.max() > crate::engine::metrics::recorder::HIST_HIGH {
        return Err(HistDecodeError::Bounds(
            hdrhistogram::AdditionError::OtherAddendValueExceedsRange,
        ));
    }
    let mut out = new_hist();
    out.add(&read).map_err(HistDecodeError::Bounds)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_survive_encoding() {
        let mut h = new_hist();
        for v in (1..5000u64).map(|i| i * 37) {
            h.record(v).unwrap();
        }
        h.record(3_000_000_000).unwrap();
        let s = encode_hist(&h);
        assert!(s.is_ascii());
        let back = decode_hist(&s).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.value_at_quantile(0.95), h.value_at_quantile(0.95));
        assert_eq!(decode_hist(&encode_hist(&new_hist())).unwrap().len(), 0);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            decode_hist("%%%"),
            Err(HistDecodeError::Base64(_))
        ));
        assert!(matches!(decode_hist("AAAA"), Err(HistDecodeError::Hdr(_))));
        // A histogram from elsewhere with values past the 1-hour ceiling is refused, not grown to.
        let mut wide = Hist::new_with_bounds(1, u64::MAX / 4, 3).unwrap();
        wide.record(10 * crate::engine::metrics::recorder::HIST_HIGH)
            .unwrap();
        assert!(matches!(
            decode_hist(&encode_hist(&wide)),
            Err(HistDecodeError::Bounds(_))
        ));
    }
}
