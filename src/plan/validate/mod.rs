//! Validation: positioned YAML tree → [`Plan`](super::Plan), every problem collected.
//!
//! The file is read and parsed by [`crate::plan::yaml`] (bounded in size, depth and node count), then
//! walked once in an order that lets every name be resolved where it is used:
//!
//! 1. `version`, `name`, `vars` (with `${X}` expanded), `environments`, `data` (CSV files read),
//!    `metrics`;
//! 2. capture names, from every request's `capture:`, so any template may read any of them;
//! 3. `defaults` and `requests`, compiling every template through [`scope::PlanScope`];
//! 4. `flows` and `scenarios`, inlining flows and catching cycles;
//! 5. thresholds (plan-wide, per environment, per scenario), once every request, scenario and
//!    group name is known;
//! 6. plan-wide checks: every custom metric is fed by some request, and unset `${X}` are
//!    warnings or (with `strict_env`, when a request uses them) errors.
//!
//! Every problem becomes a [`Diagnostic`] with its line, column and YAML path; the plan is
//! returned only when there are none.

mod env;
mod executor;
mod feeds;
mod phase;
mod regression;
mod requests;
mod scope;
mod steps;
mod threshold;
mod tls;
mod tree;

use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::model::{
    CustomMetric, Defaults, Environment, Phase, Plan, RequestId, RequestSpec, Scenario, SETUP,
    TEARDOWN,
};
use crate::plan::yaml::{self, Diagnostic, Limits, LoadError, Node, Parsed, Value};
use crate::rules::threshold::Threshold;
use crate::rules::threshold::{builtin_metric, is_valid_metric_name};
use crate::suggest;
use crate::summary::schema::MetricType;

use scope::{FeedNames, PlanScope, BUILTINS};
use steps::Steps;
use tree::{
    bool_of, duration_of, is_identifier, is_var_name, kind, name_of, positive_duration_of,
    think_of, Cx, Fields, P,
};

/// How to load a plan.
pub struct LoadOptions<'a> {
    /// Reads an environment variable for `${X}` / `${X:-default}` (tests pass their own).
    pub env_lookup: &'a dyn Fn(&str) -> Option<String>,
    /// `run`: an unset `${X}` without default that a request uses is an error; `validate`: a
    /// warning.
    pub strict_env: bool,
}

/// Why a plan could not be loaded. Every variant means exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The rendered diagnostics, one `FILE:LINE:COL: PATH: message` per line and a count line.
    /// The first line has no `error: ` prefix: `main` prints one.
    #[error("{0}")]
    Invalid(String),
}

const TOP_KEYS: [&str; 18] = [
    "version",
    "name",
    "default_environment",
    "environments",
    "vars",
    "defaults",
    "data",
    "requests",
    "metrics",
    "flows",
    "thresholds",
    "regression",
    "drift",
    "drift_window",
    "scenarios",
    "setup",
    "teardown",
    "tls",
];

/// Whether an environment variable's name says it holds a secret (`TOKEN`, `KEY`, ...): a var
/// that reads it is never printed.
pub fn is_secret_env_name(name: &str) -> bool {
    env::is_secret_name(name)
}

/// The only plan version this build reads.
pub const PLAN_VERSION: i64 = 1;

/// Loads, parses and validates the plan at `path`.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Plan, PlanError> {
    let shown = path.display().to_string();
    let (text, parsed) =
        yaml::load_file_collecting(path, &Limits::default()).map_err(|e| match e {
            LoadError::Yaml { source, .. } => {
                PlanError::Invalid(render(&shown, vec![source.into()]))
            }
            LoadError::Io { path, source } => {
                PlanError::Invalid(format!("cannot read plan {}: {source}", path.display()))
            }
            other => PlanError::Invalid(other.to_string()),
        })?;
    let hash = hex(&Sha256::digest(text.as_bytes()));
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    validate(&parsed, path, &dir, hash, opts)
}

/// Parses and validates a plan held in memory as if it were read from `file` (relative paths
/// resolve beside it): for plans that do not come from a file, and for fuzzing.
pub fn load_bytes(bytes: &[u8], file: &Path, opts: &LoadOptions) -> Result<Plan, PlanError> {
    let shown = file.display().to_string();
    let parsed = yaml::parse_collecting(bytes, &Limits::default())
        .map_err(|e| PlanError::Invalid(render(&shown, vec![e.into()])))?;
    let hash = hex(&Sha256::digest(bytes));
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    validate(&parsed, file, &dir, hash, opts)
}

/// Validates a parsed plan. `dir` is where relative paths (CSV feeds) are resolved.
pub(crate) fn validate(
    parsed: &Parsed,
    file: &Path,
    dir: &Path,
    hash: String,
    opts: &LoadOptions,
) -> Result<Plan, PlanError> {
    let shown = file.display().to_string();
    let mut cx = Cx::default();
    let plan = plan(&mut cx, &parsed.root, file, dir, hash, opts);
    let Cx {
        diags,
        warnings,
        secrets,
    } = cx;
    if !diags.is_empty() || !parsed.value_errors.is_empty() {
        let mut text = render(&shown, with_value_errors(diags, &parsed.value_errors));
        // The warnings too, before the count: a threshold that selects nothing is worth
        // knowing in the same pass as the errors.
        let mut warnings = warnings;
        warnings.sort();
        warnings.dedup();
        if let Some(count) = text.rfind('\n') {
            let file = crate::text::escape_line(&shown);
            let lines: String = warnings
                .iter()
                .map(|w| format!("\nwarning: {file}:{w}"))
                .collect();
            text.insert_str(count, &lines);
        }
        return Err(PlanError::Invalid(secrets.redact(&text).into_owned()));
    }
    let Some(mut plan) = plan else {
        return Err(PlanError::Invalid(format!(
            "{shown}: the plan is incomplete"
        )));
    };
    let mut warnings = warnings;
    warnings.sort();
    warnings.dedup();
    let shown = crate::text::escape_line(&shown);
    plan.warnings = warnings.iter().map(|w| format!("{shown}:{w}")).collect();
    Ok(plan)
}

/// The diagnostics with the value errors the parser collected. A wrong value stands as a null
/// in the tree; what validation said about that null at the same place is left out, since the
/// value error says why.
fn with_value_errors(
    diags: yaml::Diagnostics,
    value_errors: &[yaml::YamlError],
) -> Vec<Diagnostic> {
    let at: Vec<(usize, usize)> = value_errors.iter().map(|e| (e.line, e.col)).collect();
    let mut all: Vec<Diagnostic> = diags
        .into_sorted()
        .into_iter()
        .filter(|d| !at.contains(&(d.line, d.col)))
        .chain(value_errors.iter().cloned().map(Diagnostic::from))
        .collect();
    all.sort();
    all.dedup();
    all
}

fn render(file: &str, diags: Vec<Diagnostic>) -> String {
    let text = yaml::render_diagnostics(file, &diags);
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    text.trim_end().to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A `vars` entry after `${X}` expansion.
struct Var<'n> {
    name: String,
    value: String,
    unset: Vec<String>,
    node: &'n Node,
    path: P,
}

