//! The validated plan: every value parsed, every name resolved to an index, every template
//! compiled. `plan::validate` builds it; `exec` and `thresholds` consume it and never see YAML.
//!
//! Names are resolved to indices at validation (`RequestId`, `FeedId`, `MetricId`, capture slots),
//! so the engine never looks anything up by string on the hot path.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;

use crate::plan::template::{JsonTemplate, Template};
use crate::redact::{is_credential_header, Redactor};
use crate::rules::threshold::Threshold;
use crate::rules::Rules;
use crate::summary::schema::MetricType;

/// Index into [`Plan::requests`].
pub type RequestId = usize;
/// Index into [`Plan::feeds`].
pub type FeedId = usize;
/// Index into [`Plan::metrics`].
pub type MetricId = usize;

/// The most VUs one process runs: validation bounds each scenario by it, and the engine the
/// run's peak; more is a job for `--segment I/N` across processes.
pub const MAX_VUS_PER_PROCESS: u64 = 100_000;

#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    /// The plan file as given on the command line.
    pub file: PathBuf,
    /// sha256 of the plan file's bytes, hex: parts of one distributed run must share it.
    pub hash: String,
    pub environments: Vec<Environment>,
    pub default_environment: Option<String>,
    pub defaults: Defaults,
    pub feeds: Vec<Feed>,
    pub requests: Vec<RequestSpec>,
    /// The plan's custom metrics (`metrics:`), in declaration order.
    pub metrics: Vec<CustomMetric>,
    /// Capture names, in slot order: a VU keeps one `Option<String>` per slot.
    pub captures: Vec<String>,
    /// Plan-wide thresholds, applied to every scenario unless the scenario sets the same key.
    pub thresholds: Vec<Threshold>,
    /// Plan order: `run all` runs them in this order.
    pub scenarios: Vec<Scenario>,
    /// Once per test, before the first scenario starts (k6's `setup()`); what it captures is
    /// the `setup` feed, `{{setup.NAME}}` in every VU.
    pub setup: Option<Phase>,
    /// Once per test, after the last scenario ends (k6's `teardown()`).
    pub teardown: Option<Phase>,
    /// Values of `vars` that must never be printed (secret: true, or read from an environment
    /// variable named like a secret). Used by the redactor.
    pub secrets: Vec<String>,
    /// Warnings found while validating (an unset `${VAR}` that no request uses, ...).
    pub warnings: Vec<String>,
    /// Regression limits against a baseline (`regression:`), judged like thresholds.
    pub regressions: Vec<crate::rules::regression::RegressionRule>,
    /// Soak-drift limits: how much worse the last window may be than the first (`drift:`).
    pub drift: Vec<crate::rules::regression::RegressionRule>,
    /// The drift window (`drift_window:`); default 10 minutes, or a tenth of a shorter scenario.
    pub drift_window: Option<Duration>,
    /// How the target's certificate is checked (`tls:`).
    pub tls: TlsOptions,
}

/// `tls:` — by default certificates are checked against the web PKI roots.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Accept any certificate: self-signed, expired, another host's.
    pub insecure_skip_verify: bool,
    /// Extra trusted roots (a private CA): the certificates of the plan's `ca_file`, read and
    /// parsed at validation.
    pub ca_certificates: Vec<CertificateDer<'static>>,
}

#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    pub base_url: String,
    pub protected: bool,
    /// Replace the plan's thresholds for the same metric key (production stricter than staging).
    pub thresholds: Vec<Threshold>,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Defaults {
    pub headers: Vec<Header>,
    pub timeout: Duration,
    pub think: Option<Think>,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            headers: Vec::new(),
            timeout: Duration::from_secs(60),
            think: None,
        }
    }
}

/// A pause: fixed or uniformly drawn from a range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Think {
    pub min: Duration,
    pub max: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedOrder {
    /// Each VU walks the rows in order, starting at a different offset, wrapping around.
    Sequential,
    /// Each iteration draws a row at random.
    Random,
    /// Every row is handed out once across all VUs; when they run out the feed wraps and says so.
    Unique,
}

#[derive(Debug, Clone)]
pub struct Feed {
    pub name: String,
    pub path: PathBuf,
    pub order: FeedOrder,
    pub columns: Vec<String>,
    pub rows: Arc<Rows>,
}

