//! `requests:` — the API client: method and URL, headers, query, body, expectations (k6 checks),
//! captures and the custom metrics each request feeds. Every template is compiled here.

use std::sync::Arc;

use crate::plan::model::{
    Body, Capture, CaptureSource, Check, CheckKind, Compare, CustomMetric, Expect, Expected,
    GaugeFeed, Header, JsonPathSpec, MetricId, RequestSpec,
};
use crate::plan::template::{self, JsonTemplate, Scope, Template};
use crate::plan::yaml::{Node, Value};
use crate::rules::threshold::builtin_metric;
use crate::suggest;
use crate::summary::schema::MetricType;
use crate::text::forbidden_in_header;

use super::tree::Cx;
use super::tree::{
    int_of, kind, name_of, positive_duration_of, scalar_text, seq_of, str_of, text_of, Fields, P,
};

pub(crate) const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

const REQUEST_KEYS: [&str; 16] = [
    "get", "post", "put", "patch", "delete", "head", "options", "headers", "query", "json", "body",
    "form", "expect", "capture", "metric", "timeout",
];

/// The capture names a request declares, before anything is compiled: templates anywhere in the
/// plan may read any of them, so slots are assigned first.
pub(crate) fn capture_names(node: &Node) -> Vec<(&str, &Node)> {
    let Value::Map(req) = &node.value else {
        return Vec::new();
    };
    let Some((_, capture)) = req
        .iter()
        .find(|(k, _)| matches!(&k.value, Value::Str(s) if s == "capture"))
    else {
        return Vec::new();
    };
    let Value::Map(entries) = &capture.value else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|(k, _)| match &k.value {
            Value::Str(s) => Some((s.as_str(), k)),
            _ => None,
        })
        .collect()
}

/// Compiles a template held by `node` (a string, or a number/boolean taken as its text).
pub(crate) fn template_of(
    cx: &mut Cx,
    node: &Node,
    path: &P,
    scope: &dyn Scope,
) -> Option<Template> {
    let src = text_of(cx, node, path)?;
    compile_text(cx, node, path, &src, scope)
}

pub(crate) fn compile_text(
    cx: &mut Cx,
    node: &Node,
    path: &P,
    src: &str,
    scope: &dyn Scope,
) -> Option<Template> {
    match template::compile(src, scope) {
        Ok(t) => Some(t),
        Err(e) => {
            cx.error(node, path, template_message(src, &e.message, e.offset));
            None
        }
    }
}

/// The template error, with the template quoted when it is short enough to read.
fn template_message(src: &str, message: &str, offset: usize) -> String {
    if src.len() <= 80 && !src.contains('\n') {
        format!("in template {src:?}: {message}")
    } else {
        format!("in template (at byte {offset}): {message}")
    }
}