fn plan(
    cx: &mut Cx,
    root: &Node,
    file: &Path,
    dir: &Path,
    hash: String,
    opts: &LoadOptions,
) -> Option<Plan> {
    let top = Fields::of(
        cx,
        root,
        &P::root(),
        "a plan: a mapping with version, name, requests and scenarios",
    )?;
    // `x-...` keys are the user's own (a place for YAML anchors), as in Compose files.
    top.only_but(cx, &TOP_KEYS, |k| k.starts_with("x-"));
    let at = |k: &str| P::root().key(k);

    version(cx, &top);
    let name = plan_name(cx, &top);

    let mut secrets: Vec<String> = Vec::new();
    let vars = top
        .get("vars")
        .map(|n| vars(cx, n, opts, &mut secrets))
        .unwrap_or_default();
    let environments = top
        .get("environments")
        .map(|n| environments(cx, n, opts, &mut secrets))
        .unwrap_or_default();
    for s in &secrets {
        cx.secrets.add(s);
    }
    let default_environment = default_environment(cx, &top, &environments);
    let feeds = top
        .get("data")
        .map(|n| feeds::feeds(cx, n, &at("data"), dir))
        .unwrap_or_default();
    let metrics = top
        .get("metrics")
        .map(|n| custom_metrics(cx, n))
        .unwrap_or_default();
    let metric_list: Vec<CustomMetric> = metrics.iter().map(|(m, _)| m.clone()).collect();

    let request_map = top.get("requests").and_then(|n| {
        Fields::of(
            cx,
            n,
            &at("requests"),
            "requests by name, e.g. { health: { get: /health } }",
        )
    });
    let captures = capture_slots(cx, request_map.as_ref(), &feeds);
    let feeds = with_setup_feed(cx, &top, feeds, &captures);

    let var_pairs: Vec<(String, String)> = vars
        .iter()
        .map(|v| (v.name.clone(), v.value.clone()))
        .collect();
    let feed_names: Vec<FeedNames> = feeds
        .iter()
        .map(|f| FeedNames {
            name: f.name.clone(),
            columns: f.columns.clone(),
        })
        .collect();
    let scope = PlanScope::new(&captures, &var_pairs, &feed_names);

    let defaults = match top.get("defaults") {
        Some(n) => defaults(cx, n, &scope),
        None => Some(Defaults::default()),
    };

    // Requests: every name is known (valid or not) so steps don't report a broken request twice.
    let env = requests::Env {
        scope: &scope,
        captures: &captures,
        metrics: &metric_list,
    };
    let (requests, request_names) = requests_of(cx, root, &top, request_map.as_ref(), &env);

    // Flows, then scenarios.
    let mut steps = Steps::new(&request_names, flow_defs(cx, &top, &request_names));
    steps.check_all_flows(cx);
    let (scenarios, scenario_names) = scenarios_of(cx, &top, &mut steps);
    let env = phase::PhaseEnv {
        feeds: &feeds,
        scenarios: &scenario_names,
        captures: &captures,
    };
    let (setup, teardown) = phases(cx, &top, &mut steps, &env);

    // Thresholds, now that every name they may select is known.
    let request_names: Vec<&str> = request_names.iter().map(|(n, _)| n.as_str()).collect();
    let names = threshold::Names::new(&metric_list, request_names, &requests, &captures)
        .with(scenario_names, steps.groups.clone());
    let (plan_thresholds, environments, scenarios) =
        thresholds(cx, &top, &names, environments, scenarios);

    let regressions = top
        .get("regression")
        .map(|n| regression::regressions(cx, n, &at("regression"), &metric_list))
        .unwrap_or_default();
    let (drift, drift_window) = drift_of(cx, &top, &metric_list, &scenarios);

    if let (Some(setup), Some(n)) = (&setup, top.get(SETUP)) {
        setup_reaches_its_readers(cx, n, setup, &scenarios, &requests, &feeds);
    }
    unfed_metrics(cx, &metrics, request_map.as_ref());
    unset_vars(cx, &vars, &scope, opts);

    let tls = match top.get("tls") {
        Some(n) => tls::tls(cx, n, &at("tls"), dir),
        None => Some(Default::default()),
    };

    secrets.retain(|s| !s.is_empty());
    secrets.sort();
    secrets.dedup();
    Some(Plan {
        name: name?.to_string(),
        file: file.to_path_buf(),
        hash,
        environments,
        default_environment,
        defaults: defaults?,
        feeds,
        requests,
        metrics: metric_list,
        captures,
        thresholds: plan_thresholds,
        scenarios,
        setup,
        teardown,
        secrets,
        warnings: Vec::new(),
        regressions,
        drift,
        drift_window,
        tls: tls?,
    })
}

/// `drift:` and `drift_window:`, refused when no scenario runs two windows.
fn drift_of(
    cx: &mut Cx,
    top: &Fields,
    metrics: &[CustomMetric],
    scenarios: &[Scenario],
) -> (
    Vec<crate::rules::regression::RegressionRule>,
    Option<std::time::Duration>,
) {
    let at = |k: &str| P::root().key(k);
    let drift = top
        .get("drift")
        .map(|n| regression::drift(cx, n, &at("drift"), metrics))
        .unwrap_or_default();
    let drift_window = top
        .get("drift_window")
        .and_then(|n| positive_duration_of(cx, n, &at("drift_window")));
    if let Some(n) = top.get("drift").filter(|_| !drift.is_empty()) {
        drift_judged_somewhere(cx, n, scenarios, drift_window);
    }
    (drift, drift_window)
}

/// The feeds, and what the once-per-test setup captures as a feed of its own,
/// `{{setup.NAME}}`.
fn with_setup_feed(
    cx: &mut Cx,
    top: &Fields,
    mut feeds: Vec<super::model::Feed>,
    captures: &[String],
) -> Vec<super::model::Feed> {
    if let Some(n) = top.get(SETUP) {
        let exports = phase::setup_exports(top, captures);
        feeds.push(phase::setup_feed(cx, n, &exports));
    }
    feeds
}

/// The plan's once-per-test `setup:` and `teardown:`.
fn phases<'n>(
    cx: &mut Cx,
    top: &Fields<'n>,
    steps: &mut Steps<'n, '_>,
    env: &phase::PhaseEnv,
) -> (Option<Phase>, Option<Phase>) {
    let setup = top
        .get(SETUP)
        .and_then(|n| phase::phase(cx, SETUP, n, steps, env));
    let teardown = top
        .get(TEARDOWN)
        .and_then(|n| phase::phase(cx, TEARDOWN, n, steps, env));
    (setup, teardown)
}

/// A setup limited to some scenarios (`scenarios:`) does not run for the others: one of them
/// that reads `{{setup.NAME}}` would read nothing.
fn setup_reaches_its_readers(
    cx: &mut Cx,
    at: &Node,
    setup: &Phase,
    scenarios: &[Scenario],
    requests: &[RequestSpec],
    feeds: &[super::model::Feed],
) {
    let Some(feed) = feeds.iter().position(|f| f.name == SETUP) else {
        return;
    };
    if setup.scenarios.is_empty() {
        return;
    }
    let at = match &at.value {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some("scenarios"))
            .map_or(at, |(_, v)| v),
        _ => at,
    };
    for (i, s) in scenarios.iter().enumerate() {
        if setup.scenarios.contains(&i) {
            continue;
        }
        let mut ids = Vec::new();
        for list in [&s.setup, &s.flow, &s.teardown] {
            collect_requests(list, &mut ids);
        }
        let reader = ids
            .iter()
            .map(|&id| &requests[id])
            .find(|r| phase::reads_feed(r, &[], feed));
        if let Some(r) = reader {
            cx.error(
                at,
                &P::root().key(SETUP).key("scenarios"),
                format!(
                    "scenario {} reads {{{{setup.…}}}} (request {}), but setup runs only for the \
                     scenarios listed here; add {} to the list",
                    s.name, r.name, s.name
                ),
            );
        }
    }
}

/// Every request a list of steps may send.
fn collect_requests(steps: &[super::model::Step], out: &mut Vec<RequestId>) {
    use super::model::Step;
    for s in steps {
        match s {
            Step::Request(id) => out.push(*id),
            Step::Group { steps, .. } => collect_requests(steps, out),
            Step::Pick { branches, .. } => {
                for b in branches {
                    collect_requests(b, out);
                }
            }
            Step::Think(_) => {}
        }
    }
}

/// `drift:` limits compare a scenario's first window with its last, so they apply to the
/// scenarios planned to run two windows (its executor's duration; for the iteration executors,
/// `max_duration`); a plan whose limits no scenario can be judged by is refused, with the longest
/// scenario and what would make it long enough.
fn drift_judged_somewhere(
    cx: &mut Cx,
    at: &Node,
    scenarios: &[Scenario],
    configured: Option<std::time::Duration>,
) {
    use crate::plan::duration::format_duration as human;
    use crate::plan::schedule::{drift_judgeable, drift_window};
    let Some(longest) = scenarios.iter().max_by_key(|s| s.executor.duration()) else {
        return;
    };
    let d = longest.executor.duration();
    let window = drift_window(configured, d);
    if drift_judgeable(d, window) {
        return;
    }
    let fix = match configured {
        Some(_) => format!(
            "set drift_window to at most {} or run a scenario for at least {}",
            human(d / 2),
            human(window * 2)
        ),
        None => "run a scenario for at least 2m (the default window is a tenth of the scenario, \
                 at least 1m), or set a shorter drift_window"
            .to_string(),
    };
    cx.error(
        at,
        &P::root().key("drift"),
        format!(
            "drift limits compare a scenario's first window with its last, and no scenario runs two \
             windows: the longest, {}, runs {} with {} windows; {fix}",
            longest.name,
            human(d),
            human(window)
        ),
    );
}