/// A feed's rows, every cell in one buffer: two allocations for the whole file, not one per
/// cell, so a large CSV costs little more memory than its text (and reading a hostile one that
/// fails on its last line costs little too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rows {
    columns: usize,
    text: String,
    /// Where each cell ends in `text`, row after row.
    ends: Vec<u32>,
    /// Per cell, whether it is JSON text (what `setup` captured as a number, boolean, null,
    /// object or array); empty when no cell is (a CSV file).
    json: Vec<bool>,
}

impl Rows {
    /// Rows of `columns` cells each.
    pub fn new(columns: usize) -> Rows {
        Rows {
            columns: columns.max(1),
            ..Rows::default()
        }
    }

    /// Appends a row; `None` when it has another number of cells, or the cells outgrow 4 GiB.
    pub fn push<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) -> Option<()> {
        let before = self.ends.len();
        for c in cells {
            self.text.push_str(c);
            match u32::try_from(self.text.len()) {
                Ok(end) => self.ends.push(end),
                Err(_) => {
                    self.ends.truncate(before);
                    return None;
                }
            }
        }
        if self.ends.len() - before != self.columns {
            self.ends.truncate(before);
            return None;
        }
        Some(())
    }

    /// Appends a row of values that may be JSON text (`(text, is_json)`), as `push`.
    pub fn push_typed<'a>(
        &mut self,
        cells: impl IntoIterator<Item = (&'a str, bool)> + Clone,
    ) -> Option<()> {
        let before = self.ends.len();
        self.push(cells.clone().into_iter().map(|(c, _)| c))?;
        if cells.clone().into_iter().any(|(_, j)| j) || !self.json.is_empty() {
            self.json.resize(before, false);
            self.json.extend(cells.into_iter().map(|(_, j)| j));
        }
        Some(())
    }

    /// Whether the cell at `row`, `column` is JSON text.
    pub fn is_json(&self, row: usize, column: usize) -> bool {
        row.checked_mul(self.columns)
            .and_then(|i| i.checked_add(column))
            .filter(|_| column < self.columns)
            .and_then(|i| self.json.get(i))
            .copied()
            .unwrap_or(false)
    }

    pub fn len(&self) -> usize {
        self.ends.len() / self.columns
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The cell at `row`, `column`.
    pub fn cell(&self, row: usize, column: usize) -> Option<&str> {
        if column >= self.columns {
            return None;
        }
        let i = row.checked_mul(self.columns)?.checked_add(column)?;
        let end = *self.ends.get(i)? as usize;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] as usize,
        };
        self.text.get(start..end)
    }

    /// The rows whose index `keep` accepts, in order.
    pub fn filtered(&self, keep: impl Fn(usize) -> bool) -> Rows {
        let mut out = Rows::new(self.columns);
        for r in (0..self.len()).filter(|&r| keep(r)) {
            let cells = (0..self.columns).map(|c| self.cell(r, c).unwrap_or_default());
            out.push(cells);
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct Header {
    pub name: String,
    pub value: Template,
}

#[derive(Debug, Clone)]
pub enum Body {
    Json(JsonTemplate),
    Text(Template),
    /// `application/x-www-form-urlencoded`, fields in order.
    Form(Vec<(String, Template)>),
}

#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub name: String,
    /// Upper case: GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS.
    pub method: String,
    /// A path joined to the environment's base URL, or an absolute URL.
    pub url: Template,
    pub query: Vec<(String, Template)>,
    pub headers: Vec<Header>,
    pub body: Option<Body>,
    pub expect: Expect,
    pub captures: Vec<Capture>,
    /// Custom trends, counters and rates this request feeds.
    pub metrics: Vec<MetricId>,
    /// Custom gauges this request feeds, each with where its value is in the response.
    pub gauges: Vec<GaugeFeed>,
    pub timeout: Option<Duration>,
    /// Line of the request in the plan, for annotations.
    pub line: usize,
}

impl RequestSpec {
    /// The names of this request's checks, as k6 shows them and the `check` tag holds them:
    /// its `expect` checks, then one per capture. `captures` is [`Plan::captures`].
    pub fn check_names<'a>(&'a self, captures: &'a [String]) -> impl Iterator<Item = String> + 'a {
        let expect = self.expect.checks.iter().map(|c| c.name.clone());
        let captured = self
            .captures
            .iter()
            .map(move |c| format!("{}: captured {}", self.name, captures[c.slot]));
        expect.chain(captured)
    }
}

/// What a response must look like. Each item is one k6 `check`, named like k6 would show it.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Accepted statuses. Empty: k6's default, anything below 400 is expected.
    pub status: Vec<u16>,
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone)]
pub struct Check {
    /// Shown in reports: `login: status is 200`, `login: has access_token`.
    pub name: String,
    pub kind: CheckKind,
}