/// `name: template` pairs, in order (headers, query, form fields).
pub(crate) fn pairs(
    cx: &mut Cx,
    node: &Node,
    path: &P,
    scope: &dyn Scope,
    what: &str,
) -> Option<Vec<(String, Template)>> {
    let f = Fields::of(cx, node, path, what)?;
    let mut out = Vec::with_capacity(f.entries.len());
    let mut ok = true;
    for (k, knode, v) in &f.entries {
        // A name is the plan's own text, sent encoded but shown as it is in reports and errors.
        if let Some(c) = k.chars().find(|c| c.is_control()) {
            cx.error(
                knode,
                &path.key(k),
                format!(
                    "a name must not contain control characters; found {}",
                    crate::text::describe(c)
                ),
            );
            ok = false;
            continue;
        }
        if k.contains("{{") {
            cx.error(
                knode,
                &path.key(k),
                "a name is not a template: `{{` here would be sent literally (the value may be one)",
            );
            ok = false;
            continue;
        }
        match template_of(cx, v, &path.key(k), scope) {
            Some(t) => out.push((k.to_string(), t)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

pub(crate) fn headers(
    cx: &mut Cx,
    node: &Node,
    path: &P,
    scope: &dyn Scope,
) -> Option<Vec<Header>> {
    let f = Fields::of(
        cx,
        node,
        path,
        "headers by name, e.g. { accept: application/json }",
    )?;
    let mut out = Vec::with_capacity(f.entries.len());
    let mut ok = true;
    for (k, knode, v) in &f.entries {
        let p = path.key(k);
        if !is_header_name(k) {
            cx.error(
                knode,
                &p,
                format!("\"{k}\" is not a valid HTTP header name"),
            );
            ok = false;
            continue;
        }
        if crate::redact::is_credential_header(k) {
            // Its text is a secret even when the template is broken and quoted in an error.
            if let Some(src) = scalar_text(v) {
                for part in literal_parts(&src) {
                    cx.secrets.add_credential(part);
                }
            }
        }
        match template_of(cx, v, &p, scope) {
            // A line break would start another header (request smuggling), and HTTP forbids
            // every control character but tab: what no request could carry is refused once,
            // here, not at every request.
            Some(value) if value.literals().any(|l| forbidden_in_header(l).is_some()) => {
                let c = value
                    .literals()
                    .find_map(forbidden_in_header)
                    .expect("just found");
                cx.error(
                    v,
                    &p,
                    format!(
                        "a header value must not contain a line break or another control character (HTTP allows only tab); found {}",
                        crate::text::describe(c)
                    ),
                );
                ok = false;
            }
            Some(value) => out.push(Header {
                name: k.to_string(),
                value,
            }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Everything a request needs from the rest of the plan.
pub(crate) struct Env<'a> {
    pub scope: &'a dyn Scope,
    pub captures: &'a [String],
    pub metrics: &'a [CustomMetric],
}

pub(crate) fn request(
    cx: &mut Cx,
    name: &str,
    node: &Node,
    path: &P,
    env: &Env,
) -> Option<RequestSpec> {
    let f = Fields::of(cx, node, path, "a request such as { get: /health }")?;
    f.only(cx, &REQUEST_KEYS);
    let mut ok = true;

    // Exactly one method key.
    let given: Vec<&str> = METHODS
        .iter()
        .copied()
        .filter(|m| f.get(m).is_some())
        .collect();
    let url = match given.as_slice() {
        [] => {
            cx.error(
                node,
                path,
                "no method; give exactly one of get, post, put, patch, delete, head, options with the URL, e.g. `get: /health`",
            );
            None
        }
        [m] => {
            let unode = f.get(m).expect("present");
            url_of(cx, unode, &path.key(m), env.scope)
        }
        [first, rest @ ..] => {
            for m in rest {
                cx.error(
                    f.key_node(m).expect("present"),
                    &path.key(m),
                    format!("\"{first}\" and \"{m}\" both given; a request has exactly one method"),
                );
            }
            None
        }
    };
    let method = given.first().map(|m| m.to_ascii_uppercase());

    let headers = match f.get("headers") {
        Some(h) => headers(cx, h, &path.key("headers"), env.scope),
        None => Some(Vec::new()),
    };
    let query = match f.get("query") {
        Some(q) => pairs(
            cx,
            q,
            &path.key("query"),
            env.scope,
            "query parameters, e.g. { page: 1 }",
        ),
        None => Some(Vec::new()),
    };

    // At most one body.
    let bodies: Vec<&str> = ["json", "body", "form"]
        .into_iter()
        .filter(|k| f.get(k).is_some())
        .collect();
    if bodies.len() > 1 {
        for k in &bodies[1..] {
            cx.error(
                f.key_node(k).expect("present"),
                &path.key(k),
                format!(
                    "\"{}\" and \"{k}\" both given; a request has at most one body",
                    bodies[0]
                ),
            );
        }
        ok = false;
    }
    let body = match bodies.first().copied() {
        None => Some(None),
        Some("json") => json_body(
            cx,
            f.get("json").expect("present"),
            &path.key("json"),
            env.scope,
        )
        .map(|j| Some(Body::Json(j))),
        Some("body") => {
            let b = f.get("body").expect("present");
            let bp = path.key("body");
            str_of(cx, b, &bp)
                .map(str::to_string)
                .and_then(|s| compile_text(cx, b, &bp, &s, env.scope))
                .map(|t| Some(Body::Text(t)))
        }
        Some(_) => pairs(
            cx,
            f.get("form").expect("present"),
            &path.key("form"),
            env.scope,
            "form fields, e.g. { user: x }",
        )
        .map(|p| Some(Body::Form(p))),
    };

    let expect = match f.get("expect") {
        Some(e) => expect(cx, name, e, &path.key("expect"), env.scope),
        None => Some(Expect::default()),
    };
    let captures = match f.get("capture") {
        Some(c) => captures(cx, c, &path.key("capture"), env.captures),
        None => Some(Vec::new()),
    };
    let metrics = match f.get("metric") {
        Some(m) => metric_refs(cx, m, &path.key("metric"), env.metrics),
        None => Some((Vec::new(), Vec::new())),
    };
    let timeout = match f.get("timeout") {
        Some(t) => positive_duration_of(cx, t, &path.key("timeout")).map(Some),
        None => Some(None),
    };

    if !ok {
        return None;
    }
    let metrics = metrics?;
    Some(RequestSpec {
        name: name.to_string(),
        method: method?,
        url: url?,
        query: query?,
        headers: headers?,
        body: body?,
        expect: expect?,
        captures: captures?,
        metrics: metrics.0,
        gauges: metrics.1,
        timeout: timeout?,
        line: node.mark.line,
    })
}

/// A URL template: a path joined to the environment's base URL, or an absolute http(s) URL.
fn url_of(cx: &mut Cx, node: &Node, path: &P, scope: &dyn Scope) -> Option<Template> {
    let src = name_of(cx, node, path)?;
    let lower = src.to_ascii_lowercase();
    let absolute = lower.starts_with("http://") || lower.starts_with("https://");
    if !(src.starts_with('/') || absolute || src.starts_with("{{")) {
        let hint = if lower.contains("://") {
            " (only http and https are supported)".to_string()
        } else {
            format!("; did you mean \"/{src}\"?")
        };
        cx.error(
            node,
            path,
            format!("URL {src:?} must be a path starting with / or an absolute http(s) URL{hint}"),
        );
        return None;
    }
    let text: String = outside_expressions(src).collect();
    if let Some(c) = crate::text::forbidden_in_url(&text) {
        let why = if c == ' ' {
            "contains white space; encode it as %20".to_string()
        } else {
            format!(
                "contains {}; a URL may not hold control characters or white space",
                crate::text::describe(c)
            )
        };
        cx.error(node, path, format!("URL {src:?} {why}"));
        return None;
    }
    if text.contains('#') {
        cx.error(
            node,
            path,
            format!(
                "URL {src:?} has a fragment (#...), which is never sent; encode a literal # as %23"
            ),
        );
        return None;
    }
    let t = match template::compile_url(src, scope) {
        Ok(t) => t,
        Err(e) => {
            cx.error(node, path, template_message(src, &e.message, e.offset));
            return None;
        }
    };
    // The scheme, host and port, when they are known now (the whole URL once vars are folded
    // in, or the part before the first expression): checked here, not at every request.
    let checked = match t.as_static() {
        Some(s) if is_absolute(s) => Some(s.to_string()),
        Some(_) => None,
        None if absolute => {
            let fixed = &src[..src.find("{{").unwrap_or(src.len())];
            let after_scheme = fixed.split_once("://").map_or("", |(_, rest)| rest);
            after_scheme
                .find(['/', '?'])
                .map(|end| format!("{}/", &fixed[..fixed.len() - after_scheme.len() + end]))
        }
        None => None,
    };
    if let Some(Err(why)) = checked.map(|u| crate::url::check_request_url(&u)) {
        cx.error(node, path, format!("URL {src:?} {why}"));
        return None;
    }
    Some(t)
}

fn is_absolute(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// The text of a template between its `{{ … }}` expressions.
fn literal_parts(src: &str) -> impl Iterator<Item = &str> {
    src.split("{{")
        .enumerate()
        .map(|(i, piece)| match (i, piece.split_once("}}")) {
            (0, _) => piece,
            (_, Some((_, after))) => after,
            (_, None) => "",
        })
        .filter(|p| !p.trim().is_empty())
}

/// The characters of a template outside its `{{ … }}` expressions (where spaces separate a
/// helper's arguments and are fine).
fn outside_expressions(src: &str) -> impl Iterator<Item = char> + '_ {
    let mut depth = false;
    let mut prev = '\0';
    src.chars().filter(move |&c| {
        let keep = !depth && c != '{';
        if !depth && c == '{' && prev == '{' {
            depth = true;
        } else if depth && c == '}' && prev == '}' {
            depth = false;
        }
        prev = c;
        keep
    })
}

fn json_body(cx: &mut Cx, node: &Node, path: &P, scope: &dyn Scope) -> Option<JsonTemplate> {
    // Compile each string where it stands first, so every broken template in the body is
    // reported at its own line with its own path; the whole body is compiled after that.
    if !json_strings(cx, node, path, scope) {
        return None;
    }
    let value = to_json(cx, node, path)?;
    match template::compile_json(&value, scope) {
        Ok(t) => Some(t),
        Err((at, e)) => {
            let p = match at.as_str() {
                "" => path.to_string(),
                a if a.starts_with('[') => format!("{path}{a}"),
                a => format!("{path}.{a}"),
            };
            cx.error_at_path(node, p, e.message);
            None
        }
    }
}

/// Compiles every string of a JSON body in place; `false` when any fails.
fn json_strings(cx: &mut Cx, node: &Node, path: &P, scope: &dyn Scope) -> bool {
    match &node.value {
        Value::Str(s) => compile_text(cx, node, path, s, scope).is_some(),
        Value::Seq(items) => items.iter().enumerate().fold(true, |ok, (i, item)| {
            json_strings(cx, item, &path.index(i), scope) && ok
        }),
        Value::Map(entries) => {
            let mut ok = true;
            for (k, v) in entries {
                let Some(key) = k.as_str() else { continue };
                let kp = path.key(key);
                if key.contains("{{") {
                    cx.error(
                        k,
                        &kp,
                        "keys of a JSON body cannot be templates; only values can",
                    );
                    ok = false;
                }
                ok &= json_strings(cx, v, &kp, scope);
            }
            ok
        }
        _ => true,
    }
}

/// A YAML value as JSON: mappings need string keys, numbers must be finite.
pub(crate) fn to_json(cx: &mut Cx, node: &Node, path: &P) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match &node.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => J::Number(n),
            None => {
                cx.error(node, path, format!("{f} cannot be written in JSON"));
                return None;
            }
        },
        Value::Str(s) => J::String(s.clone()),
        Value::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                match to_json(cx, item, &path.index(i)) {
                    Some(v) => out.push(v),
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            J::Array(out)
        }
        Value::Map(_) => {
            let f = Fields::of(cx, node, path, "a JSON object")?;
            let mut out = serde_json::Map::new();
            let mut ok = true;
            for (k, _, v) in &f.entries {
                match to_json(cx, v, &path.key(k)) {
                    Some(v) => {
                        out.insert(k.to_string(), v);
                    }
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            J::Object(out)
        }
    })
}

/// `access_token` → `$.access_token`; `$...` as written.
pub(crate) fn json_path(cx: &mut Cx, node: &Node, path: &P, src: &str) -> Option<JsonPathSpec> {
    let full = if src.starts_with('$') {
        src.to_string()
    } else {
        format!("$.{src}")
    };
    match serde_json_path::JsonPath::parse(&full) {
        Ok(p) => Some(JsonPathSpec {
            source: full,
            path: Arc::new(p),
        }),
        Err(e) => {
            cx.error(node, path, format!("invalid JSON path {src:?}: {e}"));
            None
        }
    }
}

fn expect(cx: &mut Cx, request: &str, node: &Node, path: &P, scope: &dyn Scope) -> Option<Expect> {
    let f = Fields::of(
        cx,
        node,
        path,
        "expectations, e.g. { status: 200, json: [id] }",
    )?;
    f.only(
        cx,
        &["status", "json", "body_contains", "headers", "max_duration"],
    );
    let mut out = Expect::default();
    let mut ok = true;
    if let Some(s) = f.get("status") {
        ok &= expect_status(cx, request, s, &path.key("status"), &mut out);
    }
    if let Some(j) = f.get("json") {
        let mut json = JsonExpect {
            request,
            scope,
            checks: &mut out.checks,
        };
        ok &= json.expect(cx, j, &path.key("json"))?;
    }
    if let Some(b) = f.get("body_contains") {
        let bp = path.key("body_contains");
        match name_of(cx, b, &bp).and_then(|s| Some((s, compile_text(cx, b, &bp, s, scope)?))) {
            Some((s, t)) => out.checks.push(Check {
                name: format!("{request}: body contains {s:?}"),
                kind: CheckKind::BodyContains(t),
            }),
            None => ok = false,
        }
    }

    if let Some(h) = f.get("headers") {
        ok &= expect_headers(cx, request, h, &path.key("headers"), &mut out.checks);
    }
    if let Some(d) = f.get("max_duration") {
        match positive_duration_of(cx, d, &path.key("max_duration")) {
            Some(limit) => out.checks.push(Check {
                name: format!(
                    "{request}: duration < {}",
                    crate::plan::duration::format_duration(limit)
                ),
                kind: CheckKind::MaxDuration(limit),
            }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Refuses `{{` in a string that is never rendered (a status, a header name, a JSON path, a
/// capture's source): written there, a template would be compared or looked up literally.
pub(crate) fn not_a_template(cx: &mut Cx, node: &Node, path: &P, what: &str) -> bool {
    match &node.value {
        Value::Str(s) if s.contains("{{") => {
            cx.error(
                node,
                path,
                format!(
                    "{what} is not a template: `{{{{` here would be taken literally (templates \
                     are rendered in URLs, headers, query, bodies and expected values)"
                ),
            );
            false
        }
        _ => true,
    }
}

/// `status: 200` or `[200, 201]`: the statuses that count as expected, and their check.
fn expect_status(cx: &mut Cx, request: &str, s: &Node, sp: &P, out: &mut Expect) -> bool {
    let mut ok = true;
    let items: Vec<(&Node, P)> = match &s.value {
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| (n, sp.index(i)))
            .collect(),
        _ => vec![(s, sp.clone())],
    };
    if items.is_empty() {
        cx.error(s, sp, "no status given; write e.g. 200 or [200, 201]");
        ok = false;
    }
    for (n, p) in items {
        if !not_a_template(cx, n, &p, "an expected status") {
            ok = false;
            continue;
        }
        match int_of(cx, n, &p, 100, 599, "(an HTTP status)") {
            Some(code) => {
                let code = code as u16;
                if !out.status.contains(&code) {
                    out.status.push(code);
                }
            }
            None => ok = false,
        }
    }
    if ok {
        let label = match out.status.as_slice() {
            [one] => format!("{request}: status is {one}"),
            many => format!(
                "{request}: status in [{}]",
                many.iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        out.checks.push(Check {
            name: label,
            kind: CheckKind::Status(out.status.clone()),
        });
    }
    ok
}

/// `expect.json` of one request, compiled into its checks.
struct JsonExpect<'a> {
    request: &'a str,
    scope: &'a dyn Scope,
    checks: &'a mut Vec<Check>,
}

impl JsonExpect<'_> {
    /// `json:` paths that must exist, paths with their expected values, and comparisons, in
    /// any mix: a list whose items are a path (`"$.id"`: it exists) or a one-entry mapping
    /// (`{ "$.name": x }`, `{ "$.total": { gt: 0 } }`), or one mapping of paths, or one path.
    /// `None`: the mapping is not one.
    fn expect(&mut self, cx: &mut Cx, j: &Node, jp: &P) -> Option<bool> {
        let mut ok = true;
        match &j.value {
            Value::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    let ip = jp.index(i);
                    ok &= match &item.value {
                        Value::Map(entries) if entries.len() == 1 => self.entries(cx, item, &ip)?,
                        Value::Map(_) => {
                            cx.error(
                                item,
                                &ip,
                                "one path per list item: write { \"$.path\": value }, or put \
                                 the paths in one mapping",
                            );
                            false
                        }
                        _ => self.present(cx, item, &ip),
                    };
                }
            }
            Value::Map(_) => ok &= self.entries(cx, j, jp)?,
            Value::Str(_) => ok &= self.present(cx, j, jp),
            other => {
                cx.error(
                    j,
                    jp,
                    format!(
                        "expected a list of JSON paths that must exist (items may also be \
                         {{ path: value }} or {{ path: {{ gt: 0 }} }}), or a mapping of paths to \
                         expected values, found {}",
                        kind(other)
                    ),
                );
                ok = false;
            }
        }
        Some(ok)
    }

    /// A path that must exist.
    fn present(&mut self, cx: &mut Cx, item: &Node, ip: &P) -> bool {
        let Some(src) = name_of(cx, item, ip) else {
            return false;
        };
        if !not_a_template(cx, item, ip, "a JSON path") {
            return false;
        }
        match json_path(cx, item, ip, src) {
            Some(spec) => {
                self.checks.push(Check {
                    name: format!("{}: has {src}", self.request),
                    kind: CheckKind::JsonPresent(spec),
                });
                true
            }
            None => false,
        }
    }

    /// A mapping of paths to expected values or comparisons.
    fn entries(&mut self, cx: &mut Cx, m: &Node, mp: &P) -> Option<bool> {
        let m = Fields::of(cx, m, mp, "")?;
        let mut ok = true;
        for (k, knode, v) in &m.entries {
            let kp = mp.key(k);
            if k.contains("{{") {
                cx.error(
                    knode,
                    &kp,
                    "a JSON path is not a template: `{{` here would be taken literally (the \
                     expected value may be one)",
                );
                ok = false;
                continue;
            }
            let Some(spec) = json_path(cx, knode, &kp, k) else {
                ok = false;
                continue;
            };
            ok &= self.value(cx, (&spec, k), v, &kp);
        }
        Some(ok)
    }

    /// The checks of one path: equality with `v`, or each comparison of `{ gt: 0, lt: 10 }`.
    fn value(&mut self, cx: &mut Cx, spec: (&JsonPathSpec, &str), v: &Node, kp: &P) -> bool {
        let ops: Vec<(&str, Option<Compare>)> = match &v.value {
            Value::Map(entries) => entries
                .iter()
                .filter_map(|(k, _)| k.as_str())
                .map(|k| (k, Compare::KEYS.iter().find(|(n, _)| *n == k).map(|c| c.1)))
                .collect(),
            _ => Vec::new(),
        };
        let compared = ops.iter().filter(|(_, c)| c.is_some()).count();
        if compared == 0 {
            return self.push(cx, spec, Compare::Eq, v, kp);
        }
        if compared < ops.len() {
            let other = ops.iter().find(|(_, c)| c.is_none()).map_or("", |o| o.0);
            cx.error(
                v,
                kp,
                format!(
                    "{other:?} is not a comparison; a mapping of comparisons takes eq, ne, gt, \
                     gte, lt and lte (to expect an object, write {{ eq: {{ ... }} }})"
                ),
            );
            return false;
        }
        let Some(f) = Fields::of(cx, v, kp, "") else {
            return false;
        };
        let mut ok = true;
        for (op, onode, value) in &f.entries {
            let c = Compare::KEYS.iter().find(|(n, _)| n == op).map(|c| c.1);
            let op_path = kp.key(op);
            let numeric = !matches!(c, Some(Compare::Eq | Compare::Ne));
            if numeric && !is_number_or_template(value) {
                cx.error(
                    onode,
                    &op_path,
                    format!(
                        "{op} compares numbers; expected a number or a template, found {}",
                        kind(&value.value)
                    ),
                );
                ok = false;
                continue;
            }
            ok &= c.is_some_and(|c| self.push(cx, spec, c, value, &op_path));
        }
        ok
    }

    /// One check: the value at `spec` (the path, and the path as written) compared with `v` (a
    /// YAML value whose strings are templates).
    fn push(
        &mut self,
        cx: &mut Cx,
        (spec, written): (&JsonPathSpec, &str),
        c: Compare,
        v: &Node,
        p: &P,
    ) -> bool {
        if !json_strings(cx, v, p, self.scope) {
            return false;
        }
        let Some(value) = to_json(cx, v, p) else {
            return false;
        };
        let expected = match template::compile_json(&value, self.scope) {
            Ok(JsonTemplate::Static(bytes)) => match serde_json::from_slice(&bytes) {
                Ok(v) => Expected::Value(v),
                Err(_) => Expected::Value(value.clone()),
            },
            Ok(t) => Expected::Template(t),
            Err((_, e)) => {
                cx.error(v, p, e.message);
                return false;
            }
        };
        // The check's name shows the value as written: a template as its source.
        let shown = match (&expected, &value) {
            (Expected::Template(_), serde_json::Value::String(s)) => s.clone(),
            (Expected::Value(v), _) => v.to_string(),
            (_, v) => v.to_string(),
        };
        self.checks.push(Check {
            name: format!("{}: {written} {} {shown}", self.request, c.symbol()),
            kind: CheckKind::JsonIs(spec.clone(), c, expected),
        });
        true
    }
}

/// A number, or a string that may render one.
fn is_number_or_template(v: &Node) -> bool {
    match &v.value {
        Value::Int(_) | Value::Float(_) => true,
        Value::Str(s) => s.contains("{{") || s.trim().parse::<f64>().is_ok(),
        _ => false,
    }
}

/// `headers:` names of headers the response must have.
fn expect_headers(cx: &mut Cx, request: &str, h: &Node, hp: &P, checks: &mut Vec<Check>) -> bool {
    let mut ok = true;
    let items: Vec<(&Node, P)> = match &h.value {
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| (n, hp.index(i)))
            .collect(),
        _ => vec![(h, hp.clone())],
    };
    for (n, p) in items {
        if !not_a_template(cx, n, &p, "an expected header name") {
            ok = false;
            continue;
        }
        match name_of(cx, n, &p) {
            Some(name) if is_header_name(name) => checks.push(Check {
                name: format!("{request}: has header {}", name.to_ascii_lowercase()),
                kind: CheckKind::HeaderPresent(name.to_ascii_lowercase()),
            }),
            Some(name) => {
                cx.error(n, &p, format!("\"{name}\" is not a valid HTTP header name"));
                ok = false;
            }
            None => ok = false,
        }
    }
    ok
}

fn captures(cx: &mut Cx, node: &Node, path: &P, slots: &[String]) -> Option<Vec<Capture>> {
    let f = Fields::of(
        cx,
        node,
        path,
        "captures by name, e.g. { token: $.access_token }",
    )?;
    let mut out = Vec::with_capacity(f.entries.len());
    let mut ok = true;
    for (name, _, v) in &f.entries {
        let p = path.key(name);
        // Slots were assigned from the same names; a name that failed its checks has none.
        let Some(slot) = slots.iter().position(|s| s == name) else {
            ok = false;
            continue;
        };
        let source = capture_source(cx, v, &p);
        match source {
            Some(source) => out.push(Capture { slot, source }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Where a capture (or a gauge) reads its value: a JSON path (`$.id`, or `id`), or
/// `{ json: ... }`, `{ header: name }`, `{ cookie: name }`.
fn capture_source(cx: &mut Cx, v: &Node, p: &P) -> Option<CaptureSource> {
    if !not_a_template(cx, v, p, "where a value is read from") {
        return None;
    }
    match &v.value {
        Value::Str(s) => json_path(cx, v, p, s).map(CaptureSource::Json),
        Value::Map(_) => {
            let c = Fields::of(cx, v, p, "")?;
            c.only(cx, &["json", "header", "cookie"]);
            let given: Vec<&(&str, &Node, &Node)> = c
                .entries
                .iter()
                .filter(|(k, _, _)| ["json", "header", "cookie"].contains(k))
                .collect();
            match given.as_slice() {
                [(k, _, src)] => {
                    let sp = p.key(k);
                    if !not_a_template(cx, src, &sp, "where a value is read from") {
                        return None;
                    }
                    name_of(cx, src, &sp).and_then(|s| match *k {
                        "json" => json_path(cx, src, &sp, s).map(CaptureSource::Json),
                        "header" if is_header_name(s) => {
                            Some(CaptureSource::Header(s.to_ascii_lowercase()))
                        }
                        "header" => {
                            cx.error(src, &sp, format!("\"{s}\" is not a valid HTTP header name"));
                            None
                        }
                        _ => Some(CaptureSource::Cookie(s.to_string())),
                    })
                }
                [] => {
                    cx.error(
                        v,
                        p,
                        "say where to capture from: { json: \"$.path\" }, { header: name } or { cookie: name }",
                    );
                    None
                }
                _ => {
                    cx.error(v, p, "capture from one place only: json, header or cookie");
                    None
                }
            }
        }
        other => {
            cx.error(
                v,
                p,
                format!(
                    "expected a JSON path such as $.access_token, or {{ header: name }} / {{ cookie: name }}, found {}",
                    kind(other)
                ),
            );
            None
        }
    }
}

/// `metric:`: a custom metric's name, a gauge with where its value is (`{ queue_depth: $.depth }`),
/// or a list of them.
fn metric_refs(
    cx: &mut Cx,
    node: &Node,
    path: &P,
    metrics: &[CustomMetric],
) -> Option<(Vec<MetricId>, Vec<GaugeFeed>)> {
    let items: Vec<(&Node, P)> = match &node.value {
        Value::Seq(_) => seq_of(cx, node, path)?
            .iter()
            .enumerate()
            .map(|(i, n)| (n, path.index(i)))
            .collect(),
        _ => vec![(node, path.clone())],
    };
    let mut out: Vec<MetricId> = Vec::new();
    let mut gauges: Vec<GaugeFeed> = Vec::new();
    let mut ok = true;
    for (n, p) in items {
        let (name, name_node, source) = match &n.value {
            Value::Map(_) => {
                let Some(f) = Fields::of(cx, n, &p, "") else {
                    ok = false;
                    continue;
                };
                let [(name, knode, v)] = f.entries.as_slice() else {
                    cx.error(
                        n,
                        &p,
                        "one gauge per entry, with where its value is: { queue_depth: $.queue.depth }",
                    );
                    ok = false;
                    continue;
                };
                (*name, *knode, Some((*v, p.key(name))))
            }
            _ => match name_of(cx, n, &p) {
                Some(name) => (name, n, None),
                None => {
                    ok = false;
                    continue;
                }
            },
        };
        let Some(id) = metric_id(cx, name, name_node, &p, metrics) else {
            ok = false;
            continue;
        };
        if out.contains(&id) || gauges.iter().any(|g| g.metric == id) {
            cx.error(name_node, &p, format!("metric \"{name}\" is listed twice"));
            ok = false;
            continue;
        }
        match (metrics[id].kind, source) {
            (MetricType::Gauge, Some((v, vp))) => match capture_source(cx, v, &vp) {
                Some(source) => gauges.push(GaugeFeed { metric: id, source }),
                None => ok = false,
            },
            (MetricType::Gauge, None) => {
                cx.error(
                    name_node,
                    &p,
                    format!(
                        "gauge \"{name}\" needs a value: write {{ {name}: $.path }}, or \
                         {{ {name}: {{ header: name }} }}, reading the response as a capture does"
                    ),
                );
                ok = false;
            }
            (kind, Some(_)) => {
                cx.error(
                    name_node,
                    &p,
                    format!(
                        "only a gauge takes a value; {kind} \"{name}\" records {}: list it by \
                         name",
                        match kind {
                            MetricType::Trend => "the request's duration",
                            MetricType::Counter => "the request's failures",
                            _ => "the request's success",
                        }
                    ),
                );
                ok = false;
            }
            (_, None) => out.push(id),
        }
    }
    ok.then_some((out, gauges))
}

/// A custom metric's index, or an error naming the choices.
fn metric_id(
    cx: &mut Cx,
    name: &str,
    n: &Node,
    p: &P,
    metrics: &[CustomMetric],
) -> Option<MetricId> {
    if let Some(id) = metrics.iter().position(|m| m.name == name) {
        return Some(id);
    }
    if builtin_metric(name).is_some() {
        cx.error(
            n,
            p,
            format!("\"{name}\" is a built-in metric; every request feeds it already"),
        );
        return None;
    }
    let hint = suggest::hint(name, metrics.iter().map(|m| m.name.as_str()));
    let declare = if hint.is_empty() {
        format!("; declare it under `metrics:` (e.g. `{name}: trend`)")
    } else {
        String::new()
    };
    cx.error(n, p, format!("unknown metric \"{name}\"{hint}{declare}"));
    None
}