/// The thresholds of the plan, of each environment and of each scenario, read once every name
/// they may select is known.
#[allow(clippy::type_complexity)]
fn thresholds<'n>(
    cx: &mut Cx,
    top: &Fields<'n>,
    names: &threshold::Names,
    environments: Vec<(Environment, Option<(&'n Node, P)>)>,
    scenarios: Vec<(String, Option<Scenario>, ScenarioThresholds<'n>)>,
) -> (Vec<Threshold>, Vec<Environment>, Vec<Scenario>) {
    let plan_thresholds: Vec<Threshold> = top
        .get("thresholds")
        .map(|n| threshold::thresholds(cx, n, &P::root().key("thresholds"), names))
        .unwrap_or_default();
    let environments = environments
        .into_iter()
        .map(|(mut e, t)| {
            if let Some((n, p)) = t {
                e.thresholds = threshold::thresholds(cx, n, &p, names);
            }
            e
        })
        .collect();
    // A scenario with errors of its own still has its thresholds read: every error at once.
    let scenarios = scenarios
        .into_iter()
        .filter_map(|(name, s, t)| {
            let mut thresholds = Vec::new();
            if let Some((n, p)) = t {
                thresholds = threshold::thresholds(cx, n, &p, names);
                threshold::own_scenario_only(cx, n, &p, &name, &mut thresholds);
            }
            s.map(|mut s| {
                s.thresholds = thresholds;
                s
            })
        })
        .collect();
    (plan_thresholds, environments, scenarios)
}

/// `version:` must be the one this build reads.
fn version(cx: &mut Cx, top: &Fields) {
    let at = |k: &str| P::root().key(k);
    if let Some(v) = top.req(cx, "version") {
        match &v.value {
            Value::Int(PLAN_VERSION) => {}
            Value::Int(n) => cx.error(
                v,
                &at("version"),
                format!("unsupported plan version {n}; this kaizen-loadtest reads version {PLAN_VERSION}"),
            ),
            other => cx.error(
                v,
                &at("version"),
                format!("expected the number {PLAN_VERSION}, found {}", kind(other)),
            ),
        }
    }
}

/// `name:`, which goes into every report.
fn plan_name<'n>(cx: &mut Cx, top: &Fields<'n>) -> Option<&'n str> {
    let at = |k: &str| P::root().key(k);
    top.req(cx, "name").and_then(|n| {
        let name = name_of(cx, n, &at("name"))?;
        // The name goes into every report; XML cannot carry most control characters.
        if name.chars().any(char::is_control) {
            cx.error(
                n,
                &at("name"),
                "the plan's name must not contain control characters",
            );
            return None;
        }
        Some(name)
    })
}

/// `default_environment:`, which must name an environment of the plan.
fn default_environment(
    cx: &mut Cx,
    top: &Fields,
    environments: &[(Environment, Option<(&Node, P)>)],
) -> Option<String> {
    let at = |k: &str| P::root().key(k);
    top.get("default_environment").and_then(|n| {
        let p = at("default_environment");
        let name = name_of(cx, n, &p)?;
        if environments.iter().any(|(e, _)| e.name == name) {
            return Some(name.to_string());
        }
        // Every name written, valid or not, so a broken environment is not also "missing".
        let names: Vec<&str> = top
            .get("environments")
            .and_then(Node::as_map)
            .map(|m| m.iter().filter_map(|(k, _)| k.as_str()).collect())
            .unwrap_or_default();
        if names.contains(&name) {
            return None;
        }
        let known = if names.is_empty() {
            "; the plan has no `environments`".to_string()
        } else {
            tree::hint_or_list(
                suggest::hint(name, names.iter().copied()),
                &format!("one of {}", names.join(", ")),
            )
        };
        cx.error(n, &p, format!("no environment is named {name:?}{known}"));
        None
    })
}

/// The plan's requests, and every request name written (valid or not) with its id when valid.
fn requests_of(
    cx: &mut Cx,
    root: &Node,
    top: &Fields,
    request_map: Option<&Fields>,
    env: &requests::Env,
) -> (Vec<RequestSpec>, Vec<(String, Option<RequestId>)>) {
    let at = |k: &str| P::root().key(k);
    let mut requests = Vec::new();
    let mut request_names: Vec<(String, Option<RequestId>)> = Vec::new();
    if let Some(map) = request_map {
        for (name, knode, v) in &map.entries {
            let p = at("requests").key(name);
            if !is_identifier(name) {
                cx.error(
                    knode,
                    &p,
                    format!("invalid request name {name:?}; use letters, digits, `_` and `-`, starting with a letter"),
                );
                continue;
            }
            let id = requests::request(cx, name, v, &p, env).map(|r| {
                requests.push(r);
                requests.len() - 1
            });
            request_names.push((name.to_string(), id));
        }
    }
    if request_map.is_none_or(|m| m.entries.is_empty()) {
        let at_node = top.get("requests").unwrap_or(root);
        if top.get("requests").is_none() {
            cx.error(at_node, &P::root(), "missing required key `requests`; a plan names its requests once and uses them in flows");
        } else if request_map.is_some() {
            cx.error(
                at_node,
                &at("requests"),
                "no requests; name at least one, e.g. { health: { get: /health } }",
            );
        }
    }
    (requests, request_names)
}

/// `flows:` by name; a flow may not share its name with a request.
fn flow_defs<'n>(
    cx: &mut Cx,
    top: &Fields<'n>,
    request_names: &[(String, Option<RequestId>)],
) -> Vec<(&'n str, &'n Node)> {
    let at = |k: &str| P::root().key(k);
    let mut flow_defs: Vec<(&str, &Node)> = Vec::new();
    if let Some(n) = top.get("flows") {
        if let Some(map) = Fields::of(
            cx,
            n,
            &at("flows"),
            "flows by name, e.g. { session: [register, login] }",
        ) {
            for (name, knode, v) in &map.entries {
                let p = at("flows").key(name);
                if !is_identifier(name) {
                    cx.error(
                        knode,
                        &p,
                        format!("invalid flow name {name:?}; use letters, digits, `_` and `-`"),
                    );
                } else if request_names.iter().any(|(r, _)| r == name) {
                    cx.error(
                        knode,
                        &p,
                        format!("{name:?} names both a request and a flow; a step could mean either, so rename one"),
                    );
                } else {
                    flow_defs.push((name, v));
                }
            }
        }
    }
    flow_defs
}

