//! `thresholds:` blocks (plan-wide, per environment, per scenario), in k6's grammar, checked
//! against the metrics that exist and the tags the engine records.
//!
//! What k6 accepts, we accept (the differential test in `tests/integration/plans.rs` runs a table
//! of thresholds through real k6 and through `validate`). Where k6 silently accepts what can only
//! select nothing, a sub-metric on a tag the samples never carry or on a value no sample can
//! have, we accept it too and say so in a warning.

use std::time::Duration;

use crate::plan::duration::parse_duration;
use crate::plan::model::CustomMetric;
use crate::plan::yaml::{Node, Value};
use crate::rules::threshold::{builtin_metric, parse_condition, parse_metric_key, BUILTIN_METRICS};
use crate::rules::threshold::{parse_number, unrecorded_k6_metric};
use crate::rules::threshold::{Threshold, ThresholdCondition};
use crate::suggest;
use crate::summary::schema::MetricType;

use super::tree::Cx;
use super::tree::{bool_of, kind, str_of, Fields, P};

/// The tags a request's samples carry (`http_req_*`, `http_reqs`, `data_*`).
pub(crate) const TAGS: [&str; 7] = [
    "scenario",
    "name",
    "method",
    "status",
    "group",
    "expected_response",
    "error",
];

/// The error classes a request may fail with (the `error` tag).
const ERROR_CLASSES: [&str; 8] = [
    "connect",
    "timeout",
    "reset",
    "tls",
    "protocol",
    "status",
    "body_too_large",
    "redirect",
];

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The end of every warning about a selector that cannot match.
const MATCHES_NOTHING: &str =
    "the sub-metric is accepted, as k6 accepts it, but matches nothing: its thresholds see no data";

/// The names a threshold may refer to.
pub(crate) struct Names<'a> {
    pub metrics: &'a [CustomMetric],
    pub requests: Vec<&'a str>,
    /// Each request's URL as written, for a `name:` that gives a URL (k6 names a request by
    /// its URL).
    pub urls: Vec<(&'a str, &'a str)>,
    pub scenarios: Vec<&'a str>,
    pub groups: Vec<String>,
    /// Every check's name (`login: status is 200`), as the `check` tag holds it.
    pub checks: Vec<String>,
}

impl<'a> Names<'a> {
    /// The names of a plan's metrics, requests (their URLs and checks); no scenario or group
    /// yet.
    pub fn new(
        metrics: &'a [CustomMetric],
        requests: Vec<&'a str>,
        specs: &'a [crate::plan::model::RequestSpec],
        captures: &'a [String],
    ) -> Names<'a> {
        Names {
            metrics,
            requests,
            urls: specs
                .iter()
                .map(|r| (r.name.as_str(), r.url.source()))
                .collect(),
            scenarios: Vec::new(),
            groups: Vec::new(),
            checks: specs.iter().flat_map(|r| r.check_names(captures)).collect(),
        }
    }

    /// With the scenarios and groups.
    pub fn with(mut self, scenarios: Vec<&'a str>, groups: Vec<String>) -> Names<'a> {
        self.scenarios = scenarios;
        self.groups = groups;
        self
    }

    fn custom_type(&self, name: &str) -> Option<MetricType> {
        self.metrics.iter().find(|m| m.name == name).map(|m| m.kind)
    }

    /// The tags a metric's samples carry, as the summary matches them: none for a k6 metric we
    /// never record.
    fn carried_tags(&self, metric: &str) -> &'static [&'static str] {
        if self.custom_type(metric).is_some() {
            return &["scenario", "name"];
        }
        match metric {
            "checks" => &["scenario", "name", "group", "check"],
            "group_duration" => &["scenario", "group"],
            "iterations" | "dropped_iterations" | "iteration_duration" | "vus" | "vus_max" => {
                &["scenario"]
            }
            m if builtin_metric(m).is_some() => &TAGS,
            _ => &[],
        }
    }
}