#[derive(Debug, Clone)]
pub enum CheckKind {
    Status(Vec<u16>),
    /// A JSON path that must exist in the body.
    JsonPresent(JsonPathSpec),
    /// A JSON path whose value must compare so with the expected one (`eq`: equal).
    JsonIs(JsonPathSpec, Compare, Expected),
    /// The body contains this text (rendered per request).
    BodyContains(Template),
    HeaderPresent(String),
    MaxDuration(Duration),
}

/// How a value found in a response is compared with the expected one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Compare {
    /// The key that asks for it in `expect.json` (`{ gt: 0 }`).
    pub const KEYS: [(&'static str, Compare); 6] = [
        ("eq", Compare::Eq),
        ("ne", Compare::Ne),
        ("gt", Compare::Gt),
        ("gte", Compare::Gte),
        ("lt", Compare::Lt),
        ("lte", Compare::Lte),
    ];

    /// As the check's name shows it.
    pub fn symbol(self) -> &'static str {
        match self {
            Compare::Eq => "is",
            Compare::Ne => "is not",
            Compare::Gt => ">",
            Compare::Gte => ">=",
            Compare::Lt => "<",
            Compare::Lte => "<=",
        }
    }
}

/// An expected value: known at validation, or a template rendered per request with the
/// request's own variables (`"{{agent_id}}"`: what this VU created), keeping JSON types as a
/// JSON body does.
#[derive(Debug, Clone)]
pub enum Expected {
    Value(serde_json::Value),
    Template(JsonTemplate),
}

/// A compiled JSONPath with its source text.
#[derive(Debug, Clone)]
pub struct JsonPathSpec {
    pub source: String,
    pub path: Arc<serde_json_path::JsonPath>,
}

#[derive(Debug, Clone)]
pub struct Capture {
    /// Index into [`Plan::captures`].
    pub slot: usize,
    pub source: CaptureSource,
}

#[derive(Debug, Clone)]
pub enum CaptureSource {
    Json(JsonPathSpec),
    Header(String),
    Cookie(String),
}

/// A gauge fed by a request: the value read from the response, as a capture reads it.
#[derive(Debug, Clone)]
pub struct GaugeFeed {
    pub metric: MetricId,
    pub source: CaptureSource,
}

#[derive(Debug, Clone)]
pub struct CustomMetric {
    pub name: String,
    pub kind: MetricType,
}

/// One step of a flow, with flows already inlined.
#[derive(Debug, Clone)]
pub enum Step {
    Request(RequestId),
    /// A weighted choice made once per iteration; `cumulative[i]` is the sum of weights 0..=i.
    Pick {
        cumulative: Vec<u32>,
        branches: Vec<Vec<Step>>,
    },
    Group {
        name: String,
        steps: Vec<Step>,
    },
    Think(Think),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub target: u64,
}

/// The six k6 executors, with their parameters parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Executor {
    ConstantVus {
        vus: u64,
        duration: Duration,
    },
    RampingVus {
        start_vus: u64,
        stages: Vec<Stage>,
        graceful_ramp_down: Duration,
    },
    PerVuIterations {
        vus: u64,
        iterations: u64,
        max_duration: Duration,
    },
    SharedIterations {
        vus: u64,
        iterations: u64,
        max_duration: Duration,
    },
    ConstantArrivalRate {
        rate: u64,
        time_unit: Duration,
        duration: Duration,
        pre_allocated_vus: u64,
        max_vus: u64,
    },
    RampingArrivalRate {
        start_rate: u64,
        time_unit: Duration,
        stages: Vec<Stage>,
        pre_allocated_vus: u64,
        max_vus: u64,
    },
}

