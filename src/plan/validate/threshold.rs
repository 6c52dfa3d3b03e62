//! `thresholds:` blocks (plan-wide, per environment, per scenario), in k6's grammar, checked
//! against the metrics that exist and the tags the engine records.

use std::time::Duration;

use crate::plan::model::CustomMetric;
use crate::plan::yaml::{Node, Value};
use crate::rules::threshold::Threshold;
use crate::rules::threshold::ThresholdCondition;
use crate::rules::threshold::{builtin_metric, parse_condition, parse_metric_key, BUILTIN_METRICS};
use crate::suggest;
use crate::summary::schema::MetricType;

use super::tree::Cx;
use super::tree::{bool_of, duration_of, kind, str_of, Fields, P};

/// The tags a sub-metric may select on: the ones the engine records on every sample.
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

/// The names a threshold may refer to.
pub(crate) struct Names<'a> {
    pub metrics: &'a [CustomMetric],
    pub requests: Vec<&'a str>,
    pub scenarios: Vec<&'a str>,
    pub groups: Vec<String>,
}

impl Names<'_> {
    fn metric_type(&self, name: &str) -> Option<MetricType> {
        builtin_metric(name)
            .or_else(|| self.metrics.iter().find(|m| m.name == name).map(|m| m.kind))
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
        if let Some(prev) = out.iter().find(|o| o.key == t.key) {
            cx.error(
                knode,
                &p,
                format!(
                    "\"{key}\" selects the same metric as \"{}\" on line {}; put all their conditions in one list",
                    prev.key.source, prev.line
                ),
            );
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
    let Some(metric_type) = names.metric_type(&metric_key.metric) else {
        let mut all: Vec<&str> = BUILTIN_METRICS.iter().map(|(n, _)| *n).collect();
        all.extend(names.metrics.iter().map(|m| m.name.as_str()));
        let hint = suggest::hint(&metric_key.metric, all.iter().copied());
        let declare = if hint.is_empty() {
            format!(
                "; declare it under `metrics:` (e.g. `{}: trend`) or use a built-in metric",
                metric_key.metric
            )
        } else {
            String::new()
        };
        cx.error(
            knode,
            p,
            format!(
                "threshold on unknown metric \"{}\"{hint}{declare}",
                metric_key.metric
            ),
        );
        return None;
    };
    let mut tags_ok = true;
    for (tag, value) in &metric_key.tags {
        if let Err(msg) = check_tag(tag, value, names) {
            cx.error(knode, p, msg);
            tags_ok = false;
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
    if !ok || !tags_ok {
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
                Some(n) => duration_of(cx, n, &p.key("delay_abort_eval")),
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
    Some(ThresholdCondition {
        condition,
        abort_on_fail,
        delay_abort_eval,
    })
}

fn check_tag(tag: &str, value: &str, names: &Names) -> Result<(), String> {
    match tag {
        "name" => check_name("request", value, &names.requests),
        "scenario" => check_name("scenario", value, &names.scenarios),
        "method" => {
            if METHODS.contains(&value) {
                Ok(())
            } else if METHODS.contains(&value.to_ascii_uppercase().as_str()) {
                Err(format!(
                    "method \"{value}\" is recorded in upper case; write method:{}",
                    value.to_ascii_uppercase()
                ))
            } else {
                Err(format!(
                    "unknown method \"{value}\"; expected one of {}",
                    METHODS.join(", ")
                ))
            }
        }
        "status" => match value.parse::<u16>() {
            Ok(s) if (100..=599).contains(&s) => Ok(()),
            _ => Err(format!(
                "status \"{value}\" is not an HTTP status (100 to 599)"
            )),
        },
        "error" => {
            if ERROR_CLASSES.contains(&value) {
                Ok(())
            } else {
                Err(format!(
                    "unknown error class \"{value}\"{}",
                    hint_or_expected(value, &ERROR_CLASSES)
                ))
            }
        }
        "expected_response" => match value {
            "true" | "false" => Ok(()),
            _ => Err(format!(
                "expected_response is true or false, not \"{value}\""
            )),
        },
        "group" => {
            // k6 writes group tags as `::outer::inner`; accept that or a bare name.
            let segments: Vec<&str> = value.split("::").filter(|s| !s.is_empty()).collect();
            if segments.is_empty() {
                return Err("empty group name".to_string());
            }
            for s in segments {
                if !names.groups.iter().any(|g| g == s) {
                    let hint = suggest::hint(s, names.groups.iter().map(String::as_str));
                    return Err(if names.groups.is_empty() {
                        format!("no flow declares a group \"{s}\"")
                    } else {
                        format!("no flow declares a group \"{s}\"{hint}")
                    });
                }
            }
            Ok(())
        }
        other => Err(format!(
            "cannot select on tag \"{other}\"{}; sub-metrics select on {}",
            suggest::hint(other, TAGS),
            TAGS.join(", ")
        )),
    }
}

fn hint_or_expected(value: &str, list: &[&str]) -> String {
    let hint = suggest::hint(value, list.iter().copied());
    if hint.is_empty() {
        format!("; expected one of {}", list.join(", "))
    } else {
        hint
    }
}

fn check_name(what: &str, value: &str, known: &[&str]) -> Result<(), String> {
    if known.contains(&value) {
        return Ok(());
    }
    Err(format!(
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
            scenarios: vec!["smoke"],
            groups: vec!["crud".to_string()],
        }
    }

    #[test]
    fn tags_are_checked_against_the_plan() {
        let n = names();
        assert!(check_tag("name", "login", &n).is_ok());
        assert_eq!(
            check_tag("name", "logn", &n).unwrap_err(),
            "no request is named \"logn\"; did you mean \"login\"?"
        );
        assert!(check_tag("scenario", "smoke", &n).is_ok());
        assert!(check_tag("method", "post", &n)
            .unwrap_err()
            .contains("upper case"));
        assert!(check_tag("status", "200", &n).is_ok());
        assert!(check_tag("status", "2xx", &n).is_err());
        assert!(check_tag("group", "::crud", &n).is_ok());
        assert!(check_tag("group", "crud", &n).is_ok());
        assert!(check_tag("group", "crd", &n)
            .unwrap_err()
            .contains("did you mean \"crud\""));
        assert!(check_tag("expected_response", "yes", &n).is_err());
        let e = check_tag("nmae", "x", &n).unwrap_err();
        assert!(e.contains("did you mean \"name\""), "{e}");
    }
}
