//! `regression:` — limits on how much worse than a baseline run a metric may get, e.g.
//! `{ http_req_duration: "p(95) +20%", http_req_failed: "rate x2" }` (one rule or a list per
//! metric key). Judged by `compare` and `run --baseline`.

use crate::plan::model::CustomMetric;
use crate::plan::yaml::{Node, Value};
use crate::rules::regression::{parse_rule, RegressionRule};
use crate::rules::threshold::{builtin_metric, parse_metric_key, BUILTIN_METRICS};
use crate::suggest;

use super::tree::Cx;
use super::tree::{str_of, Fields, P};

pub(crate) fn regressions(
    cx: &mut Cx,
    node: &Node,
    path: &P,
    metrics: &[CustomMetric],
) -> Vec<RegressionRule> {
    let mut out = Vec::new();
    let Some(map) = Fields::of(
        cx,
        node,
        path,
        "regression limits by metric, e.g. { http_req_duration: \"p(95) +20%\" }",
    ) else {
        return out;
    };
    for (key, knode, v) in &map.entries {
        let p = path.key(key);
        let metric = match parse_metric_key(key) {
            Ok(k) => k.metric,
            Err(e) => {
                cx.error(knode, &p, e.to_string());
                continue;
            }
        };
        let Some(kind) = builtin_metric(&metric)
            .or_else(|| metrics.iter().find(|m| m.name == metric).map(|m| m.kind))
        else {
            let names = BUILTIN_METRICS
                .iter()
                .map(|(n, _)| *n)
                .chain(metrics.iter().map(|m| m.name.as_str()));
            let hint = suggest::hint(&metric, names);
            cx.error(knode, &p, format!("unknown metric \"{metric}\"{hint}"));
            continue;
        };
        let rules: Vec<(&Node, P)> = match &v.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| (n, p.index(i)))
                .collect(),
            _ => vec![(*v, p.clone())],
        };
        for (n, rp) in rules {
            let Some(text) = str_of(cx, n, &rp) else {
                continue;
            };
            match parse_rule(key, kind, text) {
                Ok(r) => out.push(r),
                Err(e) => cx.error(n, &rp, e),
            }
        }
    }
    out
}

/// The metrics drift can be judged on: each interval keeps them exactly per scenario.
pub(crate) const DRIFT_METRICS: [&str; 3] = ["http_req_duration", "http_req_failed", "http_reqs"];

/// `drift:` — how much worse the last window of a scenario may be than its first, in the same
/// rule grammar as `regression:`, on `http_req_duration`, `http_req_failed` or `http_reqs`.
pub(crate) fn drift(
    cx: &mut Cx,
    node: &Node,
    path: &P,
    metrics: &[CustomMetric],
) -> Vec<RegressionRule> {
    let rules = regressions(cx, node, path, metrics);
    let mut out = Vec::new();
    for r in rules {
        if !DRIFT_METRICS.contains(&r.key.metric.as_str()) || !r.key.tags.is_empty() {
            let p = path.key(&r.key.source);
            cx.error(
                node,
                &p,
                format!(
                    "drift can be judged on {} (without tags), not \"{}\"",
                    DRIFT_METRICS.join(", "),
                    r.key.source
                ),
            );
            continue;
        }
        out.push(r);
    }
    out
}