impl Executor {
    /// The k6 name of the executor.
    pub fn name(&self) -> &'static str {
        match self {
            Executor::ConstantVus { .. } => "constant-vus",
            Executor::RampingVus { .. } => "ramping-vus",
            Executor::PerVuIterations { .. } => "per-vu-iterations",
            Executor::SharedIterations { .. } => "shared-iterations",
            Executor::ConstantArrivalRate { .. } => "constant-arrival-rate",
            Executor::RampingArrivalRate { .. } => "ramping-arrival-rate",
        }
    }

    /// Open-model executors start iterations on a schedule, whatever the target does.
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            Executor::ConstantArrivalRate { .. } | Executor::RampingArrivalRate { .. }
        )
    }

    /// How long the executor runs before graceful stop (for iteration-based executors, the
    /// `max_duration`).
    pub fn duration(&self) -> Duration {
        match self {
            Executor::ConstantVus { duration, .. }
            | Executor::ConstantArrivalRate { duration, .. } => *duration,
            Executor::RampingVus { stages, .. } | Executor::RampingArrivalRate { stages, .. } => {
                stages.iter().map(|s| s.duration).sum()
            }
            Executor::PerVuIterations { max_duration, .. }
            | Executor::SharedIterations { max_duration, .. } => *max_duration,
        }
    }

    /// The most VUs the executor may use at once.
    pub fn max_vus(&self) -> u64 {
        match self {
            Executor::ConstantVus { vus, .. }
            | Executor::PerVuIterations { vus, .. }
            | Executor::SharedIterations { vus, .. } => *vus,
            Executor::RampingVus {
                start_vus, stages, ..
            } => stages.iter().map(|s| s.target).fold(*start_vus, u64::max),
            Executor::ConstantArrivalRate {
                pre_allocated_vus,
                max_vus,
                ..
            }
            | Executor::RampingArrivalRate {
                pre_allocated_vus,
                max_vus,
                ..
            } => (*max_vus).max(*pre_allocated_vus),
        }
    }
}

/// The name of the feed that holds what the once-per-test setup captured, and of the
/// `scenario` tag its requests carry; `teardown` is the teardown's tag. No scenario, feed or
/// capture may take these names.
pub const SETUP: &str = "setup";
pub const TEARDOWN: &str = "teardown";

/// A plan's once-per-test `setup:` or `teardown:`: its steps run by one VU, once or once per
/// row of a feed, before the first (after the last) scenario.
#[derive(Debug, Clone)]
pub struct Phase {
    pub steps: Vec<Step>,
    /// Run the steps once per row of this feed (`for_each`)...
    pub for_each: Option<FeedId>,
    /// ... else this many times (`iterations`, default 1).
    pub iterations: u64,
    /// The longest the whole phase may take (k6's `setupTimeout`/`teardownTimeout`: 60 s).
    pub timeout: Duration,
    /// The scenarios it runs for (indices); empty: every scenario. A run that selects none of
    /// them skips it.
    pub scenarios: Vec<usize>,
    /// Setup only: the capture slots it hands out, in the order of the `setup` feed's
    /// columns.
    pub exports: Vec<usize>,
    pub line: usize,
}

impl Phase {
    /// Whether a run of `selected` (scenario indices) needs it.
    pub fn applies_to(&self, selected: &[usize]) -> bool {
        self.scenarios.is_empty() || selected.iter().any(|i| self.scenarios.contains(i))
    }
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub executor: Executor,
    pub start_time: Duration,
    pub graceful_stop: Duration,
    /// Once per VU, before its first iteration.
    pub setup: Vec<Step>,
    /// Every iteration.
    pub flow: Vec<Step>,
    /// Once per VU, after its last iteration.
    pub teardown: Vec<Step>,
    /// The scenario's own thresholds (they replace plan-wide ones with the same key).
    pub thresholds: Vec<Threshold>,
    /// May run against a `protected` environment.
    pub protected_ok: bool,
    /// Pause after each request unless the request's flow sets its own `think` step.
    pub think: Option<Think>,
    /// `judge: false`: a helper (seeding a store): it runs and is reported, and only its own
    /// `thresholds:` judge it, not the plan's or the environment's.
    pub judge: bool,
    pub line: usize,
}

impl Plan {
    /// Hands a redactor everything the plan holds that must not be printed: its secrets, the
    /// credentials in its base URLs, and the values of its credential headers (only their literal
    /// parts when templated: what a VU fills in is its own).
    pub fn register_secrets(&self, r: &mut Redactor) {
        for s in &self.secrets {
            r.add(s);
        }
        for e in &self.environments {
            r.add_url(&e.base_url);
        }
        let headers = self
            .defaults
            .headers
            .iter()
            .chain(self.requests.iter().flat_map(|r| r.headers.iter()));
        for h in headers {
            if !is_credential_header(&h.name) {
                continue;
            }
            match h.value.as_static() {
                Some(v) => r.add_credential(v),
                None => {
                    for lit in h.value.literals() {
                        r.add_credential(lit);
                    }
                }
            }
        }
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }

