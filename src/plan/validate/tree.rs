//! Reading the positioned YAML tree: typed accessors that report what they expected, where, and
//! a "did you mean" for unknown keys. Every accessor records its own error and returns `None`,
//! so callers just skip what is broken and carry on collecting into the [`Cx`].

use std::time::Duration;

use crate::plan::duration::{parse_duration, parse_duration_range, MAX_DURATION};
use crate::plan::model::Think;
use crate::plan::yaml::{Diagnostic, Diagnostics, Node, Value};
use crate::redact::Redactor;
use crate::suggest;

/// A YAML path, printed like `scenarios.smoke.stages[1].target`.
pub(crate) use crate::plan::yaml::YamlPath as P;

/// Where validation collects what it finds.
#[derive(Default)]
pub(crate) struct Cx {
    pub(super) diags: Diagnostics,
    pub(super) warnings: Vec<Diagnostic>,
    /// The secrets met so far (secret vars, URL credentials, credential headers' text), even
    /// where the rest of the plan is broken: the errors are masked with them, as everything
    /// else printed is.
    pub(super) secrets: Redactor,
}

impl Cx {
    pub fn error(&mut self, at: &Node, path: &P, message: impl Into<String>) {
        self.diags.error(at, path, message);
    }

    /// An error whose path was built elsewhere (a JSON path inside a body).
    pub fn error_at_path(&mut self, at: &Node, path: String, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            line: at.mark.line,
            col: at.mark.col,
            path,
            message: message.into(),
        });
    }

    pub fn warn(&mut self, at: &Node, path: &P, message: impl Into<String>) {
        self.warnings.push(Diagnostic {
            line: at.mark.line,
            col: at.mark.col,
            path: path.to_string(),
            message: message.into(),
        });
    }
}

/// What a value is, for "expected X, found Y".
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Int(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Str(_) => "a string",
        Value::Seq(_) => "a list",
        Value::Map(_) => "a mapping",
    }
}

/// The entries of a mapping whose keys are strings, for lookups and the unknown-key check.
pub(crate) struct Fields<'n> {
    pub node: &'n Node,
    pub path: P,
    pub entries: Vec<(&'n str, &'n Node, &'n Node)>,
}

impl<'n> Fields<'n> {
    /// The mapping at `node`, or an error. Keys that are not strings and repeated keys are
    /// errors (the first occurrence wins).
    pub fn of(cx: &mut Cx, node: &'n Node, path: &P, what: &str) -> Option<Fields<'n>> {
        let Value::Map(map) = &node.value else {
            cx.error(
                node,
                path,
                format!("expected {what} (a mapping), found {}", kind(&node.value)),
            );
            return None;
        };
        let mut entries: Vec<(&'n str, &'n Node, &'n Node)> = Vec::with_capacity(map.len());
        for (k, v) in map {
            let key = match &k.value {
                Value::Str(s) => s.as_str(),
                other => {
                    cx.error(
                        k,
                        path,
                        format!("keys must be strings, found {}", kind(other)),
                    );
                    continue;
                }
            };
            if let Some((_, first, _)) = entries.iter().find(|(n, _, _)| *n == key) {
                let line = first.mark.line;
                cx.error(
                    k,
                    &path.key(key),
                    format!("duplicate key \"{key}\" (first given on line {line})"),
                );
                continue;
            }
            entries.push((key, k, v));
        }
        Some(Fields {
            node,
            path: path.clone(),
            entries,
        })
    }

    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, v)| *v)
    }

    pub fn key_node(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, k, _)| *k)
    }

    /// A required key: an error at the mapping when it is missing.
    pub fn req(&self, cx: &mut Cx, key: &str) -> Option<&'n Node> {
        let v = self.get(key);
        // A misspelling of the key is reported as an unknown key with this suggestion; saying
        // it is missing as well would only repeat it.
        let misspelled = || {
            self.entries
                .iter()
                .any(|(k, _, _)| to_snake(k) == key || suggest::did_you_mean(k, [key]).is_some())
        };
        if v.is_none() && !misspelled() {
            cx.error(
                self.node,
                &self.path,
                format!("missing required key \"{key}\""),
            );
        }
        v
    }

    /// Every key not in `known` is an error, with the closest known key as a suggestion.
    pub fn only(&self, cx: &mut Cx, known: &[&str]) {
        self.only_but(cx, known, |_| false);
    }

    /// [`only`](Self::only), also accepting the keys `extra` accepts.
    pub fn only_but(&self, cx: &mut Cx, known: &[&str], extra: impl Fn(&str) -> bool) {
        for (key, knode, _) in &self.entries {
            if !known.contains(key) && !extra(key) {
                let hint = key_hint(key, known);
                let list = if hint.is_empty() {
                    format!("; expected one of {}", known.join(", "))
                } else {
                    String::new()
                };
                cx.error(
                    knode,
                    &self.path.key(key),
                    format!("unknown key \"{key}\"{hint}{list}"),
                );
            }
        }
    }
}

