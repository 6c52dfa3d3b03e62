//! `Summary`: the JSON summary, the source of truth of a run (`"schema": 1`, documented by
//! `schemas/summary.schema.json`). Every report is rendered from it alone, so `report` and `merge`
//! can rebuild every format later: besides the figures people read, it carries the serialized HDR
//! histograms (`data`) from which all of them are derived.

use std::collections::BTreeMap;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Always 1 for this layout.
    pub schema: u32,
    pub tool: Tool,
    pub run: RunMeta,
    pub verdict: Verdict,
    pub scenarios: Vec<ScenarioSummary>,
    /// The comparison with a baseline run (`--baseline`), when one was given.
    #[serde(default)]
    pub baseline: Option<Comparison>,
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

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
    pub mode: RunMode,
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
    pub segment: Option<Segment>,
    /// Marks the parts of one distributed run (`--run-id`, else the CI's run id).
    pub run_id: Option<String>,
}

/// How `RunMeta::aborted_by` begins when the plan's once-per-test setup failed (and so no
/// scenario ran).
pub const SETUP_FAILED: &str = "setup failed: ";

impl RunMeta {
    /// Why the once-per-test setup failed, when it did: no scenario ran.
    pub fn setup_failure(&self) -> Option<&str> {
        self.aborted_by.as_deref()?.strip_prefix(SETUP_FAILED)
    }
}

/// What made the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// One `run` on one machine (or one segment of a distributed run).
    #[default]
    Run,
    /// `merge` of the segments' summaries.
    Merge,
}

impl RunMode {
    /// The name in the JSON summary: `run`, `merge`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Run => "run",
            RunMode::Merge => "merge",
        }
    }
}

/// The run's verdict, as `crate::verdict::judge` decided it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
    /// Scenarios that tested nothing: no request completed, or every iteration was
    /// interrupted; they fail the run like thresholds.
    #[serde(default)]
    pub scenarios_failed: usize,
    /// The load generator was saturated: see `health`.
    #[serde(default)]
    pub inconclusive: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
    pub status: ScenarioStatus,
    /// Requests that completed (with a response or an error), as k6's `http_reqs` counts them.
    pub requests: u64,
    pub requests_failed: u64,
    /// Requests cut off in flight when their iteration was interrupted (the graceful stop ran
    /// out, an abort, a second signal): not in `requests`, as in k6.
    #[serde(default)]
    pub requests_interrupted: u64,
    /// Requests never sent because a value made them impossible to build (`invalid_request`:
    /// a line break in a header value, a URL that does not parse): the plan's data is at
    /// fault, not the target, so they are not in `requests` nor `requests_failed`.
    #[serde(default)]
    pub requests_invalid: u64,
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

/// How a scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScenarioStatus {
    /// It ran its course.
    #[default]
    Completed,
    /// A threshold with `abort_on_fail` stopped it.
    Aborted,
    /// SIGINT/SIGTERM stopped it.
    Interrupted,
}

impl ScenarioStatus {
    /// The name in the JSON summary and the reports: `completed`, `aborted`, `interrupted`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioStatus::Completed => "completed",
            ScenarioStatus::Aborted => "aborted",
            ScenarioStatus::Interrupted => "interrupted",
        }
    }
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

/// A summary written before `judged` existed compared its windows.
fn judged_by_default() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
    /// Seconds the scenario ran before it stopped starting iterations (the windows lie in it).
    #[serde(default)]
    pub steady_s: f64,
    /// Whether the windows were compared: the steady part held two of them (otherwise the
    /// drift limits are `no_data`, and the reports say why).
    #[serde(default = "judged_by_default")]
    pub judged: bool,
    pub first: WindowFigures,
    pub last: WindowFigures,
    pub slopes: Slopes,
    /// The plan's `drift:` limits, judged last window against first.
    pub rules: Vec<RegressionResult>,
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
    pub status: HealthStatus,
    pub reasons: Vec<String>,
    /// The process's CPU time over wall time and cores, percent.
    pub cpu_percent: Option<f64>,
}