/// `scenarios:` (at least one), each with its thresholds left to read once every name is
/// known; and every scenario name written.
#[allow(clippy::type_complexity)]
fn scenarios_of<'n>(
    cx: &mut Cx,
    top: &Fields<'n>,
    steps: &mut Steps<'n, '_>,
) -> (
    Vec<(String, Option<Scenario>, ScenarioThresholds<'n>)>,
    Vec<&'n str>,
) {
    let at = |k: &str| P::root().key(k);
    let mut scenarios = Vec::new();
    let mut scenario_names: Vec<&str> = Vec::new();
    if let Some(n) = top.req(cx, "scenarios") {
        if let Some(map) = Fields::of(
            cx,
            n,
            &at("scenarios"),
            "scenarios by name, e.g. { smoke: { executor: constant-vus, ... } }",
        ) {
            if map.entries.is_empty() {
                cx.error(
                    n,
                    &at("scenarios"),
                    "no scenarios; a plan needs at least one",
                );
            }
            for (name, knode, v) in &map.entries {
                scenario_names.push(name);
                let (s, t) = scenario(cx, name, knode, v, steps);
                scenarios.push((name.to_string(), s, t));
            }
        }
    }
    (scenarios, scenario_names)
}

/// A declared metric nobody feeds can only ever report "no data".
fn unfed_metrics(cx: &mut Cx, metrics: &[(CustomMetric, &Node)], request_map: Option<&Fields>) {
    let at = |k: &str| P::root().key(k);
    let fed = fed_metrics(request_map);
    for (m, knode) in metrics {
        if !fed.iter().any(|f| f == &m.name) {
            cx.error(
                knode,
                &at("metrics").key(&m.name),
                format!(
                    "no request feeds {}; list it under a request's `metric:` or remove it",
                    m.name
                ),
            );
        }
    }
}

/// Unset `${X}` behind vars: errors only where they would change a request.
fn unset_vars(cx: &mut Cx, vars: &[Var], scope: &PlanScope, opts: &LoadOptions) {
    let used = scope.used_vars.borrow().clone();
    for (v, used) in vars.iter().zip(used) {
        for name in &v.unset {
            if opts.strict_env && used {
                cx.error(
                    v.node,
                    &v.path,
                    format!(
                        "environment variable {name} is not set and has no default, and a request uses vars.{}; set it, or write ${{{name}:-default}}",
                        v.name
                    ),
                );
            } else {
                let effect = if used {
                    format!("requests using vars.{} would send an empty value", v.name)
                } else {
                    format!("no request uses vars.{}", v.name)
                };
                cx.warn(
                    v.node,
                    &v.path,
                    format!("environment variable {name} is not set and has no default ({effect})"),
                );
            }
        }
    }
}

/// `vars:` — scalars kept as text, or `{ value, secret }`; `${X}` expanded.
fn vars<'n>(
    cx: &mut Cx,
    node: &'n Node,
    opts: &LoadOptions,
    secrets: &mut Vec<String>,
) -> Vec<Var<'n>> {
    let mut out = Vec::new();
    let base = P::root().key("vars");
    let Some(map) = Fields::of(cx, node, &base, "vars by name, e.g. { password: secret }") else {
        return out;
    };
    for (name, knode, v) in &map.entries {
        let p = base.key(name);
        if !is_var_name(name) {
            cx.error(
                knode,
                &p,
                format!("invalid var name {name:?}; templates read it as {{{{vars.{name}}}}}, so use letters, digits and underscores"),
            );
            continue;
        }
        let (value_node, value_path, secret) = match &v.value {
            Value::Map(_) => {
                let Some(f) = Fields::of(cx, v, &p, "") else {
                    continue;
                };
                f.only(cx, &["value", "secret"]);
                let secret = match f.get("secret") {
                    Some(s) => bool_of(cx, s, &p.key("secret")).unwrap_or(false),
                    None => false,
                };
                let Some(value) = f.req(cx, "value") else {
                    continue;
                };
                (value, p.key("value"), secret)
            }
            _ => (*v, p.clone(), false),
        };
        let raw = match &value_node.value {
            Value::Null => {
                cx.error(
                    value_node,
                    &value_path,
                    "has no value; write \"\" for an empty string",
                );
                continue;
            }
            Value::Seq(_) | Value::Map(_) => {
                cx.error(
                    value_node,
                    &value_path,
                    format!(
                        "expected a string, number or boolean (or {{ value: ..., secret: true }}), found {}",
                        kind(&value_node.value)
                    ),
                );
                continue;
            }
            _ => tree::scalar_text(value_node).expect("a scalar"),
        };
        let expanded = if matches!(value_node.value, Value::Str(_)) {
            match env::expand(&raw, opts.env_lookup) {
                Ok(e) => e,
                Err(msg) => {
                    cx.error(value_node, &value_path, msg);
                    continue;
                }
            }
        } else {
            env::Expanded {
                value: raw,
                reads: Vec::new(),
                unset: Vec::new(),
            }
        };
        let secret_env = expanded.reads.iter().any(|(n, _)| env::is_secret_name(n));
        if secret || secret_env {
            secrets.push(expanded.value.clone());
        }
        for (n, found) in &expanded.reads {
            if let Some(found) = found {
                if env::is_secret_name(n) {
                    secrets.push(found.clone());
                }
            }
        }
        out.push(Var {
            name: name.to_string(),
            value: expanded.value,
            unset: expanded.unset,
            node: value_node,
            path: value_path,
        });
    }
    out
}

type EnvThresholds<'n> = Option<(&'n Node, P)>;

/// `environments:` — thresholds are parsed later, once every name is known.
fn environments<'n>(
    cx: &mut Cx,
    node: &'n Node,
    opts: &LoadOptions,
    secrets: &mut Vec<String>,
) -> Vec<(Environment, EnvThresholds<'n>)> {
    let mut out = Vec::new();
    let base = P::root().key("environments");
    let Some(map) = Fields::of(
        cx,
        node,
        &base,
        "environments by name, e.g. { local: { base_url: http://localhost:8000 } }",
    ) else {
        return out;
    };
    for (name, knode, v) in &map.entries {
        let p = base.key(name);
        if !is_identifier(name) {
            cx.error(
                knode,
                &p,
                format!("invalid environment name {name:?}; use letters, digits, `_` and `-`"),
            );
            continue;
        }
        let Some(f) = Fields::of(
            cx,
            v,
            &p,
            "an environment such as { base_url: https://staging.example.com }",
        ) else {
            continue;
        };
        f.only(cx, &["base_url", "protected", "thresholds"]);
        let protected = match f.get("protected") {
            Some(n) => bool_of(cx, n, &p.key("protected")),
            None => Some(false),
        };
        let base_url = f
            .req(cx, "base_url")
            .and_then(|n| base_url(cx, n, &p.key("base_url"), name, opts, secrets));
        let thresholds = f.get("thresholds").map(|n| (n, p.key("thresholds")));
        // An environment with an error (reported) is kept so that its thresholds are read
        // too: every error at once. A plan with an error is never handed out.
        let (base_url, protected) = (base_url.unwrap_or_default(), protected.unwrap_or(false));
        out.push((
            Environment {
                name: name.to_string(),
                base_url,
                protected,
                thresholds: Vec::new(),
                line: knode.mark.line,
            },
            thresholds,
        ));
    }
    out
}

/// An http(s) URL, `${X}` expanded. An unset variable leaves the URL empty (with a warning):
/// `run` refuses an environment without a base URL, but other environments stay usable.
fn base_url(
    cx: &mut Cx,
    node: &Node,
    path: &P,
    env_name: &str,
    opts: &LoadOptions,
    secrets: &mut Vec<String>,
) -> Option<String> {
    let raw = name_of(cx, node, path)?;
    let expanded = match env::expand(raw, opts.env_lookup) {
        Ok(e) => e,
        Err(msg) => {
            cx.error(node, path, msg);
            return None;
        }
    };
    for (n, found) in &expanded.reads {
        if let Some(found) = found {
            if env::is_secret_name(n) {
                secrets.push(found.clone());
            }
        }
    }
    if !expanded.unset.is_empty() {
        cx.warn(
            node,
            path,
            format!(
                "environment variable {} is not set and has no default; environment {env_name:?} has no base URL until it is (or pass --base-url)",
                expanded.unset.join(", ")
            ),
        );
        return Some(String::new());
    }
    let url = expanded.value.trim();
    cx.secrets.add_url(url);
    let from_env = if expanded.reads.is_empty() {
        String::new()
    } else {
        format!(" (expanded to {url:?})")
    };
    match crate::url::check_base_url(url) {
        Ok(url) => Some(url),
        Err(why) => {
            cx.error(node, path, format!("base URL {raw:?}{from_env} {why}"));
            None
        }
    }
}

/// `metrics:` — name → trend (default), counter, rate or gauge.
fn custom_metrics<'n>(cx: &mut Cx, node: &'n Node) -> Vec<(CustomMetric, &'n Node)> {
    let mut out = Vec::new();
    let base = P::root().key("metrics");
    let Some(map) = Fields::of(
        cx,
        node,
        &base,
        "custom metrics by name, e.g. { login_duration: trend }",
    ) else {
        return out;
    };
    for (name, knode, v) in &map.entries {
        let p = base.key(name);
        if builtin_metric(name).is_some() {
            cx.error(
                knode,
                &p,
                format!("{name} is a built-in metric; give the custom metric another name"),
            );
            continue;
        }
        if !is_valid_metric_name(name) {
            cx.error(
                knode,
                &p,
                format!("invalid metric name {name:?}; a metric name is an ASCII letter or underscore followed by 1 to 128 letters, digits or underscores"),
            );
            continue;
        }
        let kind = match &v.value {
            Value::Null => MetricType::Trend,
            Value::Str(s) => match s.parse::<MetricType>() {
                Ok(t) => t,
                Err(_) => {
                    cx.error(
                        v,
                        &p,
                        format!(
                            "unknown metric type {s:?}{}",
                            tree::hint_or_list(
                                suggest::hint(s, ["trend", "counter", "rate", "gauge"]),
                                "trend, counter, rate or gauge"
                            )
                        ),
                    );
                    continue;
                }
            },
            other => {
                cx.error(
                    v,
                    &p,
                    format!(
                        "expected trend, counter, rate or gauge, found {}",
                        kind(other)
                    ),
                );
                continue;
            }
        };
        out.push((
            CustomMetric {
                name: name.to_string(),
                kind,
            },
            *knode,
        ));
    }
    out
}