pub(crate) fn thresholds(cx: &mut Cx, node: &Node, path: &P, names: &Names) -> Vec<Threshold> {
    let mut out: Vec<Threshold> = Vec::new();
    let Some(map) = Fields::of(
        cx,
        node,
        path,
        "thresholds by metric, e.g. { http_req_duration: [\"p(95)<500\"] }",
    ) else {
        return out;
    };
    for (key, knode, v) in &map.entries {
        let p = path.key(key);
        let Some(t) = threshold(cx, key, knode, v, &p, names) else {
            continue;
        };
        if let Some(prev) = out.iter_mut().find(|o| o.key == t.key) {
            // k6 keeps one of the two lists, whichever it reads last; judging both loses nothing.
            cx.warn(
                knode,
                &p,
                format!(
                    "\"{key}\" selects the same metric as \"{}\" on line {}; k6 would keep only one \
                     of the two lists, both are judged here: put all their conditions in one list",
                    prev.key.source, prev.line
                ),
            );
            prev.conditions.extend(t.conditions);
            continue;
        }
        out.push(t);
    }
    out
}

/// A scenario's own threshold whose selector names another scenario would select none of its
/// samples, and is judged only in the scenario it names: an error, never silently dropped.
pub(crate) fn own_scenario_only(
    cx: &mut Cx,
    node: &Node,
    path: &P,
    scenario: &str,
    thresholds: &mut Vec<Threshold>,
) {
    let Some(map) = Fields::of(cx, node, path, "thresholds by metric") else {
        return;
    };
    thresholds.retain(|t| {
        let Some((_, other)) = t
            .key
            .tags
            .iter()
            .find(|(tag, value)| tag == "scenario" && value != scenario)
        else {
            return true;
        };
        if let Some((key, knode, _)) = map.entries.iter().find(|(_, k, _)| k.mark.line == t.line)
        {
            cx.error(
                knode,
                &path.key(key),
                format!(
                    "selects scenario \"{other}\" among scenario \"{scenario}\"'s thresholds, where it would select nothing; put it in the plan's thresholds"
                ),
            );
        }
        false
    });
}

/// The metric's type, or an error naming what exists; a k6 metric we never record is accepted
/// with a warning.
fn metric_type(
    cx: &mut Cx,
    metric: &str,
    knode: &Node,
    p: &P,
    names: &Names,
) -> Option<MetricType> {
    if let Some(t) = builtin_metric(metric).or_else(|| names.custom_type(metric)) {
        return Some(t);
    }
    if let Some(t) = unrecorded_k6_metric(metric) {
        cx.warn(
            knode,
            p,
            format!(
                "{metric} is a k6 metric that kaizen-loadtest never records (it speaks HTTP: no \
                 WebSocket, no gRPC): its thresholds see no data"
            ),
        );
        return Some(t);
    }
    let mut all: Vec<&str> = BUILTIN_METRICS.iter().map(|(n, _)| *n).collect();
    all.extend(names.metrics.iter().map(|m| m.name.as_str()));
    let hint = suggest::hint(metric, all.iter().copied());
    let declare = if hint.is_empty() {
        format!("; declare it under `metrics:` (e.g. `{metric}: trend`) or use a built-in metric")
    } else {
        String::new()
    };
    cx.error(
        knode,
        p,
        format!("threshold on unknown metric \"{metric}\"{hint}{declare}"),
    );
    None
}