/// Whether the generator's own figures can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    /// The generator was saturated: the figures may blame the target for its limits.
    Inconclusive,
    /// Not checked: `""`, in summaries written before the check existed (and without `health`).
    #[default]
    #[serde(rename = "")]
    Unchecked,
}

impl HealthStatus {
    /// The name in the JSON summary: `ok`, `inconclusive`, or empty.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Ok => "ok",
            HealthStatus::Inconclusive => "inconclusive",
            HealthStatus::Unchecked => "",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    #[serde(rename = "type")]
    pub kind: MetricType,
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
    /// Error class → why (`certificate expired`, `connection refused`, a status code for
    /// `status`) → count; each class's counts add up to its count in `errors` (absent from
    /// summaries written before reasons were counted).
    #[serde(default)]
    pub reasons: BTreeMap<String, BTreeMap<String, u64>>,
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

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
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
    #[serde(default)]
    pub interrupted: Vec<RawInterrupted>,
    /// `group_duration`, per scenario and group.
    #[serde(default)]
    pub groups: Vec<RawGroup>,
    /// Requests that could not be built and were never sent (`invalid_request`).
    #[serde(default)]
    pub invalid: Vec<RawInterrupted>,
    /// Why requests failed, counted per request and group (a `status` failure's reason is its
    /// status, and an `interrupted` one's is always the same: neither is here).
    #[serde(default)]
    pub reasons: Vec<RawReason>,
}

/// How often one reason failed the requests of one name (and group) in one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawReason {
    pub scenario: String,
    pub name: String,
    pub method: String,
    pub group: String,
    pub class: ErrorClass,
    /// A few words from the engine's fixed list (`certificate expired`), a timeout's with the
    /// request's timeout (`no response headers within 60s`).
    pub reason: String,
    pub count: u64,
}

/// How long the runs of one group took in one scenario (k6's `group_duration`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawGroup {
    pub scenario: String,
    /// The group's path: `outer::inner` (k6's `::outer::inner` without the leading `::`).
    pub group: String,
    /// Serialized histogram (µs).
    pub hist: String,
}

/// Requests cut off in flight (their iteration interrupted), or never sent because they could
/// not be built (`invalid_request`): not in `series`, which holds the requests that completed,
/// as k6 leaves them out of `http_reqs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawInterrupted {
    pub scenario: String,
    pub name: String,
    pub method: String,
    pub group: String,
    pub count: u64,
    pub bytes_sent: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawCheck {
    pub scenario: String,
    pub name: String,
    pub request: String,
    /// The group the request ran in (empty: none); k6 counts a check per group.
    #[serde(default)]
    pub group: String,
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
    pub error: ErrorClass,
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
    pub kind: MetricType,
    /// The request that fed it (`name` tag).
    pub name: String,
    /// Counter: the sum. Rate, trend and gauge: the number of samples.
    pub count: u64,
    pub trues: u64,
    pub hist: Option<String>,
    /// Gauge: its last value and extremes; null otherwise (and absent in summaries written
    /// before gauges).
    #[serde(default)]
    pub gauge: Option<RawGauge>,
}

/// A gauge's figures: the value recorded last, by wall-clock time, and the extremes. The time
/// makes merging exact in any order, across threads and across the machines of a distributed
/// run (as exact as their clocks agree).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RawGauge {
    pub value: f64,
    /// When `value` was recorded: microseconds since the Unix epoch.
    pub at_us: u64,
    pub min: f64,
    pub max: f64,
}

impl RawGauge {
    /// One sample.
    pub fn new(value: f64, at_us: u64) -> RawGauge {
        RawGauge {
            value,
            at_us,
            min: value,
            max: value,
        }
    }

    /// Folds another part's figures in: the later value wins, the larger one on a tie, so the
    /// order of folding never changes the result.
    pub fn absorb(&mut self, other: &RawGauge) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        if (other.at_us, other.value) > (self.at_us, self.value) {
            self.value = other.value;
            self.at_us = other.at_us;
        }
    }
}