/// Capture names from every request, in order of first appearance: the VU's capture slots.
fn capture_slots(
    cx: &mut Cx,
    requests: Option<&Fields>,
    feeds: &[super::model::Feed],
) -> Vec<String> {
    let mut slots: Vec<String> = Vec::new();
    let Some(requests) = requests else {
        return slots;
    };
    for (req, _, v) in &requests.entries {
        for (name, knode) in requests::capture_names(v) {
            let p = P::root().key("requests").key(req).key("capture").key(name);
            if !is_var_name(name) {
                cx.error(
                    knode,
                    &p,
                    format!("invalid capture name {name:?}; templates read it as {{{{{name}}}}}, so use letters, digits and underscores"),
                );
                continue;
            }
            if name == "vars" || name == SETUP || BUILTINS.contains(&name) {
                cx.error(
                    knode,
                    &p,
                    format!("{name:?} is a built-in template name; capture into another name"),
                );
                continue;
            }
            if feeds.iter().any(|f| f.name == name) {
                cx.error(
                    knode,
                    &p,
                    format!("capture {name:?} has the name of a data feed; {{{{{name}.column}}}} would be ambiguous, so rename one"),
                );
                continue;
            }
            if !slots.iter().any(|s| s == name) {
                slots.push(name.to_string());
            }
        }
    }
    slots
}

/// Names listed under `metric:` of any request, valid or not.
fn fed_metrics(requests: Option<&Fields>) -> Vec<String> {
    let mut out = Vec::new();
    let Some(requests) = requests else { return out };
    for (_, _, v) in &requests.entries {
        let Some(m) = v.get("metric") else { continue };
        let items = match &m.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![m],
        };
        for i in items {
            match &i.value {
                Value::Str(s) => out.push(s.clone()),
                // A gauge with its source: `{ queue_depth: $.depth }`.
                Value::Map(entries) => out.extend(
                    entries
                        .iter()
                        .filter_map(|(k, _)| k.as_str().map(str::to_string)),
                ),
                _ => {}
            }
        }
    }
    out
}

fn defaults(cx: &mut Cx, node: &Node, scope: &PlanScope) -> Option<Defaults> {
    let p = P::root().key("defaults");
    let f = Fields::of(
        cx,
        node,
        &p,
        "defaults, e.g. { timeout: 10s, headers: { accept: application/json } }",
    )?;
    f.only(cx, &["headers", "timeout", "think"]);
    let mut d = Defaults::default();
    let headers = match f.get("headers") {
        Some(h) => requests::headers(cx, h, &p.key("headers"), scope),
        None => Some(Vec::new()),
    };
    let timeout = match f.get("timeout") {
        Some(t) => positive_duration_of(cx, t, &p.key("timeout")),
        None => Some(d.timeout),
    };
    let think = match f.get("think") {
        Some(t) => think_of(cx, t, &p.key("think")).map(Some),
        None => Some(None),
    };
    d.headers = headers?;
    d.timeout = timeout?;
    d.think = think?;
    Some(d)
}

type ScenarioThresholds<'n> = Option<(&'n Node, P)>;

