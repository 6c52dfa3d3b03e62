//! `init --from-openapi`: an OpenAPI 3.0 or 3.1 description (YAML or JSON, local `$ref`s) → the
//! text of a plan that runs: one request per operation (path and query parameters from examples
//! or from their schemas, JSON bodies from examples or schemas, the documented success status
//! expected, the security schemes as headers fed from secret vars), a smoke scenario calling
//! every GET operation, the Kaizen default thresholds, and the create → read → update → delete
//! chains the paths show, as a comment. What the spec lacks is a `# TODO` where it is missing
//! and a warning, never an invalid plan (`init` validates the text before writing it).

use std::fmt::Write as _;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::plan::yaml::{self, Limits, Node, Value};

/// A JSON or YAML document with its mappings in the order they were written.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Doc {
    Null,
    Bool(bool),
    /// A number as it is written in JSON.
    Num(String),
    Str(String),
    Arr(Vec<Doc>),
    Obj(Vec<(String, Doc)>),
}

/// The most a spec may weigh, and the most nodes its YAML may expand to (aliases included).
pub(super) const MAX_SPEC_BYTES: usize = 16 * 1024 * 1024;
const MAX_SPEC_NODES: usize = 2_000_000;
/// How deep a schema is followed (through `$ref`s, properties, items) to make a value.
const MAX_SCHEMA_DEPTH: usize = 8;