    pub fn scenario(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// The index the engine records the once-per-test setup's requests under (past the
    /// scenarios'); the teardown's is the next one.
    pub fn setup_index(&self) -> usize {
        self.scenarios.len()
    }

    /// The `scenario` tag of what the engine recorded under `index`: a scenario's name, or
    /// `setup`/`teardown`.
    pub fn scenario_name(&self, index: usize) -> &str {
        match self.scenarios.get(index) {
            Some(s) => &s.name,
            None if index == self.setup_index() => SETUP,
            None => TEARDOWN,
        }
    }

    /// The feed holding what the once-per-test setup captured.
    pub fn setup_feed(&self) -> Option<FeedId> {
        self.setup.as_ref()?;
        self.feeds.iter().position(|f| f.name == SETUP)
    }

    /// The type of a metric name, built-in or declared by the plan.
    pub fn metric_type(&self, name: &str) -> Option<MetricType> {
        crate::rules::threshold::builtin_metric(name)
            .or_else(|| self.metrics.iter().find(|m| m.name == name).map(|m| m.kind))
    }

    /// The rules a run of `scenarios` (indices, in run order) in `env` is judged by.
    pub fn rules(&self, scenarios: &[usize], env: Option<&Environment>) -> Rules {
        Rules {
            thresholds: scenarios
                .iter()
                .map(|&i| {
                    let s = &self.scenarios[i];
                    (s.name.clone(), self.thresholds_for(s, env))
                })
                .collect(),
            drift: self.drift.clone(),
            regressions: self.regressions.clone(),
        }
    }

    /// The thresholds that apply to a scenario in an environment: plan-wide, replaced per key
    /// by the environment's, replaced per key by the scenario's.
    pub fn thresholds_for(&self, scenario: &Scenario, env: Option<&Environment>) -> Vec<Threshold> {
        // A helper scenario (`judge: false`) is judged by its own thresholds alone.
        let mut out: Vec<Threshold> = if scenario.judge {
            self.thresholds.clone()
        } else {
            Vec::new()
        };
        let mut overlay = |layer: &[Threshold]| {
            for t in layer {
                if let Some(slot) = out.iter_mut().find(|o| o.key == t.key) {
                    *slot = t.clone();
                } else {
                    out.push(t.clone());
                }
            }
        };
        if let Some(env) = env.filter(|_| scenario.judge) {
            overlay(&env.thresholds);
        }
        overlay(&scenario.thresholds);
        // A selector that names another scenario selects none of this one's samples: as in k6,
        // where `{scenario:a}` is judged on scenario a alone, it is not this scenario's to judge
        // (judged here it would read as 0, and `count>0` would fail a scenario it never named).
        out.retain(|t| {
            t.key
                .tags
                .iter()
                .all(|(tag, value)| tag != "scenario" || *value == scenario.name)
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Rows;

    #[test]
    fn rows_hold_their_cells_in_one_buffer() {
        let mut typed = Rows::new(2);
        assert!(typed.push_typed([("x", false), ("1", true)]).is_some());
        assert!(typed.push_typed([("y", false), ("z", false)]).is_some());
        assert!(typed.is_json(0, 1) && !typed.is_json(0, 0) && !typed.is_json(1, 1));
        assert!(!typed.is_json(0, 2) && !typed.is_json(9, 0));

        let mut rows = Rows::new(2);
        assert!(rows.push(["a@x", "1"]).is_some());
        assert!(rows.push(["", "é,\n"]).is_some());
        assert!(rows.push(["only one"]).is_none(), "a ragged row is refused");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows.cell(0, 0), Some("a@x"));
        assert_eq!(rows.cell(1, 0), Some(""));
        assert_eq!(rows.cell(1, 1), Some("é,\n"));
        assert_eq!(rows.cell(1, 2), None);
        assert_eq!(rows.cell(2, 0), None);
        // A segment's deal of a `unique` feed.
        let odd = rows.filtered(|i| i % 2 == 1);
        assert_eq!((odd.len(), odd.cell(0, 1)), (1, Some("é,\n")));
    }
}