/// "; did you mean ..." for a key, also catching k6's camelCase (`preAllocatedVUs`).
pub(crate) fn key_hint(key: &str, known: &[&str]) -> String {
    // k6 words with another name here.
    let k6 = match key {
        "check" | "checks" if known.contains(&"expect") => {
            Some("; did you mean \"expect\"? (k6's check() is a request's `expect:` here)")
        }
        "sleep" if known.contains(&"think") => {
            Some("; did you mean \"think\"? (k6's sleep() is `think:` here)")
        }
        "exec" if known.contains(&"flow") => {
            Some("; did you mean \"flow\"? (k6's exec function is the scenario's `flow:` here)")
        }
        "options" if known.contains(&"scenarios") => Some(
            "; k6's options are top-level keys here: scenarios, thresholds, defaults (docs/plan.md)",
        ),
        _ => None,
    };
    if let Some(k6) = k6 {
        return k6.to_string();
    }
    let snake = to_snake(key);
    if snake != key && known.contains(&snake.as_str()) {
        return format!("; did you mean \"{snake}\"? (plan keys are snake_case)");
    }
    suggest::hint(key, known.iter().copied())
}

/// The suggestion when there is one, else the list of what is accepted.
pub(crate) fn hint_or_list(hint: String, list: &str) -> String {
    if hint.is_empty() {
        format!("; expected {list}")
    } else {
        hint
    }
}

/// `preAllocatedVUs` → `pre_allocated_vus`, `gracefulStop` → `graceful_stop`.
pub(crate) fn to_snake(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower = i > 0 && !chars[i - 1].is_ascii_uppercase() && chars[i - 1] != '_';
            if i > 0 && prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out.replace('-', "_")
}

pub(crate) fn str_of<'n>(cx: &mut Cx, node: &'n Node, path: &P) -> Option<&'n str> {
    match &node.value {
        Value::Str(s) => Some(s),
        other => {
            cx.error(
                node,
                path,
                format!("expected a string, found {}", kind(other)),
            );
            None
        }
    }
}

/// A non-empty string.
pub(crate) fn name_of<'n>(cx: &mut Cx, node: &'n Node, path: &P) -> Option<&'n str> {
    let s = str_of(cx, node, path)?;
    if s.trim().is_empty() {
        cx.error(node, path, "must not be empty");
        return None;
    }
    Some(s)
}

/// A scalar as text: strings as they are, numbers and booleans as YAML wrote them.
pub(crate) fn scalar_text(node: &Node) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(crate) fn text_of(cx: &mut Cx, node: &Node, path: &P) -> Option<String> {
    let t = scalar_text(node);
    if t.is_none() {
        cx.error(
            node,
            path,
            format!(
                "expected a string, number or boolean, found {}",
                kind(&node.value)
            ),
        );
    }
    t
}

pub(crate) fn bool_of(cx: &mut Cx, node: &Node, path: &P) -> Option<bool> {
    match &node.value {
        Value::Bool(b) => Some(*b),
        other => {
            cx.error(
                node,
                path,
                format!("expected true or false, found {}", kind(other)),
            );
            None
        }
    }
}

pub(crate) fn seq_of<'n>(cx: &mut Cx, node: &'n Node, path: &P) -> Option<&'n [Node]> {
    match &node.value {
        Value::Seq(items) => Some(items),
        other => {
            cx.error(
                node,
                path,
                format!("expected a list, found {}", kind(other)),
            );
            None
        }
    }
}

/// A whole number in `min..=max`; `what` names the unit in the limit message ("VUs").
pub(crate) fn int_of(
    cx: &mut Cx,
    node: &Node,
    path: &P,
    min: u64,
    max: u64,
    what: &str,
) -> Option<u64> {
    let n = match &node.value {
        Value::Int(i) => *i,
        Value::Float(f) => {
            cx.error(
                node,
                path,
                format!("expected a whole number of {what}, found {f}"),
            );
            return None;
        }
        Value::Str(s) if s.trim().parse::<i64>().is_ok() => {
            cx.error(
                node,
                path,
                format!("expected a number, found the string {s:?}; drop the quotes"),
            );
            return None;
        }
        other => {
            cx.error(
                node,
                path,
                format!("expected a whole number of {what}, found {}", kind(other)),
            );
            return None;
        }
    };
    if n < 0 {
        cx.error(node, path, format!("must not be negative (found {n})"));
        return None;
    }
    let n = n as u64;
    if n < min {
        cx.error(node, path, format!("must be at least {min} (found {n})"));
        return None;
    }
    if n > max {
        cx.error(
            node,
            path,
            format!(
                "{n} {what} is over the limit of {} {what}",
                group_digits(max)
            ),
        );
        return None;
    }
    Some(n)
}