fn threshold(
    cx: &mut Cx,
    key: &str,
    knode: &Node,
    v: &Node,
    p: &P,
    names: &Names,
) -> Option<Threshold> {
    let metric_key = match parse_metric_key(key) {
        Ok(k) => k,
        Err(e) => {
            cx.error(knode, p, e.to_string());
            return None;
        }
    };
    let metric_type = metric_type(cx, &metric_key.metric, knode, p, names)?;
    let carried = names.carried_tags(&metric_key.metric);
    for (tag, value) in &metric_key.tags {
        if let Some(why) = cannot_match(&metric_key.metric, carried, tag, value, names) {
            cx.warn(knode, p, format!("{why} ({MATCHES_NOTHING})"));
        }
    }

    let items: Vec<&Node> = match &v.value {
        Value::Seq(items) => items.iter().collect(),
        Value::Str(_) | Value::Map(_) => vec![v],
        other => {
            cx.error(
                v,
                p,
                format!(
                    "expected a list of conditions such as [\"p(95)<500\"], found {}",
                    kind(other)
                ),
            );
            return None;
        }
    };
    if items.is_empty() {
        cx.error(
            v,
            p,
            "no conditions; write at least one, e.g. [\"p(95)<500\"]",
        );
        return None;
    }
    let mut conditions = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let ip = if matches!(v.value, Value::Seq(_)) {
            p.index(i)
        } else {
            p.clone()
        };
        match condition(cx, item, &ip, &metric_key.metric, metric_type) {
            Some(c) => conditions.push(c),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    Some(Threshold {
        key: metric_key,
        metric_type,
        conditions,
        line: knode.mark.line,
    })
}

fn condition(
    cx: &mut Cx,
    node: &Node,
    p: &P,
    metric: &str,
    t: MetricType,
) -> Option<ThresholdCondition> {
    let (text_node, abort_on_fail, delay_abort_eval) = match &node.value {
        Value::Str(_) => (node, false, Duration::ZERO),
        Value::Map(_) => {
            let f = Fields::of(cx, node, p, "a condition")?;
            f.only(cx, &["threshold", "abort_on_fail", "delay_abort_eval"]);
            let abort = match f.get("abort_on_fail") {
                Some(n) => bool_of(cx, n, &p.key("abort_on_fail")),
                None => Some(false),
            };
            let delay = match f.get("delay_abort_eval") {
                Some(n) => delay_of(cx, n, &p.key("delay_abort_eval")),
                None => Some(Duration::ZERO),
            };
            let text = f.req(cx, "threshold");
            let (text, abort, delay) = (text?, abort?, delay?);
            if f.get("delay_abort_eval").is_some() && !abort {
                cx.warn(
                    f.get("delay_abort_eval").expect("checked"),
                    &p.key("delay_abort_eval"),
                    "delay_abort_eval has no effect without abort_on_fail: true",
                );
            }
            (text, abort, delay)
        }
        other => {
            cx.error(
                node,
                p,
                format!(
                    "expected a condition such as \"p(95)<500\" or {{ threshold: \"p(95)<500\", abort_on_fail: true }}, found {}",
                    kind(other)
                ),
            );
            return None;
        }
    };
    let tp = if std::ptr::eq(text_node, node) {
        p.clone()
    } else {
        p.key("threshold")
    };
    let text = str_of(cx, text_node, &tp)?;
    let condition = match parse_condition(text) {
        Ok(c) => c,
        Err(e) => {
            cx.error(text_node, &tp, e.to_string());
            return None;
        }
    };
    if let Err(e) = condition.check_fits(metric, t) {
        cx.error(text_node, &tp, e.to_string());
        return None;
    }
    if let Some(w) = condition.warnings() {
        cx.warn(text_node, &tp, w);
    }
    Some(ThresholdCondition {
        condition,
        abort_on_fail,
        delay_abort_eval,
    })
}

/// `delay_abort_eval`, read as k6 reads `delayAbortEval`: a duration (`30s`), or a plain number
/// of milliseconds (a YAML number or a string holding one); null means none, and a negative
/// delay is none too (k6 accepts it; the abort check then starts at once).
fn delay_of(cx: &mut Cx, node: &Node, path: &P) -> Option<Duration> {
    let millis = match &node.value {
        Value::Null => return Some(Duration::ZERO),
        Value::Int(n) => Some(*n as f64),
        Value::Float(f) => Some(*f),
        Value::Str(s) => parse_number(s.trim()),
        other => {
            cx.error(
                node,
                path,
                format!(
                    "expected a duration such as \"30s\" or \"1m30s\", found {}",
                    kind(other)
                ),
            );
            return None;
        }
    };
    if let Some(ms) = millis {
        if !ms.is_finite() || ms > crate::plan::duration::MAX_DURATION.as_millis() as f64 {
            cx.error(node, path, "the delay is longer than the 30 day maximum");
            return None;
        }
        if ms != 0.0 {
            cx.warn(
                node,
                path,
                format!(
                    "a plain number is milliseconds, as k6 reads it: {ms} means {ms}ms; write \
                     \"{ms}ms\", or \"{ms}s\" if seconds were meant"
                ),
            );
        }
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    let Value::Str(s) = &node.value else {
        unreachable!("numbers returned above");
    };
    let s = s.trim();
    if let Some(positive) = s.strip_prefix('-') {
        if parse_duration(positive).is_ok() {
            cx.warn(
                node,
                path,
                format!("a negative delay ({s}) is none: abort_on_fail is checked from the start"),
            );
            return Some(Duration::ZERO);
        }
    }
    match parse_duration(s) {
        Ok(d) => Some(d),
        Err(e) => {
            cx.error(node, path, e.to_string());
            None
        }
    }
}

/// Why a selector's `tag:value` can match no sample of `metric`, or `None` when it can.
fn cannot_match(
    metric: &str,
    carried: &[&str],
    tag: &str,
    value: &str,
    names: &Names,
) -> Option<String> {
    if carried.is_empty() {
        // The metric's own warning already says it has no data.
        return None;
    }
    if !carried.contains(&tag) {
        let hint = suggest::hint(tag, carried.iter().copied());
        let url = if tag == "url" {
            "; URLs are not recorded, select a request by its name instead: name:<request>"
        } else {
            ""
        };
        return Some(format!(
            "{metric} samples carry no \"{tag}\" tag (they carry {}){hint}{url}",
            carried.join(", ")
        ));
    }
    match tag {
        "name" if value.starts_with('/') || value.contains("://") => {
            unknown_name("request", value, &names.requests).map(|why| {
                let fix = match names.urls.iter().find(|(_, u)| *u == value) {
                    Some((request, _)) => {
                        format!("; {value} is the URL of request {request}: write name:{request}")
                    }
                    None => String::new(),
                };
                format!("{why}: `name` is the request's name here, not its URL as in k6{fix}")
            })
        }
        "name" => unknown_name("request", value, &names.requests),
        "scenario"
            if (value == "setup" || value == "teardown") && !names.scenarios.contains(&value) =>
        {
            Some(format!(
                "the once-per-test {value}'s requests are judged by no threshold: a request, check \
                 or capture of it that fails makes it fail (docs/plan.md, \"setup and teardown\")"
            ))
        }
        "scenario" => unknown_name("scenario", value, &names.scenarios),
        "check" => unknown_name(
            "check",
            value,
            &names.checks.iter().map(String::as_str).collect::<Vec<_>>(),
        ),
        "method" if METHODS.contains(&value) => None,
        "method" if METHODS.contains(&value.to_ascii_uppercase().as_str()) => Some(format!(
            "method \"{value}\" never matches: methods are recorded in upper case, write method:{}",
            value.to_ascii_uppercase()
        )),
        "method" => Some(format!(
            "no request sends the method \"{value}\"; methods are {}",
            METHODS.join(", ")
        )),
        "status" => match value.parse::<u16>() {
            Ok(s) if (s == 0 || (100..=599).contains(&s)) && s.to_string() == value => None,
            _ => Some(format!(
                "status \"{value}\" is not a status the engine records (100 to 599, or 0 when no \
                 response came)"
            )),
        },
        "error" if ERROR_CLASSES.contains(&value) => None,
        "error" => Some(format!(
            "unknown error class \"{value}\"{}",
            hint_or_expected(value, &ERROR_CLASSES)
        )),
        "expected_response" if value == "true" || value == "false" => None,
        "expected_response" => Some(format!(
            "expected_response is true or false, not \"{value}\""
        )),
        "group" => unknown_group(value, &names.groups),
        _ => None,
    }
}

/// A `group` value (`::crud`, `crud`, `::outer::inner`, or empty: no group) naming a group no
/// flow declares.
fn unknown_group(value: &str, groups: &[String]) -> Option<String> {
    for s in value.split("::").filter(|s| !s.is_empty()) {
        if !groups.iter().any(|g| g == s) {
            let hint = suggest::hint(s, groups.iter().map(String::as_str));
            return Some(format!("no flow declares a group \"{s}\"{hint}"));
        }
    }
    None
}

fn hint_or_expected(value: &str, list: &[&str]) -> String {
    let hint = suggest::hint(value, list.iter().copied());
    if hint.is_empty() {
        format!("; expected one of {}", list.join(", "))
    } else {
        hint
    }
}

fn unknown_name(what: &str, value: &str, known: &[&str]) -> Option<String> {
    if known.contains(&value) {
        return None;
    }
    Some(format!(
        "no {what} is named \"{value}\"{}",
        suggest::hint(value, known.iter().copied())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names<'static> {
        Names {
            metrics: &[],
            requests: vec!["login", "logout"],
            urls: vec![("login", "/api/login"), ("logout", "/api/logout")],
            scenarios: vec!["smoke"],
            groups: vec!["crud".to_string()],
            checks: vec!["health: status is 200".to_string()],
        }
    }

    #[test]
    fn selectors_that_cannot_match_are_explained() {
        let n = names();
        let why = |metric: &str, tag: &str, value: &str| {
            cannot_match(metric, n.carried_tags(metric), tag, value, &n)
        };
        let d = "http_req_duration";
        for (tag, value) in [
            ("name", "login"),
            ("scenario", "smoke"),
            ("method", "POST"),
            ("status", "200"),
            ("status", "0"),
            ("group", "::crud"),
            ("group", "crud"),
            ("group", ""),
            ("expected_response", "false"),
            ("error", "timeout"),
        ] {
            assert_eq!(why(d, tag, value), None, "{tag}:{value}");
        }
        assert_eq!(
            why(d, "name", "logn").unwrap(),
            "no request is named \"logn\"; did you mean \"login\"?"
        );
        assert!(why(d, "method", "post")
            .unwrap()
            .contains("write method:POST"));
        assert!(why(d, "method", "BREW").unwrap().contains("GET, POST"));
        for bad in ["abc", "2xx", "0200", "600", "99"] {
            assert!(
                why(d, "status", bad).unwrap().contains("not a status"),
                "{bad}"
            );
        }
        assert!(why(d, "group", "crd")
            .unwrap()
            .contains("did you mean \"crud\""));
        assert!(why(d, "group", "::crud::x")
            .unwrap()
            .contains("group \"x\""));
        assert!(why(d, "expected_response", "yes").is_some());
        assert!(why(d, "error", "timout")
            .unwrap()
            .contains("did you mean \"timeout\""));
        let e = why(d, "nmae", "x").unwrap();
        assert!(
            e.contains("carry no \"nmae\" tag") && e.contains("did you mean \"name\""),
            "{e}"
        );
        assert!(why(d, "url", "http://x")
            .unwrap()
            .contains("name:<request>"));
        // Each metric carries its own tags.
        assert_eq!(why("checks", "check", "health: status is 200"), None);
        assert!(why("checks", "check", "nothing")
            .unwrap()
            .contains("no check is named"));
        assert!(why("checks", "status", "200")
            .unwrap()
            .contains("carry no \"status\""));
        assert!(why("iterations", "name", "login").is_some());
        assert_eq!(why("iterations", "scenario", "smoke"), None);
        // A metric never recorded: its own warning says it all.
        assert_eq!(why("ws_ping", "group", "::nope"), None);
    }
}