fn scenario<'n>(
    cx: &mut Cx,
    name: &str,
    knode: &Node,
    node: &'n Node,
    steps: &mut Steps<'n, '_>,
) -> (Option<Scenario>, ScenarioThresholds<'n>) {
    let p = P::root().key("scenarios").key(name);
    // Its thresholds are read even when the scenario has errors: every error at once.
    let thresholds = match &node.value {
        Value::Map(entries) => entries.iter().find_map(|(k, v)| {
            (k.as_str() == Some("thresholds")).then(|| (v, p.key("thresholds")))
        }),
        _ => None,
    };
    if !is_identifier(name) {
        cx.error(
            knode,
            &p,
            format!("invalid scenario name {name:?}; use letters, digits, `_` and `-` (it names report files)"),
        );
        return (None, None);
    }
    if name == "all" {
        cx.error(
            knode,
            &p,
            "\"all\" is reserved: `run all` runs every scenario",
        );
        return (None, None);
    }
    let Some(f) = Fields::of(
        cx,
        node,
        &p,
        "a scenario such as { executor: constant-vus, vus: 5, duration: 30s, flow: [...] }",
    ) else {
        return (None, None);
    };
    let executor = executor::executor(cx, &f);
    let start_time = match f.get("start_time") {
        Some(n) => duration_of(cx, n, &p.key("start_time")),
        None => Some(Duration::ZERO),
    };
    let graceful_stop = match f.get("graceful_stop") {
        Some(n) => duration_of(cx, n, &p.key("graceful_stop")),
        None => Some(Duration::from_secs(30)),
    };
    let setup = match f.get("setup") {
        Some(n) => steps.list(cx, n, &p.key("setup")).map(|(s, _)| s),
        None => Some(Vec::new()),
    };
    let flow = f.req(cx, "flow").and_then(|n| {
        let fp = p.key("flow");
        let (s, _) = steps.list(cx, n, &fp)?;
        if s.is_empty() {
            cx.error(n, &fp, "empty flow; an iteration needs at least one step");
            return None;
        }
        Some(s)
    });
    let teardown = match f.get("teardown") {
        Some(n) => steps.list(cx, n, &p.key("teardown")).map(|(s, _)| s),
        None => Some(Vec::new()),
    };
    let protected_ok = match f.get("protected_ok") {
        Some(n) => bool_of(cx, n, &p.key("protected_ok")),
        None => Some(false),
    };
    let think = match f.get("think") {
        Some(n) => think_of(cx, n, &p.key("think")).map(Some),
        None => Some(None),
    };
    let judge = match f.get("judge") {
        Some(n) => bool_of(cx, n, &p.key("judge")),
        None => Some(true),
    };
    let scenario = || {
        Some(Scenario {
            name: name.to_string(),
            executor: executor?,
            start_time: start_time?,
            graceful_stop: graceful_stop?,
            setup: setup?,
            flow: flow?,
            teardown: teardown?,
            thresholds: Vec::new(),
            protected_ok: protected_ok?,
            think: think?,
            judge: judge?,
            line: knode.mark.line,
        })
    };
    (scenario(), thresholds)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::plan::model::{CaptureSource, CheckKind, Executor, Step};
    use crate::plan::template::VarRef;

    fn env(name: &str) -> Option<String> {
        match name {
            "API_TOKEN" => Some("tok-123".to_string()),
            "HOST" => Some("staging.example.com".to_string()),
            _ => None,
        }
    }

    fn check(src: &str, strict_env: bool) -> Result<Plan, String> {
        let parsed =
            yaml::parse_str_collecting(src, &Limits::default()).map_err(|e| e.to_string())?;
        let opts = LoadOptions {
            env_lookup: &env,
            strict_env,
        };
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/plans/valid");
        validate(
            &parsed,
            Path::new("plan.yaml"),
            &dir,
            "hash".to_string(),
            &opts,
        )
        .map_err(|e| e.to_string())
    }

    fn ok(src: &str) -> Plan {
        check(src, false).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err(src: &str) -> String {
        match check(src, false) {
            Ok(_) => panic!("the plan validated"),
            Err(e) => e,
        }
    }

    /// A plan around the given requests, flows and scenario flow.
    fn plan_with(requests: &str, extra: &str, flow: &str) -> String {
        format!(
            "version: 1\nname: t\nrequests:\n{requests}\n{extra}\nscenarios:\n  s:\n    executor: constant-vus\n    duration: 10s\n    flow: {flow}\n"
        )
    }

    const REQS: &str = "  login: { post: http://h/login, capture: { token: $.access_token } }\n  me: { get: http://h/me }";

    #[test]
    fn a_helper_scenario_is_judged_by_its_own_thresholds_only() {
        let plan = ok(&format!(
            "version: 1\nname: t\nenvironments: {{ e: {{ base_url: http://h, thresholds: {{ checks: [\"rate>0.9\"] }} }} }}\n\
             requests:\n{REQS}\nthresholds: {{ http_req_failed: [\"rate<0.01\"] }}\nscenarios:\n\
             \x20 seed: {{ executor: per-vu-iterations, judge: false, flow: [me], thresholds: {{ http_reqs: [\"count>0\"] }} }}\n\
             \x20 load: {{ executor: per-vu-iterations, flow: [me] }}\n"
        ));
        let env = plan.environment("e");
        let keys = |s: &str| -> Vec<String> {
            let s = plan.scenario(s).unwrap();
            plan.thresholds_for(s, env)
                .iter()
                .map(|t| t.key.source.clone())
                .collect()
        };
        assert_eq!(keys("seed"), ["http_reqs"]);
        assert_eq!(keys("load"), ["http_req_failed", "checks"]);
        assert!(
            err(&plan_with(REQS, "", "[me]").replace("flow: [me]", "flow: [me]\n    judge: 1"))
                .contains("scenarios.s.judge")
        );
    }

    #[test]
    fn once_per_test_phases_hand_out_what_setup_captures() {
        let plan = ok(&format!(
            "version: 1\nname: t\nrequests:\n{REQS}\n  logout: {{ post: http://h/logout, headers: {{ authorization: \"{{{{setup.token}}}}\" }} }}\n\
             setup: [login]\nteardown: {{ flow: [logout], timeout: 5s }}\nscenarios:\n\
             \x20 s: {{ executor: per-vu-iterations, flow: [logout] }}\n"
        ));
        let setup = plan.setup.as_ref().unwrap();
        assert_eq!(setup.timeout, Duration::from_secs(60), "k6's setupTimeout");
        assert_eq!((setup.iterations, setup.for_each), (1, None));
        assert_eq!(setup.exports, [0], "token's slot");
        let feed = plan.setup_feed().unwrap();
        assert_eq!(plan.feeds[feed].columns, ["token"]);
        let teardown = plan.teardown.as_ref().unwrap();
        assert_eq!(teardown.timeout, Duration::from_secs(5));
        assert!(teardown.exports.is_empty());
        assert!(setup.applies_to(&[0]) && setup.applies_to(&[]));
        assert_eq!(plan.scenario_name(1), "setup");
        assert_eq!(plan.scenario_name(2), "teardown");

        // A scenario may not take the tag a phase's requests carry; steps named like the
        // phases point to them.
        let e = err(&format!(
            "version: 1\nname: t\nrequests:\n{REQS}\nsetup: [login]\nscenarios:\n  setup: {{ executor: per-vu-iterations, flow: [me, teardown] }}\n"
        ));
        assert!(e.contains("setup: a scenario is named \"setup\""), "{e}");
        assert!(
            e.contains("a once-per-test teardown is the plan's top-level `teardown:`"),
            "{e}"
        );
        let e = err(&format!(
            "version: 1\nname: t\nrequests:\n{REQS}\nsetup: {{ for_each: setup, flow: [] }}\nscenarios:\n  s: {{ executor: per-vu-iterations, flow: [me] }}\n"
        ));
        assert!(
            e.contains("setup cannot run once per value it captures itself"),
            "{e}"
        );
        assert!(e.contains("empty setup; give it at least one step"), "{e}");
    }

    #[test]
    fn scope_resolves_every_namespace() {
        let captures = vec!["token".to_string(), "agent_id".to_string()];
        let vars = vec![("password".to_string(), "pw".to_string())];
        let feeds = vec![FeedNames {
            name: "users".to_string(),
            columns: vec!["email".to_string(), "password".to_string()],
        }];
        let scope = PlanScope::new(&captures, &vars, &feeds);
        assert_eq!(scope.lookup("agent_id"), Ok(VarRef::Capture(1)));
        assert_eq!(
            scope.lookup("vars.password"),
            Ok(VarRef::Const("pw".into()))
        );
        assert_eq!(
            scope.lookup("users.password"),
            Ok(VarRef::Feed { feed: 0, column: 1 })
        );
        assert!(matches!(scope.lookup("vu"), Ok(VarRef::Builtin(_))));
        assert!(scope.used_vars.borrow()[0]);

        let e = scope.lookup("tokn").unwrap_err();
        assert!(e.contains("did you mean \"token\"?"), "{e}");
        let e = scope.lookup("vars.pasword").unwrap_err();
        assert!(e.contains("did you mean \"vars.password\"?"), "{e}");
        let e = scope.lookup("users.emial").unwrap_err();
        assert!(e.contains("did you mean \"email\"?"), "{e}");
        assert!(scope
            .lookup("users")
            .unwrap_err()
            .contains("is a data feed"));
        assert!(scope
            .lookup("password")
            .unwrap_err()
            .contains("vars.password"));
        assert!(scope
            .lookup("token.x")
            .unwrap_err()
            .contains("captured value"));
    }

    #[test]
    fn captures_get_slots_and_templates_use_them() {
        let plan = ok(&plan_with(
            "  login: { post: http://h/login, capture: { token: $.access_token, sid: { cookie: sid } } }\n  me: { get: http://h/me, headers: { authorization: \"Bearer {{token}}\" } }",
            "",
            "[login, me]",
        ));
        assert_eq!(plan.captures, ["token", "sid"]);
        let login = &plan.requests[0];
        assert!(
            matches!(&login.captures[0].source, CaptureSource::Json(p) if p.source == "$.access_token")
        );
        assert!(matches!(&login.captures[1].source, CaptureSource::Cookie(c) if c == "sid"));
        let me = &plan.requests[1];
        assert!(me.headers[0]
            .value
            .variables()
            .any(|v| *v == VarRef::Capture(0)));
    }

    #[test]
    fn vars_are_folded_into_static_templates() {
        let plan = ok(&plan_with(
            "  login: { post: http://h/login, json: { password: \"{{vars.password}}\" } }",
            "vars: { password: pw, page: 2 }",
            "[login]",
        ));
        assert!(
            matches!(&plan.requests[0].body, Some(crate::plan::model::Body::Json(j)) if j.is_static())
        );
    }

    #[test]
    fn thresholds_must_fit_the_metric_type() {
        let extra = |t: &str| {
            format!("metrics: {{ login_duration: trend, errs: counter, ok_rate: rate }}\nthresholds:\n  {t}\n")
        };
        let reqs = "  login: { post: http://h/login, metric: [login_duration, errs, ok_rate] }";
        for good in [
            "http_req_duration: [\"p(95)<500\", \"avg<100\", \"med<50\", \"max<900\", \"min>0\"]",
            "http_req_failed: [\"rate<0.01\"]",
            "checks: [\"rate>0.99\"]",
            "http_reqs: [\"count>1\", \"rate>10\"]",
            "vus: [\"value<100\"]",
            "errs: [\"count<5\"]",
            "ok_rate: [\"rate>0.9\"]",
            "login_duration: [\"p(99.9)<1000\"]",
        ] {
            ok(&plan_with(reqs, &extra(good), "[login]"));
        }
        for (bad, says) in [
            (
                "http_req_failed: [\"avg<1\"]",
                "does not fit rate metric \"http_req_failed\"; rate metrics support rate",
            ),
            (
                "http_req_duration: [\"rate<0.1\"]",
                "trend metrics support avg, min, max, med, p(N)",
            ),
            ("errs: [\"p(95)<5\"]", "counter metrics support count, rate"),
            (
                "vus: [\"count<5\"]",
                "gauge metrics support value, min, max",
            ),
            (
                "login_duraton: [\"p(95)<5\"]",
                "unknown metric \"login_duraton\"; did you mean \"login_duration\"?",
            ),
        ] {
            let e = err(&plan_with(reqs, &extra(bad), "[login]"));
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    /// k6 accepts any tag and value in a selector; so do we, with a warning for one that
    /// matches nothing. The thresholds are kept (they are judged as having no data).
    #[test]
    fn selectors_that_match_nothing_are_warnings() {
        let reqs = "  login: { post: http://h/login, expect: { status: 200 } }";
        for (key, says) in [
            (
                "http_req_duration{name:logn}",
                "no request is named \"logn\"; did you mean \"login\"? (the sub-metric is \
                 accepted, as k6 accepts it, but matches nothing: its thresholds see no data)",
            ),
            ("http_req_duration{url:x}", "carry no \"url\" tag"),
            ("http_req_duration{method:post}", "write method:POST"),
            (
                "http_req_duration{status:abc}",
                "not a status the engine records",
            ),
            (
                "checks{check:login: status is 20}",
                "no check is named \"login: status is 20\"",
            ),
            ("ws_ping", "never records"),
        ] {
            let plan = ok(&plan_with(
                reqs,
                &format!("thresholds:\n  \"{key}\": [\"count<1\"]\n").replace(
                    "count<1",
                    if key.starts_with("checks") {
                        "rate>0"
                    } else {
                        "max<1"
                    },
                ),
                "[login]",
            ));
            assert_eq!(plan.thresholds.len(), 1, "{key}");
            assert_eq!(plan.warnings.len(), 1, "{key}: {:?}", plan.warnings);
            assert!(
                plan.warnings[0].contains(says),
                "{key}: {}",
                plan.warnings[0]
            );
        }
        let plan = ok(&plan_with(
            reqs,
            "thresholds:\n  \"checks{check:login: status is 200}\": [\"rate>0\"]\n  \"http_req_duration{group:''}\": [\"max<1\"]",
            "[login]",
        ));
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
        assert_eq!(
            plan.thresholds[0].key.tag("check"),
            Some("login: status is 200")
        );
    }

    /// k6 keeps one of two lists that select the same sub-metric; we judge both, and say so.
    #[test]
    fn two_keys_for_one_sub_metric_are_judged_together() {
        let plan = ok(&plan_with(
            REQS,
            "thresholds:\n  \"http_req_duration{name:login,status:200}\": [\"p(95)<500\"]\n  \"http_req_duration{ status: '200', name: login }\": [\"avg<100\", \"max<900\"]",
            "[login, me]",
        ));
        assert_eq!(plan.thresholds.len(), 1);
        let sources: Vec<&str> = plan.thresholds[0]
            .conditions
            .iter()
            .map(|c| c.condition.source.as_str())
            .collect();
        assert_eq!(sources, ["p(95)<500", "avg<100", "max<900"]);
        assert!(plan.warnings[0].contains("k6 would keep only one of the two lists"));
    }

    /// `delay_abort_eval` as k6 reads `delayAbortEval`: a number is milliseconds (with a warning,
    /// since seconds may have been meant), null and negative delays are none.
    #[test]
    fn delay_abort_eval_reads_as_k6_reads_it() {
        for (value, want, warns) in [
            ("10s", Duration::from_secs(10), false),
            ("1m30s", Duration::from_secs(90), false),
            ("10", Duration::from_millis(10), true),
            ("2.5", Duration::from_micros(2500), true),
            ("\"10\"", Duration::from_millis(10), true),
            ("0", Duration::ZERO, false),
            ("~", Duration::ZERO, false),
            ("-5", Duration::ZERO, true),
            ("\"-1s\"", Duration::ZERO, true),
        ] {
            let plan = ok(&plan_with(
                REQS,
                &format!("thresholds:\n  http_req_duration: [{{ threshold: \"p(95)<500\", abort_on_fail: true, delay_abort_eval: {value} }}]"),
                "[login, me]",
            ));
            assert_eq!(
                plan.thresholds[0].conditions[0].delay_abort_eval, want,
                "{value}"
            );
            assert_eq!(
                !plan.warnings.is_empty(),
                warns,
                "{value}: {:?}",
                plan.warnings
            );
        }
        assert!(ok(&plan_with(
            REQS,
            "thresholds:\n  http_req_duration: [{ threshold: \"p(95)<500\", abort_on_fail: true, delay_abort_eval: 10 }]",
            "[login, me]",
        ))
        .warnings[0]
            .contains("10 means 10ms; write \"10ms\", or \"10s\" if seconds were meant"));
        for (value, says) in [
            ("\"10 s\"", "invalid duration"),
            ("abc", "invalid duration"),
            ("[1]", "expected a duration"),
            ("1e12", "30 day maximum"),
        ] {
            let e = err(&plan_with(
                REQS,
                &format!("thresholds:\n  http_req_duration: [{{ threshold: \"p(95)<500\", abort_on_fail: true, delay_abort_eval: {value} }}]"),
                "[login, me]",
            ));
            assert!(e.contains(says), "{value}: {e}");
        }
    }

    #[test]
    fn threshold_layers_and_options() {
        let plan = ok(&plan_with(
            REQS,
            "environments:\n  prod: { base_url: https://example.com, protected: true, thresholds: { http_req_failed: [\"rate<0.01\"] } }\nthresholds:\n  http_req_failed: [\"rate<0.05\"]\n  http_req_duration: [{ threshold: \"p(95)<500\", abort_on_fail: true, delay_abort_eval: 10s }]",
            "[login, me]",
        ));
        let t = &plan.thresholds[1];
        assert!(t.conditions[0].abort_on_fail);
        assert_eq!(t.conditions[0].delay_abort_eval, Duration::from_secs(10));
        let prod = plan.environment("prod").unwrap();
        assert!(prod.protected);
        let applied = plan.thresholds_for(&plan.scenarios[0], Some(prod));
        let failed = applied
            .iter()
            .find(|t| t.key.metric == "http_req_failed")
            .unwrap();
        assert_eq!(failed.conditions[0].condition.limit, 0.01);
    }

    /// `http_reqs{scenario:a}: count>0` is about scenario a: judged in scenario b it read as 0
    /// and failed the run, where k6 passes it.
    #[test]
    fn a_threshold_naming_a_scenario_applies_to_that_scenario_only() {
        let two = "version: 1\nname: t\nrequests:\n  me: { get: http://h/me }\nthresholds:\n  \"http_reqs{scenario:a}\": [\"count>0\"]\n  http_req_duration: [\"p(95)<500\"]\nscenarios:\n  a: { executor: constant-vus, duration: 1s, flow: [me] }\n  b: { executor: constant-vus, duration: 1s, flow: [me] }\n";
        let plan = ok(two);
        let keys = |i: usize| -> Vec<String> {
            plan.thresholds_for(&plan.scenarios[i], None)
                .iter()
                .map(|t| t.key.source.clone())
                .collect()
        };
        assert_eq!(keys(0), ["http_reqs{scenario:a}", "http_req_duration"]);
        assert_eq!(keys(1), ["http_req_duration"]);
        // In a scenario's own thresholds it could select nothing: an error, not dropped.
        let own = two.replace(
            "  b: { executor: constant-vus, duration: 1s, flow: [me] }",
            "  b: { executor: constant-vus, duration: 1s, flow: [me], thresholds: { \"http_reqs{scenario:a}\": [\"count>0\"] } }",
        );
        let e = err(&own);
        assert!(
            e.contains("plan.yaml:10:")
                && e.contains("scenarios.b.thresholds")
                && e.contains("selects scenario \"a\" among scenario \"b\"'s thresholds"),
            "{e}"
        );
    }

    #[test]
    fn env_vars_expand_and_mark_secrets() {
        let plan = ok(&plan_with(
            "  me: { get: http://h/me, headers: { authorization: \"Bearer {{vars.token}}\" } }",
            "vars:\n  token: ${API_TOKEN}\n  pw: { value: hunter2, secret: true }\n  plain: ${MISSING:-fallback}\nenvironments:\n  staging: { base_url: \"https://${HOST}/\" }",
            "[me]",
        ));
        assert_eq!(plan.environments[0].base_url, "https://staging.example.com");
        assert!(plan.secrets.contains(&"tok-123".to_string()));
        assert!(plan.secrets.contains(&"hunter2".to_string()));
        assert!(!plan.secrets.contains(&"fallback".to_string()));
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    }

    #[test]
    fn unset_env_vars_warn_or_fail_when_a_request_uses_them() {
        let used = plan_with(
            "  me: { get: http://h/me, headers: { authorization: \"Bearer {{vars.token}}\" } }",
            "vars:\n  token: ${NOT_SET}",
            "[me]",
        );
        let plan = ok(&used);
        assert_eq!(plan.warnings.len(), 1);
        assert!(
            plan.warnings[0]
                .starts_with("plan.yaml:6:10: vars.token: environment variable NOT_SET is not set"),
            "{:?}",
            plan.warnings
        );
        let e = check(&used, true).unwrap_err();
        assert!(e.contains("environment variable NOT_SET is not set and has no default, and a request uses vars.token"), "{e}");

        let unused = plan_with(
            "  me: { get: http://h/me }",
            "vars:\n  token: ${NOT_SET}",
            "[me]",
        );
        let plan = check(&unused, true).unwrap();
        assert!(
            plan.warnings[0].contains("no request uses vars.token"),
            "{:?}",
            plan.warnings
        );

        let base = plan_with(
            REQS,
            "environments:\n  prod: { base_url: \"https://${NOT_SET}\" }",
            "[me]",
        );
        let plan = check(&base, true).unwrap();
        assert_eq!(plan.environments[0].base_url, "");
        assert!(
            plan.warnings[0].contains("has no base URL until it is"),
            "{:?}",
            plan.warnings
        );

        let e = err(&plan_with(REQS, "vars: { x: \"${OOPS\" }", "[me]"));
        assert!(e.contains("unclosed \"${\""), "{e}");
    }

    #[test]
    fn flows_are_inlined() {
        let plan = ok(&plan_with(
            REQS,
            "flows:\n  session: [login, auth]\n  auth: [me, { think: 1s..2s }]",
            "[session, { group: g, flow: [auth] }, { pick: [{ weight: 1, flow: [me] }, { weight: 3, flow: [] }] }]",
        ));
        let flow = &plan.scenarios[0].flow;
        assert!(matches!(flow[0], Step::Request(0)));
        assert!(matches!(flow[1], Step::Request(1)));
        assert!(
            matches!(&flow[2], Step::Think(t) if t.min == Duration::from_secs(1) && t.max == Duration::from_secs(2))
        );
        assert!(matches!(&flow[3], Step::Group { name, steps } if name == "g" && steps.len() == 2));
        assert!(
            matches!(&flow[4], Step::Pick { cumulative, branches } if cumulative == &[1, 4] && branches[1].is_empty())
        );
    }

    #[test]
    fn flow_cycles_are_found_once() {
        let e = err(&plan_with(
            REQS,
            "flows:\n  a: [login, b]\n  b: [c]\n  c: [a]",
            "[a]",
        ));
        assert!(
            e.contains("flows.c[0]: flow cycle: a -> b -> c -> a"),
            "{e}"
        );
        assert!(e.ends_with("1 error in plan.yaml"), "{e}");
        let e = err(&plan_with(REQS, "flows:\n  a: [a]", "[me]"));
        assert!(e.contains("flow cycle: a -> a"), "{e}");
    }

    #[test]
    fn runaway_flow_expansion_is_refused() {
        let mut flows = String::from("flows:\n  f0: [me, me, me, me, me, me, me, me, me, me]\n");
        for i in 1..8 {
            let p = i - 1;
            flows.push_str(&format!(
                "  f{i}: [{}]\n",
                vec![format!("f{p}"); 10].join(", ")
            ));
        }
        let e = err(&plan_with(REQS, &flows, "[f7]"));
        assert!(e.contains("expands to more than 100 000 steps"), "{e}");
    }

    #[test]
    fn executors_take_k6_defaults() {
        let plan = ok(&format!(
            "version: 1\nname: t\nrequests:\n{REQS}\nscenarios:\n  a: {{ executor: ramping-vus, stages: [{{ duration: 1m, target: 5 }}], flow: [me] }}\n  b: {{ executor: constant-arrival-rate, rate: 5, duration: 1m, pre_allocated_vus: 3, flow: [me] }}\n  c: {{ executor: shared-iterations, flow: [me] }}\n"
        ));
        assert_eq!(
            plan.scenarios[0].executor,
            Executor::RampingVus {
                start_vus: 1,
                stages: vec![crate::plan::model::Stage {
                    duration: Duration::from_secs(60),
                    target: 5
                }],
                graceful_ramp_down: Duration::from_secs(30),
            }
        );
        assert_eq!(
            plan.scenarios[1].executor,
            Executor::ConstantArrivalRate {
                rate: 5,
                time_unit: Duration::from_secs(1),
                duration: Duration::from_secs(60),
                pre_allocated_vus: 3,
                max_vus: 3,
            }
        );
        assert_eq!(
            plan.scenarios[2].executor,
            Executor::SharedIterations {
                vus: 1,
                iterations: 1,
                max_duration: Duration::from_secs(600)
            }
        );
        assert_eq!(plan.scenarios[2].graceful_stop, Duration::from_secs(30));
    }

    #[test]
    fn expectations_become_named_checks() {
        let plan = ok(&plan_with(
            "  login: { post: http://h/login, expect: { status: [200, 201], json: { \"$.token_type\": bearer }, body_contains: ok, headers: [X-Request-Id], max_duration: 500ms } }",
            "",
            "[login]",
        ));
        let e = &plan.requests[0].expect;
        assert_eq!(e.status, [200, 201]);
        let names: Vec<&str> = e.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "login: status in [200, 201]",
                "login: $.token_type is \"bearer\"",
                "login: body contains \"ok\"",
                "login: has header x-request-id",
                "login: duration < 500ms",
            ]
        );
        assert!(
            matches!(&e.checks[4].kind, CheckKind::MaxDuration(d) if *d == Duration::from_millis(500))
        );
    }

    #[test]
    fn every_broken_template_in_a_json_body_is_reported_where_it_is() {
        let e = err(&plan_with(
            "  login:\n    post: http://h/login\n    json:\n      a: \"{{tokn}}\"\n      b: [ok, \"{{vars.nope}}\"]",
            "",
            "[login]",
        ));
        assert!(
            e.starts_with("plan.yaml:7:10: requests.login.json.a: in template \"{{tokn}}\""),
            "{e}"
        );
        assert!(
            e.contains("plan.yaml:8:15: requests.login.json.b[1]: in template \"{{vars.nope}}\""),
            "{e}"
        );
    }

    #[test]
    fn an_oversized_number_does_not_hide_the_other_errors() {
        let e = err("version: 1\nname: t\nrequests:\n  me: { get: /me, timeout: !!int x }\nscenarios:\n  s: { executor: constant-vus, vus: 18446744073709551617, duration: 1x, flow: [mee] }\n");
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 5, "{e}");
        assert!(lines[0].contains("requests.me.timeout: \"x\" is not a valid integer (tag !!int)"));
        assert!(lines[1].contains(
            "plan.yaml:6:37: scenarios.s.vus: the number 18446744073709551617 does not fit in a 64-bit integer"
        ));
        // Nothing else is said about the number that did not fit.
        assert!(!e.contains("scenarios.s.vus: expected"), "{e}");
        assert!(
            lines[2].contains("scenarios.s.duration: unknown unit \"x\""),
            "{e}"
        );
        assert!(lines[3].contains("unknown request or flow \"mee\""), "{e}");
        assert_eq!(lines[4], "4 errors in plan.yaml");
    }

    #[test]
    fn a_credential_header_in_a_broken_plan_is_masked_in_its_errors() {
        let e = err(&plan_with(
            "  me: { get: http://h/me, headers: { authorization: \"Bearer s3cr3t-T0KEN {{tokn}}\", x-api-key: \"k3y-v4lue{{nope}}\" } }",
            "",
            "[me]",
        ));
        assert!(
            !e.contains("s3cr3t-T0KEN") && !e.contains("k3y-v4lue"),
            "{e}"
        );
        assert!(e.contains("in template \"*** {{tokn}}\""), "{e}");
        assert!(e.contains("in template \"***{{nope}}\""), "{e}");
        // The scheme word alone is no secret.
        let e = err(&plan_with(
            "  me: { get: http://h/me, headers: { authorization: \"Bearer {{tokn}}\" } }",
            "",
            "[me]",
        ));
        assert!(e.contains("in template \"Bearer {{tokn}}\""), "{e}");
    }

    #[test]
    fn errors_are_sorted_and_counted() {
        let e = err("version: 3\nname: t\nrequests:\n  me: { get: /me, bogus: 1 }\nscenarios:\n  s: { executor: constant-vus, vus: 0, duration: 1s, flow: [mee] }\n");
        let lines: Vec<&str> = e.lines().collect();
        assert!(
            lines[0].starts_with("plan.yaml:1:10: version: unsupported plan version 3"),
            "{e}"
        );
        assert!(
            lines[1].contains("plan.yaml:4:19: requests.me.bogus: unknown key \"bogus\""),
            "{e}"
        );
        assert!(
            lines[2].starts_with("error: plan.yaml:6:37: scenarios.s.vus: must be at least 1"),
            "{e}"
        );
        assert!(
            lines[3].contains("unknown request or flow \"mee\"; did you mean \"me\"?"),
            "{e}"
        );
        assert_eq!(lines[4], "4 errors in plan.yaml");
    }
}