/// `100000` → `100 000`, for limits in messages.
pub(crate) fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// A duration written with a unit (`30s`, `1m30s`); a bare `0` is zero.
pub(crate) fn duration_of(cx: &mut Cx, node: &Node, path: &P) -> Option<Duration> {
    match &node.value {
        Value::Str(s) => match parse_duration(s.trim()) {
            Ok(d) => Some(d),
            Err(e) => {
                cx.error(node, path, e.to_string());
                None
            }
        },
        Value::Int(0) => Some(Duration::ZERO),
        Value::Int(n) => {
            cx.error(
                node,
                path,
                format!("a duration needs a unit: write \"{n}s\" or \"{n}ms\""),
            );
            None
        }
        other => {
            cx.error(
                node,
                path,
                format!(
                    "expected a duration such as \"30s\" or \"1m30s\", found {}",
                    kind(other)
                ),
            );
            None
        }
    }
}

/// A duration that must be longer than zero.
pub(crate) fn positive_duration_of(cx: &mut Cx, node: &Node, path: &P) -> Option<Duration> {
    let d = duration_of(cx, node, path)?;
    if d.is_zero() {
        cx.error(node, path, "must be longer than 0s");
        return None;
    }
    debug_assert!(d <= MAX_DURATION);
    Some(d)
}

/// A pause: `1s` or a range `1s..3s`.
pub(crate) fn think_of(cx: &mut Cx, node: &Node, path: &P) -> Option<Think> {
    let text = match &node.value {
        Value::Str(s) => s.clone(),
        Value::Int(0) => "0s".to_string(),
        Value::Int(n) => {
            cx.error(
                node,
                path,
                format!("a pause needs a unit: write \"{n}s\", or a range such as \"1s..3s\""),
            );
            return None;
        }
        other => {
            cx.error(
                node,
                path,
                format!(
                    "expected a pause such as \"1s\" or \"1s..3s\", found {}",
                    kind(other)
                ),
            );
            return None;
        }
    };
    match parse_duration_range(text.trim()) {
        Ok((min, max)) => Some(Think { min, max }),
        Err(e) => {
            cx.error(node, path, e.to_string());
            None
        }
    }
}

/// Names users write in the plan and in templates: `login`, `list_agents`, `crud-v2`.
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Template variable names: no `-`, so `{{users.email}}` reads cleanly.
pub(crate) fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_like_the_plan() {
        let p = P::root()
            .key("scenarios")
            .key("smoke")
            .key("stages")
            .index(1)
            .key("target");
        assert_eq!(p.to_string(), "scenarios.smoke.stages[1].target");
        let q = P::root()
            .key("requests")
            .key("login")
            .key("expect")
            .key("json")
            .key("$.user.id");
        assert_eq!(q.to_string(), "requests.login.expect.json[\"$.user.id\"]");
    }

    #[test]
    fn digit_grouping() {
        assert_eq!(group_digits(100_000), "100 000");
        assert_eq!(group_digits(1_000_000_000), "1 000 000 000");
        assert_eq!(group_digits(12), "12");
    }

    #[test]
    fn camel_case_keys_get_their_snake_case_name() {
        assert_eq!(to_snake("preAllocatedVUs"), "pre_allocated_vus");
        assert_eq!(to_snake("gracefulStop"), "graceful_stop");
        assert_eq!(to_snake("maxVUs"), "max_vus");
        assert_eq!(to_snake("startVUs"), "start_vus");
        assert_eq!(to_snake("timeUnit"), "time_unit");
        assert!(key_hint("preAllocatedVUs", &["pre_allocated_vus"]).contains("snake_case"));
        assert_eq!(
            key_hint("duraton", &["duration"]),
            "; did you mean \"duration\"?"
        );
    }

    #[test]
    fn names() {
        assert!(is_identifier("list_agents") && is_identifier("crud-v2"));
        assert!(!is_identifier("2fa") && !is_identifier("a b") && !is_identifier(""));
        assert!(is_var_name("token") && !is_var_name("my-token"));
    }
}