impl Doc {
    /// Parses a spec: JSON when it starts with `{`, else YAML (with the plan loader's bounds
    /// on size, depth and node count, so an alias bomb is refused).
    pub(super) fn parse(bytes: &[u8]) -> Result<Doc, String> {
        if bytes.len() > MAX_SPEC_BYTES {
            return Err(format!(
                "it is {} bytes, more than the {MAX_SPEC_BYTES} a spec may have",
                bytes.len()
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| format!("it is not UTF-8: {e}"))?;
        if text.trim_start().starts_with('{') {
            return serde_json::from_str(text).map_err(|e| format!("it is not valid JSON: {e}"));
        }
        let limits = Limits {
            max_bytes: MAX_SPEC_BYTES,
            max_depth: 64,
            max_nodes: MAX_SPEC_NODES,
        };
        let node = yaml::parse(bytes, &limits).map_err(|e| format!("it is not valid YAML: {e}"))?;
        Ok(Doc::from_node(&node))
    }

    fn from_node(n: &Node) -> Doc {
        match &n.value {
            Value::Null => Doc::Null,
            Value::Bool(b) => Doc::Bool(*b),
            Value::Int(i) => Doc::Num(i.to_string()),
            Value::Float(f) if f.is_finite() => Doc::Num(
                serde_json::Number::from_f64(*f).map_or_else(|| f.to_string(), |n| n.to_string()),
            ),
            Value::Float(_) => Doc::Null,
            Value::Str(s) => Doc::Str(s.clone()),
            Value::Seq(items) => Doc::Arr(items.iter().map(Doc::from_node).collect()),
            Value::Map(entries) => Doc::Obj(
                entries
                    .iter()
                    .map(|(k, v)| (key_text(k), Doc::from_node(v)))
                    .collect(),
            ),
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&Doc> {
        match self {
            Doc::Obj(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(super) fn str(&self) -> Option<&str> {
        match self {
            Doc::Str(s) => Some(s),
            _ => None,
        }
    }

    fn entries(&self) -> &[(String, Doc)] {
        match self {
            Doc::Obj(entries) => entries,
            _ => &[],
        }
    }

    fn items(&self) -> &[Doc] {
        match self {
            Doc::Arr(items) => items,
            _ => &[],
        }
    }

    /// As JSON text, on one line; `{{` in strings escaped (`\{{`), since the plan reads every
    /// string of a body as a template.
    pub(super) fn json(&self, out: &mut String) {
        match self {
            Doc::Null => out.push_str("null"),
            Doc::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Doc::Num(n) => out.push_str(n),
            Doc::Str(s) => out.push_str(&quote(s)),
            Doc::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.json(out);
                }
                out.push(']');
            }
            Doc::Obj(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&serde_json::Value::from(k.as_str()).to_string());
                    out.push_str(": ");
                    v.json(out);
                }
                out.push('}');
            }
        }
    }

    /// As the text of a query value, header or path segment: a string as it is, anything
    /// else as JSON.
    fn text(&self) -> String {
        match self {
            Doc::Str(s) => s.clone(),
            other => {
                let mut out = String::new();
                other.json(&mut out);
                out
            }
        }
    }
}

fn key_text(k: &Node) -> String {
    match &k.value {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => f.to_string(),
        _ => String::new(),
    }
}

/// A YAML (and JSON) double-quoted string of `s`, a template of its own text (`{{` escaped).
pub(super) fn quote(s: &str) -> String {
    serde_json::Value::from(s.replace("{{", "\\{{")).to_string()
}

impl<'de> Deserialize<'de> for Doc {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Doc, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Doc;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Doc, E> {
                Ok(Doc::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Doc, E> {
                Ok(Doc::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Doc, E> {
                Ok(Doc::Num(n.to_string()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Doc, E> {
                Ok(Doc::Num(n.to_string()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Doc, E> {
                Ok(serde_json::Number::from_f64(n).map_or(Doc::Null, |n| Doc::Num(n.to_string())))
            }
            fn visit_str<E>(self, s: &str) -> Result<Doc, E> {
                Ok(Doc::Str(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<Doc, E> {
                Ok(Doc::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Doc, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = a.next_element()? {
                    items.push(v);
                }
                Ok(Doc::Arr(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Doc, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, Doc>()? {
                    entries.push((k, v));
                }
                Ok(Doc::Obj(entries))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// The spec's parts

/// Something the spec does not give that the plan needs: a `# TODO` at the spot, a warning.
#[derive(Debug, Clone)]
struct Todo(String);

/// Resolves a local `$ref` (`#/components/schemas/Book`), following chains of them.
fn resolve<'a>(spec: &'a Doc, mut node: &'a Doc) -> Result<&'a Doc, Todo> {
    for _ in 0..MAX_SCHEMA_DEPTH {
        let Some(r) = node.get("$ref").and_then(Doc::str) else {
            return Ok(node);
        };
        let Some(pointer) = r.strip_prefix("#/") else {
            return Err(Todo(format!(
                "$ref {r:?} is not in this file; only local $refs are followed"
            )));
        };
        let mut at = spec;
        for part in pointer.split('/') {
            let part = part.replace("~1", "/").replace("~0", "~");
            at = at
                .get(&part)
                .ok_or_else(|| Todo(format!("$ref {r:?} points to nothing in the spec")))?;
        }
        node = at;
    }
    Err(Todo("$refs nest too deep".to_string()))
}

/// A value the schema accepts: its example, default, first enum value, or one made from its
/// type (an object of its properties, an array of one item, a string fit for its format, a
/// number within its bounds). `write`: leave out `readOnly` properties (a request body).
fn sample(spec: &Doc, schema: &Doc, write: bool, depth: usize) -> Result<Doc, Todo> {
    if depth > MAX_SCHEMA_DEPTH {
        return Ok(Doc::Null);
    }
    let s = resolve(spec, schema)?;
    for key in ["example", "default", "const"] {
        if let Some(v) = s.get(key) {
            return Ok(v.clone());
        }
    }
    if let Some(v) = s.get("examples").and_then(|e| e.items().first()) {
        return Ok(v.clone());
    }
    if let Some(v) = s.get("enum").and_then(|e| e.items().first()) {
        return Ok(v.clone());
    }
    if let Some(all) = s.get("allOf") {
        // The parts' objects merged; a part that is not an object is the value.
        let mut merged = Vec::new();
        for part in all.items() {
            match sample(spec, part, write, depth + 1)? {
                Doc::Obj(fields) => {
                    for (k, v) in fields {
                        merged.retain(|(m, _): &(String, Doc)| *m != k);
                        merged.push((k, v));
                    }
                }
                other => return Ok(other),
            }
        }
        return Ok(Doc::Obj(merged));
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(first) = s.get(key).and_then(|o| o.items().first()) {
            return sample(spec, first, write, depth + 1);
        }
    }
    let ty = match s.get("type") {
        Some(Doc::Str(t)) => t.as_str(),
        // OpenAPI 3.1: a list of types; the first that is not null.
        Some(Doc::Arr(ts)) => ts
            .iter()
            .filter_map(Doc::str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if s.get("properties").is_some() => "object",
        _ if s.get("items").is_some() => "array",
        _ => "string",
    };
    Ok(match ty {
        "object" => {
            let mut fields = Vec::new();
            for (name, prop) in s.get("properties").map(Doc::entries).unwrap_or_default() {
                let p = resolve(spec, prop)?;
                let read_only = matches!(p.get("readOnly"), Some(Doc::Bool(true)));
                if write && read_only {
                    continue;
                }
                fields.push((name.clone(), sample(spec, prop, write, depth + 1)?));
            }
            Doc::Obj(fields)
        }
        "array" => {
            let n = number(s, "minItems")
                .map_or(1, |n| n.max(1.0) as usize)
                .min(8);
            let n = if number(s, "maxItems") == Some(0.0) {
                0
            } else {
                n
            };
            let item = match s.get("items") {
                Some(i) => sample(spec, i, write, depth + 1)?,
                None => Doc::Str("example".into()),
            };
            Doc::Arr(vec![item; n])
        }
        "integer" | "number" => {
            let mut v = number(s, "minimum").unwrap_or(1.0);
            if matches!(s.get("exclusiveMinimum"), Some(Doc::Bool(true))) {
                v += 1.0;
            } else if let Some(x) = number(s, "exclusiveMinimum") {
                v = v.max(x + 1.0);
            }
            if let Some(max) = number(s, "maximum") {
                v = v.min(max);
            }
            Doc::Num(if ty == "integer" {
                (v.ceil() as i64).to_string()
            } else {
                v.to_string()
            })
        }
        "boolean" => Doc::Bool(true),
        "null" => Doc::Null,
        _ => Doc::Str(string_sample(s)),
    })
}

fn number(s: &Doc, key: &str) -> Option<f64> {
    match s.get(key) {
        Some(Doc::Num(n)) => n.parse().ok(),
        _ => None,
    }
}

/// A string fit for the schema's format and length.
fn string_sample(s: &Doc) -> String {
    let base = match s.get("format").and_then(Doc::str) {
        Some("date-time") => "2024-01-01T00:00:00Z",
        Some("date") => "2024-01-01",
        Some("time") => "12:00:00",
        Some("email") => "loadtest@example.com",
        Some("uuid") => "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        Some("uri" | "url") => "https://example.com/",
        Some("hostname") => "example.com",
        Some("ipv4") => "192.0.2.1",
        Some("ipv6") => "2001:db8::1",
        Some("byte") => "ZXhhbXBsZQ==",
        _ => "example",
    };
    let mut out = base.to_string();
    let min = number(s, "minLength").unwrap_or(0.0) as usize;
    while out.chars().count() < min.min(4096) {
        out.push('x');
    }
    if let Some(max) = number(s, "maxLength") {
        out = out.chars().take(max as usize).collect();
    }
    out
}

/// A parameter's value: its example, its first named example, else one from its schema.
fn param_value(spec: &Doc, p: &Doc) -> Result<Doc, Todo> {
    if let Some(v) = p.get("example") {
        return Ok(v.clone());
    }
    if let Some((_, first)) = p.get("examples").and_then(|e| e.entries().first()) {
        if let Some(v) = resolve(spec, first)?.get("value") {
            return Ok(v.clone());
        }
    }
    match p.get("schema") {
        Some(schema) => sample(spec, schema, true, 0),
        None => Err(Todo("the parameter has no schema and no example".into())),
    }
}

// ---------------------------------------------------------------------------------------------
// The plan

/// The plan's text and what the spec lacked.
pub(super) struct Generated {
    pub text: String,
    /// One line each, `METHOD /path (name): what`, for stderr.
    pub warnings: Vec<String>,
}

const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// One operation of the spec.
struct Op<'a> {
    method: &'static str,
    path: &'a str,
    op: &'a Doc,
    item: &'a Doc,
    name: String,
}

/// A var of the plan: its name, its YAML value, and a comment.
struct Var {
    name: String,
    value: String,
    comment: String,
}

struct Gen<'a> {
    spec: &'a Doc,
    warnings: Vec<String>,
    vars: Vec<Var>,
}

/// Checks that `spec` is an OpenAPI 3 document; the reason when it is not.
pub(super) fn check_version(spec: &Doc) -> Result<(), String> {
    match spec.get("openapi").map(Doc::text) {
        Some(v) if v.starts_with("3.") => Ok(()),
        Some(v) => Err(format!("it is OpenAPI {v}; this reads OpenAPI 3.0 and 3.1")),
        None if spec.get("swagger").is_some() => Err(
            "it is Swagger 2.0; convert it to OpenAPI 3 first (e.g. with swagger2openapi)".into(),
        ),
        None => Err("it is not an OpenAPI document: it has no `openapi: 3.x` key".into()),
    }
}

/// The plan for `spec` (read from `shown`, as the header comment says).
pub(super) fn plan_from_spec(spec: &Doc, shown: &str) -> Result<Generated, String> {
    check_version(spec)?;
    let ops = operations(spec);
    if ops.is_empty() {
        return Err("it describes no operation under `paths`".into());
    }
    let mut g = Gen {
        spec,
        warnings: Vec::new(),
        vars: Vec::new(),
    };
    let mut requests = String::new();
    for op in &ops {
        let text = g.request(op);
        requests.push_str(&text);
    }
    let mut smoke: Vec<&str> = ops
        .iter()
        .filter(|o| o.method == "get")
        .map(|o| o.name.as_str())
        .collect();
    let mut smoke_todo = String::new();
    if smoke.is_empty() {
        smoke_todo = "    # TODO: the spec has no GET operation; this smoke test calls the first \
                      operation, which may change data\n"
            .into();
        g.warnings
            .push("no GET operation: the smoke scenario calls the first operation".into());
        smoke.push(&ops[0].name);
    }
    let mut out = g.header(shown);
    out.push_str(&g.vars_block());
    out.push_str("defaults:\n  headers: { accept: application/json }\n  timeout: 10s\n\n");
    out.push_str("requests:\n");
    out.push_str(&requests);
    out.push_str(&crud_comment(&ops));
    out.push_str(
        "\n# The Kaizen defaults: 95% of requests under 500 ms, under 1% failed, 99% of checks pass.\n\
         thresholds:\n  http_req_duration: [\"p(95)<500\"]\n  http_req_failed: [\"rate<0.01\"]\n  \
         checks: [\"rate>0.99\"]\n\n",
    );
    let _ = write!(
        out,
        "scenarios:\n  # Every GET operation once per iteration: is the API up and answering?\n  smoke:\n    \
         executor: constant-vus\n    vus: 1\n    duration: 30s\n{smoke_todo}    flow: [{}]\n    think: 1s\n",
        smoke.join(", ")
    );
    Ok(Generated {
        text: out,
        warnings: g.warnings,
    })
}

/// Every operation, in the spec's order, each with a unique request name: its `operationId`
/// in snake_case, else its method and path (`get_books_book_id`).
fn operations(spec: &Doc) -> Vec<Op<'_>> {
    let mut ops: Vec<Op> = Vec::new();
    for (path, item) in spec.get("paths").map(Doc::entries).unwrap_or_default() {
        for (method, op) in item.entries() {
            let Some(&m) = METHODS.iter().find(|m| **m == method.as_str()) else {
                continue;
            };
            let base = match op.get("operationId").and_then(Doc::str) {
                Some(id) => identifier(id),
                None => identifier(&format!("{m} {path}")),
            };
            let mut name = base.clone();
            let mut n = 2;
            while ops.iter().any(|o| o.name == name) {
                name = format!("{base}_{n}");
                n += 1;
            }
            ops.push(Op {
                method: m,
                path,
                op,
                item,
                name,
            });
        }
    }
    ops
}

/// `getBookById`, `GET /books/{id}` → `get_book_by_id`, `get_books_id`: a valid plan name.
fn identifier(s: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        } else {
            if !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    let out = out.trim_matches('_').to_string();
    match out.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => out,
        Some(_) => format!("op_{out}"),
        None => "op".into(),
    }
}

impl Gen<'_> {
    fn warn(&mut self, op: &Op, what: &str) {
        self.warnings.push(format!(
            "{} {} ({}): {what}",
            op.method.to_ascii_uppercase(),
            op.path,
            op.name
        ));
    }

    /// The plan's header, its name and its environments: a Prism mock of the spec on
    /// loopback, and the spec's first server.
    fn header(&self, shown: &str) -> String {
        let info = self.spec.get("info");
        let title = info
            .and_then(|i| i.get("title"))
            .and_then(Doc::str)
            .map(|t| t.chars().filter(|c| !c.is_control()).collect::<String>())
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| "api".into());
        let version = info
            .and_then(|i| i.get("version"))
            .map(Doc::text)
            .unwrap_or_default();
        let shown_line: String = shown.chars().filter(|c| !c.is_control()).collect();
        let mut out = format!(
            "# Generated by `kaizen-loadtest init --from-openapi` from {shown_line}\n\
             # ({title} {version}). Look for TODO; docs/plan.md documents every key, and\n\
             # docs/getting-started.md the next steps.\nversion: 1\nname: {}\ndefault_environment: local\n\n\
             environments:\n  local:\n    # A mock of the spec: npx @stoplight/prism-cli mock <spec> (port 4010)\n    \
             base_url: http://127.0.0.1:4010\n",
            quote(&title)
        );
        let server = self
            .spec
            .get("servers")
            .and_then(|s| s.items().first())
            .and_then(|s| Some((s.get("url")?.str()?, s)));
        if let Some((url, server)) = server {
            // `{var}` in a server URL: its default.
            let mut url = url.to_string();
            for (name, v) in server
                .get("variables")
                .map(Doc::entries)
                .unwrap_or_default()
            {
                if let Some(d) = v.get("default") {
                    url = url.replace(&format!("{{{name}}}"), &d.text());
                }
            }
            if crate::url::check_base_url(&url).is_ok() {
                let _ = write!(
                    out,
                    "  api:\n    base_url: {}   # servers[0]\n",
                    quote(&url)
                );
            } else {
                let _ = writeln!(
                    out,
                    "  # TODO: servers[0] is {:?}, not an absolute http(s) URL; add the API's \
                     environments here",
                    url.chars().filter(|c| !c.is_control()).collect::<String>()
                );
            }
        }
        out.push('\n');
        out
    }

    fn vars_block(&self) -> String {
        if self.vars.is_empty() {
            return String::new();
        }
        let mut out = String::from("vars:\n");
        for v in &self.vars {
            let _ = writeln!(out, "  {}: {}   # {}", v.name, v.value, v.comment);
        }
        out.push('\n');
        out
    }

    /// A var holding `value` for `what`, named `name` (or `name_2`, ... when another value has
    /// the name): `{{vars.NAME}}`.
    fn var(&mut self, name: &str, value: String, comment: String) -> String {
        let base = identifier(name).to_ascii_lowercase();
        let mut n = 1;
        loop {
            let candidate = if n == 1 {
                base.clone()
            } else {
                format!("{base}_{n}")
            };
            match self.vars.iter().find(|v| v.name == candidate) {
                Some(v) if v.value == value => return candidate,
                Some(_) => n += 1,
                None => {
                    self.vars.push(Var {
                        name: candidate.clone(),
                        value,
                        comment,
                    });
                    return candidate;
                }
            }
        }
    }
}

/// Where a request carries a credential.
enum Credential {
    Header(String, String),
    Query(String, String),
}

impl<'a> Gen<'a> {
    /// One request, as YAML lines under `requests:`.
    fn request(&mut self, op: &Op<'a>) -> String {
        let mut out = String::new();
        let mut todos: Vec<String> = Vec::new();
        if let Some(summary) = op.op.get("summary").and_then(Doc::str) {
            let line: String = summary
                .chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect();
            let _ = writeln!(out, "  # {line}");
        }
        let _ = writeln!(out, "  {}:", op.name);
        let params = self.parameters(op, &mut todos);
        let url = self.url(op, &params, &mut todos);
        let _ = writeln!(out, "    {}: {}", op.method, quote_template(&url));
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut query: Vec<(String, String)> = Vec::new();
        for c in self.credentials(op, &mut todos) {
            match c {
                Credential::Header(n, v) => headers.push((n, v)),
                Credential::Query(n, v) => query.push((n, v)),
            }
        }
        for (p, value) in &params {
            let name = p
                .get("name")
                .and_then(Doc::str)
                .unwrap_or_default()
                .to_string();
            let text = value.text().replace("{{", "\\{{");
            match p.get("in").and_then(Doc::str) {
                Some("query") => query.push((name, quote(&value.text()))),
                Some("header") if !is_managed_header(&name) => {
                    headers.push((name, serde_json::Value::from(text).to_string()))
                }
                Some("cookie") => todos.push(format!(
                    "the cookie parameter {name:?} is required; a plan sends cookies a response set"
                )),
                _ => {}
            }
        }
        let mut body = String::new();
        if let Some(content_type) = self.body(op, &mut body, &mut todos) {
            headers.push(("content-type".into(), quote(&content_type)));
        }
        write_pairs(&mut out, "headers", &headers);
        write_pairs(&mut out, "query", &query);
        out.push_str(&body);
        if let Some(status) = success_status(op.op) {
            let _ = writeln!(out, "    expect: {{ status: {status} }}");
        }
        let text = todos
            .iter()
            .map(|t| format!("    # TODO: {t}\n"))
            .collect::<String>();
        for t in &todos {
            self.warn(op, t);
        }
        // The TODOs right under the request's name, where they are read.
        let at = out.find(":\n").map_or(out.len(), |i| i + 2);
        out.insert_str(at, &text);
        out.push('\n');
        out
    }

    /// The operation's parameters (the path item's, replaced by the operation's of the same
    /// name and place) that it needs: every path parameter and the required others, each with
    /// its value.
    fn parameters(&mut self, op: &Op<'a>, todos: &mut Vec<String>) -> Vec<(&'a Doc, Doc)> {
        let spec = self.spec;
        let mut all: Vec<&Doc> = Vec::new();
        let listed = op
            .item
            .get("parameters")
            .into_iter()
            .chain(op.op.get("parameters"));
        for p in listed.flat_map(Doc::items) {
            let p = match resolve(spec, p) {
                Ok(p) => p,
                Err(Todo(t)) => {
                    todos.push(format!("a parameter: {t}"));
                    continue;
                }
            };
            let key = |d: &Doc| (d.get("name").map(Doc::text), d.get("in").map(Doc::text));
            all.retain(|q| key(q) != key(p));
            all.push(p);
        }
        let mut out = Vec::new();
        for p in all {
            let place = p.get("in").and_then(Doc::str).unwrap_or_default();
            let required = matches!(p.get("required"), Some(Doc::Bool(true)));
            if place != "path" && !required {
                continue;
            }
            match param_value(spec, p) {
                Ok(v) => out.push((p, v)),
                Err(Todo(t)) => {
                    let name = p.get("name").map(Doc::text).unwrap_or_default();
                    todos.push(format!("parameter {name:?}: {t}; give it a value"));
                    out.push((p, Doc::Str("1".into())));
                }
            }
        }
        out
    }

    /// The path with each `{param}` read from a var holding its value (`{{vars.book_id}}`).
    fn url(&mut self, op: &Op, params: &[(&Doc, Doc)], todos: &mut Vec<String>) -> String {
        let mut url = String::new();
        let mut rest = op.path;
        while let Some(open) = rest.find('{') {
            url.push_str(&rest[..open].replace("{{", ""));
            let Some(close) = rest[open..].find('}') else {
                break;
            };
            let name = &rest[open + 1..open + close];
            let value = params.iter().find(|(p, _)| {
                p.get("in").and_then(Doc::str) == Some("path")
                    && p.get("name").and_then(Doc::str) == Some(name)
            });
            let value = match value {
                Some((_, v)) => v.text(),
                None => {
                    todos.push(format!(
                        "path parameter {name:?} is not described; give it a value"
                    ));
                    "1".into()
                }
            };
            let comment = format!(
                "path parameter {name} ({} {})",
                op.method.to_ascii_uppercase(),
                op.path
            );
            let var = self.var(name, quote(&value), comment);
            let _ = write!(url, "{{{{vars.{var}}}}}");
            rest = &rest[open + close + 1..];
        }
        url.push_str(rest);
        url
    }

    /// The credentials the operation's security asks for (its own, else the spec's; the first
    /// alternative), each read from a secret var that reads an environment variable.
    fn credentials(&mut self, op: &Op, todos: &mut Vec<String>) -> Vec<Credential> {
        let security = op.op.get("security").or_else(|| self.spec.get("security"));
        let Some(first) = security.and_then(|s| s.items().first()) else {
            return Vec::new();
        };
        let schemes = self
            .spec
            .get("components")
            .and_then(|c| c.get("securitySchemes"));
        let mut out = Vec::new();
        for (name, _) in first.entries() {
            let scheme = match schemes
                .and_then(|s| s.get(name))
                .map(|s| resolve(self.spec, s))
            {
                Some(Ok(s)) => s,
                _ => {
                    todos.push(format!(
                        "security scheme {name:?} is not described; add its header"
                    ));
                    continue;
                }
            };
            let var = identifier(name).to_ascii_lowercase();
            let mut env = var.to_ascii_uppercase();
            if !crate::plan::is_secret_env_name(&env) {
                env.push_str("_TOKEN");
            }
            let value = format!("{{ value: \"${{{env}}}\", secret: true }}");
            let ty = scheme.get("type").and_then(Doc::str).unwrap_or_default();
            let comment = format!("security scheme {name} ({ty}): set {env}; never printed");
            let var = self.var(&var, value, comment);
            let at = scheme.get("in").and_then(Doc::str);
            let key = scheme
                .get("name")
                .and_then(Doc::str)
                .unwrap_or("api_key")
                .to_string();
            let http = scheme.get("scheme").and_then(Doc::str).unwrap_or("bearer");
            out.push(match (ty, at) {
                ("apiKey", Some("query")) => {
                    Credential::Query(key, format!("\"{{{{vars.{var}}}}}\""))
                }
                ("apiKey", Some("cookie")) => {
                    Credential::Header("cookie".into(), format!("\"{key}={{{{vars.{var}}}}}\""))
                }
                ("apiKey", _) => Credential::Header(key, format!("\"{{{{vars.{var}}}}}\"")),
                ("http", _) if http.eq_ignore_ascii_case("basic") => Credential::Header(
                    "authorization".into(),
                    format!("\"Basic {{{{vars.{var}}}}}\""),
                ),
                _ => Credential::Header(
                    "authorization".into(),
                    format!("\"Bearer {{{{vars.{var}}}}}\""),
                ),
            });
        }
        out
    }

    /// The request body: JSON (its example, else one made from its schema), a form, text; a
    /// TODO for any other media type. The content type to send when the plan would not.
    fn body(&mut self, op: &Op, out: &mut String, todos: &mut Vec<String>) -> Option<String> {
        let body = op.op.get("requestBody")?;
        let body = match resolve(self.spec, body) {
            Ok(b) => b,
            Err(Todo(t)) => {
                todos.push(format!("the request body: {t}"));
                return None;
            }
        };
        let content = body.get("content").map(Doc::entries).unwrap_or_default();
        let json = content.iter().find(|(t, _)| {
            let t = t.to_ascii_lowercase();
            t == "application/json" || t.ends_with("+json") || t.contains("/json")
        });
        let form = content
            .iter()
            .find(|(t, _)| t.eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        let text = content
            .iter()
            .find(|(t, _)| t.to_ascii_lowercase().starts_with("text/"));
        let (kind, media) = match (json, form, text) {
            (Some(m), _, _) => ("json", m),
            (None, Some(m), _) => ("form", m),
            (None, None, Some(m)) => ("body", m),
            _ => {
                let types: Vec<&str> = content.iter().map(|(t, _)| t.as_str()).collect();
                todos.push(format!(
                    "the body is {}, which a plan cannot send (it sends json, form and text \
                     bodies); write it by hand",
                    types.join(" or ")
                ));
                return None;
            }
        };
        let value = match self.media_example(&media.1) {
            Ok(v) => v,
            Err(Todo(t)) => {
                todos.push(format!("the body: {t}; fill it in"));
                Doc::Obj(Vec::new())
            }
        };
        match (kind, &value) {
            ("json", v) => {
                let mut text = String::new();
                v.json(&mut text);
                let _ = writeln!(out, "    json: {text}");
            }
            ("form", Doc::Obj(fields)) => {
                let pairs: Vec<(String, String)> = fields
                    .iter()
                    .map(|(k, v)| (k.clone(), quote(&v.text())))
                    .collect();
                write_pairs(out, "form", &pairs);
            }
            (_, v) => {
                let _ = writeln!(out, "    body: {}", quote(&v.text()));
                return Some(media.0.clone());
            }
        }
        None
    }

    /// A media type's example: `example`, the first of `examples`, else one from its schema.
    fn media_example(&self, media: &Doc) -> Result<Doc, Todo> {
        if let Some(v) = media.get("example") {
            return Ok(v.clone());
        }
        if let Some((_, first)) = media.get("examples").and_then(|e| e.entries().first()) {
            if let Some(v) = resolve(self.spec, first)?.get("value") {
                return Ok(v.clone());
            }
        }
        match media.get("schema") {
            Some(schema) => sample(self.spec, schema, true, 0),
            None => Err(Todo("it has no example and no schema".into())),
        }
    }
}

/// Headers the plan or the client sets itself.
fn is_managed_header(name: &str) -> bool {
    [
        "accept",
        "content-type",
        "authorization",
        "content-length",
        "host",
    ]
    .iter()
    .any(|h| h.eq_ignore_ascii_case(name))
}

/// A URL template as a YAML string: its own `{{vars.x}}` kept, anything else as written.
fn quote_template(url: &str) -> String {
    serde_json::Value::from(url).to_string()
}

fn write_pairs(out: &mut String, key: &str, pairs: &[(String, String)]) {
    if pairs.is_empty() {
        return;
    }
    let items: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}: {v}", serde_json::Value::from(k.as_str())))
        .collect();
    let _ = writeln!(out, "    {key}: {{ {} }}", items.join(", "));
}

/// The documented success status: the lowest 2xx code; none for only `2XX` or `default`.
fn success_status(op: &Doc) -> Option<u16> {
    op.get("responses")
        .map(Doc::entries)
        .unwrap_or_default()
        .iter()
        .filter_map(|(code, _)| code.parse::<u16>().ok())
        .filter(|c| (200..300).contains(c))
        .min()
}

/// The create → read → update → delete chains the paths show (`POST /x`, and `/x/{id}`), as a
/// commented flow: the created id captured and read by the others.
fn crud_comment(ops: &[Op]) -> String {
    let mut out = String::new();
    for create in ops.iter().filter(|o| o.method == "post") {
        let prefix = format!("{}/{{", create.path.trim_end_matches('/'));
        let on_item: Vec<&Op> = ops
            .iter()
            .filter(|o| o.path.starts_with(&prefix) && !o.path[prefix.len()..].contains('/'))
            .collect();
        let pick = |m: &[&str]| {
            on_item
                .iter()
                .find(|o| m.contains(&o.method))
                .map(|o| o.name.clone())
        };
        let chain: Vec<String> = [
            Some(create.name.clone()),
            pick(&["get"]),
            pick(&["put", "patch"]),
            pick(&["delete"]),
        ]
        .into_iter()
        .flatten()
        .collect();
        if chain.len() < 2 {
            continue;
        }
        let param = on_item
            .first()
            .map(|o| o.path[prefix.len()..].trim_end_matches('}').to_string())
            .unwrap_or_default();
        let id = identifier(&param).to_ascii_lowercase();
        if out.is_empty() {
            out.push_str(
                "# CRUD flows the paths show: each create → read → update → delete, the created id\n\
                 # captured (adjust $.id to where the response puts it). To use one, uncomment it, add\n\
                 # to its create request `capture: { ID: $.id }`, in the others replace {{vars.ID}}\n\
                 # with {{ID}}, and give it a scenario.\n#\n# flows:\n",
            );
        }
        let _ = writeln!(
            out,
            "#   crud_{}: [{}]   # capture {{ {id}: $.id }}, then {{{{{id}}}}}",
            create.name,
            chain.join(", ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(yaml: &str) -> Doc {
        Doc::parse(yaml.as_bytes()).unwrap()
    }

    fn json(d: &Doc) -> String {
        let mut s = String::new();
        d.json(&mut s);
        s
    }

    #[test]
    fn documents_keep_their_order_in_json_and_yaml() {
        let y = doc("b: 1\na: [x, 2.5, true, null]\n");
        assert_eq!(json(&y), r#"{"b": 1, "a": ["x", 2.5, true, null]}"#);
        let j = doc(r#"{"b": 1, "a": {"z": "{{x}}", "y": 1e3}}"#);
        assert_eq!(json(&j), r#"{"b": 1, "a": {"z": "\\{{x}}", "y": 1000.0}}"#);
        assert!(Doc::parse(b"a: [").is_err());
        assert!(Doc::parse(b"{\"a\": ").is_err());
    }

    #[test]
    fn schemas_give_values_they_accept() {
        let spec = doc(r##"
components:
  schemas:
    Id: { type: integer, minimum: 3, maximum: 9 }
    Pet:
      type: object
      properties:
        id: { allOf: [{ $ref: "#/components/schemas/Id" }], readOnly: true }
        name: { type: string, minLength: 10 }
        kind: { type: string, enum: [cat, dog] }
        born: { type: string, format: date }
        tags: { type: array, items: { type: string, format: uuid }, minItems: 2 }
        owner: { oneOf: [{ type: [string, "null"], maxLength: 3 }, { type: integer }] }
        ok: { type: boolean }
        ratio: { type: number, exclusiveMinimum: 0.5 }
"##);
        let pet = Doc::Obj(vec![(
            "$ref".into(),
            Doc::Str("#/components/schemas/Pet".into()),
        )]);
        assert_eq!(
            json(&sample(&spec, &pet, true, 0).unwrap()),
            r#"{"name": "examplexxx", "kind": "cat", "born": "2024-01-01", "tags": ["3fa85f64-5717-4562-b3fc-2c963f66afa6", "3fa85f64-5717-4562-b3fc-2c963f66afa6"], "owner": "exa", "ok": true, "ratio": "1.5"}"#
                .replace("\"1.5\"", "1.5")
        );
        let read = json(&sample(&spec, &pet, false, 0).unwrap());
        assert!(read.starts_with(r#"{"id": 3, "name""#), "{read}");
        let broken = Doc::Obj(vec![(
            "$ref".into(),
            Doc::Str("#/components/schemas/Nope".into()),
        )]);
        assert!(sample(&spec, &broken, true, 0)
            .unwrap_err()
            .0
            .contains("points to nothing"));
        let remote = Doc::Obj(vec![("$ref".into(), Doc::Str("other.yaml#/X".into()))]);
        assert!(sample(&spec, &remote, true, 0)
            .unwrap_err()
            .0
            .contains("only local $refs"));
    }
}