/// Folds `other` into an optional gauge.
pub fn absorb_gauge(mine: &mut Option<RawGauge>, other: Option<&RawGauge>) {
    match (mine.as_mut(), other) {
        (Some(m), Some(o)) => m.absorb(o),
        (None, Some(o)) => *mine = Some(*o),
        _ => {}
    }
}

/// Why a request failed, as a stable key for thresholds, JUnit and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    None,
    Connect,
    Timeout,
    Reset,
    Tls,
    Protocol,
    Status,
    BodyTooLarge,
    Redirect,
    /// Cut off in flight: the iteration was interrupted before the response came.
    Interrupted,
    /// Not sent: a value that arrived at run time made the request impossible to build (a
    /// control character in a header value, a URL that does not parse). The plan's fault, not
    /// the target's.
    InvalidRequest,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::None => "none",
            ErrorClass::Connect => "connect",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Reset => "reset",
            ErrorClass::Tls => "tls",
            ErrorClass::Protocol => "protocol",
            ErrorClass::Status => "status",
            ErrorClass::BodyTooLarge => "body_too_large",
            ErrorClass::Redirect => "redirect",
            ErrorClass::Interrupted => "interrupted",
            ErrorClass::InvalidRequest => "invalid_request",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// (current − baseline) / baseline × 100, when both exist and the baseline is not 0.
    pub change_pct: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointDelta {
    /// Empty for the whole scenario.
    pub name: String,
    pub p50: Delta,
    pub p95: Delta,
    pub p99: Delta,
    pub error_rate: Delta,
    pub rps: Delta,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionResult {
    pub scenario: String,
    pub metric: String,
    pub rule: String,
    pub baseline: Option<f64>,
    pub current: Option<f64>,
    /// The most the current value may be.
    pub limit: Option<f64>,
    pub status: ThresholdStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioComparison {
    pub name: String,
    pub overall: EndpointDelta,
    pub endpoints: Vec<EndpointDelta>,
}

/// The comparison with a baseline, stored in the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Where the baseline came from (a file name).
    pub source: String,
    pub baseline_started_at: String,
    pub scenarios: Vec<ScenarioComparison>,
    pub regressions: Vec<RegressionResult>,
    /// A note when the baseline could not be used (e.g. missing), shown instead of deltas.
    pub note: Option<String>,
}

/// `--segment I/N`: the I-th of N equal slices of every selected scenario (how a plan is cut is
/// `crate::plan::segment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Counted from 1.
    pub index: u32,
    pub count: u32,
}

impl FromStr for Segment {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("\"{s}\" is not I/N (e.g. 1/4)"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("\"{i}\" is not a whole number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("\"{n}\" is not a whole number"))?;
        if count == 0 || count > 10_000 {
            return Err(format!(
                "the number of segments must be 1 to 10000, not {count}"
            ));
        }
        if index == 0 || index > count {
            return Err(format!(
                "segment {index} is not in 1..={count} (segments count from 1)"
            ));
        }
        Ok(Segment { index, count })
    }
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The four k6 metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    /// Sums its samples (`http_reqs`, `data_sent`).
    Counter,
    /// Keeps the last sample (`vus`).
    Gauge,
    /// The share of non-zero samples (`http_req_failed`, `checks`).
    Rate,
    /// A distribution of samples (`http_req_duration`).
    Trend,
}

impl MetricType {
    pub const ALL: [MetricType; 4] = [
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Rate,
        MetricType::Trend,
    ];

    /// The k6 name: `counter`, `gauge`, `rate` or `trend`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Rate => "rate",
            MetricType::Trend => "trend",
        }
    }
}

/// The statuses and modes print as their JSON names.
macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
display_as_str!(RunMode, ScenarioStatus, HealthStatus, MetricType);

/// The error of [`MetricType::from_str`]: a lowercase fragment naming the accepted types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric type \"{0}\"; expected counter, gauge, rate or trend")]
pub struct UnknownMetricType(pub String);

impl FromStr for MetricType {
    type Err = UnknownMetricType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MetricType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownMetricType(s.to_string()))
    }
}
