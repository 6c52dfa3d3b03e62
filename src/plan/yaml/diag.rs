//! The toolkit plan validation is written with: YAML paths, collected diagnostics, a reader for
//! mappings that reports missing and unknown keys, and typed accessors.
//!
//! Validation never stops at the first problem. Every accessor reports into [`Diagnostics`] and
//! returns `None`, so a validator reads on and the user gets every error in one run, sorted by
//! position and rendered like rustc's: `error: loadtest.yaml:12:7: scenarios.smoke.vus: ...`.

use std::fmt;

use super::node::{Mark, Node, Value, YamlError};
use crate::text::escape_line;

/// A YAML path like `scenarios.smoke.stages[1].target`, built while walking the tree.
///
/// Keys that are not plain identifiers are quoted: `thresholds["http_req_duration{name:login}"]`.
/// The root is the empty path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct YamlPath(String);

impl YamlPath {
    pub fn root() -> Self {
        YamlPath::default()
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This path extended by mapping key `k`.
    pub fn key(&self, k: &str) -> YamlPath {
        let simple = !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let mut p = String::with_capacity(self.0.len() + k.len() + 5);
        p.push_str(&self.0);
        if simple {
            if !p.is_empty() {
                p.push('.');
            }
            p.push_str(k);
        } else {
            p.push_str(&format!("[{k:?}]"));
        }
        YamlPath(p)
    }

    /// This path extended by list index `i`.
    pub fn index(&self, i: usize) -> YamlPath {
        YamlPath(format!("{}[{i}]", self.0))
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One problem in a plan. Ordered by position, so sorted diagnostics read top to bottom.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    pub line: usize,
    pub col: usize,
    /// YAML path of the offending node; empty for the whole plan.
    pub path: String,
    pub message: String,
}

/// One line, whatever the plan put in the path or the message: control characters (a line
/// break, an escape sequence) are written as escapes, so no plan can print a line of its own.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.line, self.col)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", escape_line(&self.path))?;
        }
        f.write_str(&escape_line(&self.message))
    }
}

/// A YAML error as a diagnostic (its message already names the path where it knows one).
impl From<YamlError> for Diagnostic {
    fn from(e: YamlError) -> Self {
        Diagnostic {
            line: e.line,
            col: e.col,
            path: String::new(),
            message: e.message,
        }
    }
}

/// Collects every problem in a plan instead of stopping at the first.
#[derive(Debug, Default)]
pub struct Diagnostics {
    list: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Diagnostics::default()
    }

    /// Records an error at a node (or a [`Mark`]) with its path.
    pub fn error(&mut self, at: impl Into<Mark>, path: &YamlPath, message: impl Into<String>) {
        let mark = at.into();
        self.list.push(Diagnostic {
            line: mark.line,
            col: mark.col,
            path: path.to_string(),
            message: message.into(),
        });
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.list.iter()
    }

    /// The diagnostics in source order, without repeats.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.list.sort();
        self.list.dedup();
        self.list
    }
}

impl Extend<Diagnostic> for Diagnostics {
    fn extend<T: IntoIterator<Item = Diagnostic>>(&mut self, iter: T) {
        self.list.extend(iter);
    }
}

/// Renders diagnostics for people, like rustc and cargo do:
///
/// ```text
/// error: loadtest.yaml:12:7: scenarios.smoke.vus: expected a whole number, found a string
/// error: loadtest.yaml:20:5: scenarios.smoke.vsu: unknown key "vsu"; did you mean "vus"?
/// 2 errors in loadtest.yaml
/// ```
///
/// Every line ends with a newline; no diagnostics render as the empty string.
pub fn render_diagnostics(file: &str, diags: &[Diagnostic]) -> String {
    if diags.is_empty() {
        return String::new();
    }
    let file = escape_line(file);
    let mut out = String::new();
    for d in diags {
        out.push_str(&format!("error: {file}:{d}\n"));
    }
    let n = diags.len();
    let noun = if n == 1 { "error" } else { "errors" };
    out.push_str(&format!("{n} {noun} in {file}\n"));
    out
}

/// The candidate closest to `word`, if one is close enough to be a likely typo: a
/// Damerau-Levenshtein distance of at most a third of the word's length (at least 1), or the same
/// word in another case. Ties go to the earlier candidate.
pub fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(1);
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c == word {
            continue;
        }
        let d = if c.to_lowercase() == lower {
            0
        } else {
            strsim::damerau_levenshtein(word, c)
        };
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Reads a mapping: fetch keys with [`req`](Self::req) and [`opt`](Self::opt), then
/// [`finish`](Self::finish) reports every key that was not read and is not known.
///
/// The reader borrows the [`Diagnostics`] it reports into; reach them for nested validation with
/// [`diags`](Self::diags).
///
/// ```
/// # use kaizen_loadtest::plan::yaml::*;
/// let node = parse(b"vsu: 5\nduration: 30s\n", &Limits::default()).unwrap();
/// let mut diags = Diagnostics::default();
/// let path = YamlPath::root().key("scenarios").key("smoke");
/// let mut m = MapReader::new(&node, &path, &mut diags).unwrap();
/// let vus = m.opt_as("vus", expect_u64);
/// let duration = m.req_as("duration", expect_str);
/// m.finish(&["vus", "duration", "executor"]);
/// assert_eq!((vus, duration), (None, Some("30s")));
/// let d = &diags.into_sorted()[0];
/// assert_eq!(d.path, "scenarios.smoke.vsu");
/// assert_eq!(d.message, r#"unknown key "vsu"; did you mean "vus"?"#);
/// ```
pub struct MapReader<'a> {
    entries: &'a [(Node, Node)],
    mark: Mark,
    path: YamlPath,
    read: Vec<bool>,
    asked: Vec<String>,
    diags: &'a mut Diagnostics,
}

impl<'a> MapReader<'a> {
    /// A reader over `node`, or `None` (and an error) if it is not a mapping.
    pub fn new(node: &'a Node, path: &YamlPath, diags: &'a mut Diagnostics) -> Option<Self> {
        let entries = expect_map(node, path, diags)?;
        Some(MapReader {
            entries,
            mark: node.mark,
            path: path.clone(),
            read: vec![false; entries.len()],
            asked: Vec::new(),
            diags,
        })
    }

    /// The path of the mapping.
    pub fn path(&self) -> &YamlPath {
        &self.path
    }

    /// The path of the value under `key`.
    pub fn path_of(&self, key: &str) -> YamlPath {
        self.path.key(key)
    }

    /// Where the mapping starts.
    pub fn mark(&self) -> Mark {
        self.mark
    }

    /// The diagnostics this reader reports into.
    pub fn diags(&mut self) -> &mut Diagnostics {
        self.diags
    }

    /// The value under `key`, or `None` if there is none.
    pub fn opt(&mut self, key: &str) -> Option<&'a Node> {
        self.find(key).map(|(_, v)| v)
    }

    /// The key node and value under `key` (the key carries the key's position).
    pub fn opt_entry(&mut self, key: &str) -> Option<(&'a Node, &'a Node)> {
        self.find(key)
    }

    /// The value under `key`, or `None` and a `missing key` error at the mapping.
    pub fn req(&mut self, key: &str) -> Option<&'a Node> {
        let found = self.opt(key);
        if found.is_none() {
            let message = format!("missing key {key:?}");
            self.diags.error(self.mark, &self.path, message);
        }
        found
    }

    /// [`opt`](Self::opt), then `check` (one of the `expect_*` functions, or your own) on the value.
    pub fn opt_as<T>(
        &mut self,
        key: &str,
        check: impl FnOnce(&'a Node, &YamlPath, &mut Diagnostics) -> Option<T>,
    ) -> Option<T> {
        let node = self.opt(key)?;
        check(node, &self.path.key(key), self.diags)
    }

    /// [`req`](Self::req), then `check` on the value.
    pub fn req_as<T>(
        &mut self,
        key: &str,
        check: impl FnOnce(&'a Node, &YamlPath, &mut Diagnostics) -> Option<T>,
    ) -> Option<T> {
        let node = self.req(key)?;
        check(node, &self.path.key(key), self.diags)
    }

    /// Every entry, all marked read: for mappings whose keys are names the user chooses
    /// (`scenarios`, `requests`).
    pub fn entries(&mut self) -> &'a [(Node, Node)] {
        self.read.iter_mut().for_each(|r| *r = true);
        self.entries
    }

    /// Reports every key that was neither read nor listed in `known`, at the key, with a
    /// suggestion from `known` and the keys asked for.
    pub fn finish(self, known: &[&str]) {
        for ((k, _), read) in self.entries.iter().zip(&self.read) {
            if *read {
                continue;
            }
            let Some(name) = k.scalar_text() else {
                continue;
            };
            if matches!(k.value, Value::Str(_)) && known.contains(&name.as_str()) {
                continue;
            }
            let candidates = known
                .iter()
                .copied()
                .chain(self.asked.iter().map(String::as_str));
            let mut message = match k.value {
                Value::Str(_) => format!("unknown key {name:?}"),
                _ => format!("unknown key {name}"),
            };
            if let Some(s) = did_you_mean(&name, candidates) {
                message.push_str(&format!("; did you mean {s:?}?"));
            }
            self.diags.error(k.mark, &self.path.key(&name), message);
        }
    }

    fn find(&mut self, key: &str) -> Option<(&'a Node, &'a Node)> {
        if !self.asked.iter().any(|a| a == key) {
            self.asked.push(key.to_owned());
        }
        let i = self
            .entries
            .iter()
            .position(|(k, _)| k.as_str() == Some(key))?;
        self.read[i] = true;
        let (k, v) = &self.entries[i];
        Some((k, v))
    }
}

fn mismatch(n: &Node, path: &YamlPath, d: &mut Diagnostics, expected: &str) {
    d.error(
        n,
        path,
        format!("expected {expected}, found {}", n.type_name()),
    );
}

/// A string, or an error.
pub fn expect_str<'a>(n: &'a Node, path: &YamlPath, d: &mut Diagnostics) -> Option<&'a str> {
    let s = n.as_str();
    if s.is_none() {
        mismatch(n, path, d, "a string");
    }
    s
}

/// A whole, non-negative number, or an error.
pub fn expect_u64(n: &Node, path: &YamlPath, d: &mut Diagnostics) -> Option<u64> {
    match n.value {
        Value::Int(i) if i >= 0 => Some(i as u64),
        Value::Int(i) => {
            d.error(
                n,
                path,
                format!("expected a whole number of 0 or more, found {i}"),
            );
            None
        }
        _ => {
            mismatch(n, path, d, "a whole number");
            None
        }
    }
}

/// A whole number, or an error.
pub fn expect_i64(n: &Node, path: &YamlPath, d: &mut Diagnostics) -> Option<i64> {
    let i = n.as_i64();
    if i.is_none() {
        mismatch(n, path, d, "a whole number");
    }
    i
}

/// A number (whole or not), or an error. `.nan` is refused; `.inf` is allowed.
pub fn expect_f64(n: &Node, path: &YamlPath, d: &mut Diagnostics) -> Option<f64> {
    match n.as_f64() {
        Some(f) if f.is_nan() => {
            d.error(n, path, "expected a number, found .nan");
            None
        }
        Some(f) => Some(f),
        None => {
            mismatch(n, path, d, "a number");
            None
        }
    }
}

/// `true` or `false`, or an error.
pub fn expect_bool(n: &Node, path: &YamlPath, d: &mut Diagnostics) -> Option<bool> {
    let b = n.as_bool();
    if b.is_none() {
        mismatch(n, path, d, "true or false");
    }
    b
}

/// A list, or an error.
pub fn expect_seq<'a>(n: &'a Node, path: &YamlPath, d: &mut Diagnostics) -> Option<&'a [Node]> {
    let s = n.as_seq();
    if s.is_none() {
        mismatch(n, path, d, "a list");
    }
    s
}

/// A mapping, or an error.
pub fn expect_map<'a>(
    n: &'a Node,
    path: &YamlPath,
    d: &mut Diagnostics,
) -> Option<&'a [(Node, Node)]> {
    let m = n.as_map();
    if m.is_none() {
        mismatch(n, path, d, "a mapping");
    }
    m
}

#[cfg(test)]
mod tests {
    use super::super::{parse, Limits};
    use super::*;

    fn ok(src: &str) -> Node {
        parse(src.as_bytes(), &Limits::default()).unwrap()
    }

    fn at(line: usize, col: usize) -> Mark {
        Mark::new(line, col)
    }

    fn walk<'a>(mut n: &'a Node, keys: &[&str]) -> &'a Node {
        for k in keys {
            n = n.get(k).unwrap();
        }
        n
    }
    #[test]
    fn yaml_paths_render_like_accessors() {
        let p = YamlPath::root()
            .key("scenarios")
            .key("smoke")
            .key("stages")
            .index(1)
            .key("target");
        assert_eq!(p.to_string(), "scenarios.smoke.stages[1].target");
        let p = YamlPath::root()
            .key("thresholds")
            .key("http_req_duration{name:logout}");
        assert_eq!(
            p.to_string(),
            "thresholds[\"http_req_duration{name:logout}\"]"
        );
        assert_eq!(YamlPath::root().index(0).to_string(), "[0]");
        assert!(YamlPath::root().is_root());
    }

    #[test]
    fn map_reader_reports_missing_unknown_and_mistyped_keys() {
        let root = ok("\
scenarios:
  smoke:
    executor: constant-vus
    vsu: 5
    duration: 30
    teardwon: [logout]
    7: x
    stages: []
");
        let mut d = Diagnostics::default();
        let smoke_path = YamlPath::root().key("scenarios").key("smoke");
        let smoke = walk(&root, &["scenarios", "smoke"]);
        let mut m = MapReader::new(smoke, &smoke_path, &mut d).unwrap();
        assert_eq!(m.req_as("executor", expect_str), Some("constant-vus"));
        assert_eq!(m.opt_as("vus", expect_u64), None);
        assert_eq!(m.req_as("duration", expect_str), None);
        assert!(m.req("flow").is_none());
        assert!(m.opt("teardown").is_none());
        m.finish(&[
            "executor", "vus", "duration", "flow", "setup", "teardown", "stages",
        ]);

        let got = d.into_sorted();
        let got: Vec<_> = got
            .iter()
            .map(|d| (d.line, d.col, d.path.as_str(), d.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (3, 5, "scenarios.smoke", "missing key \"flow\""),
                (
                    4,
                    5,
                    "scenarios.smoke.vsu",
                    "unknown key \"vsu\"; did you mean \"vus\"?"
                ),
                (
                    5,
                    15,
                    "scenarios.smoke.duration",
                    "expected a string, found an integer"
                ),
                (
                    6,
                    5,
                    "scenarios.smoke.teardwon",
                    "unknown key \"teardwon\"; did you mean \"teardown\"?"
                ),
                (7, 5, "scenarios.smoke.7", "unknown key 7"),
            ]
        );
    }

    #[test]
    fn map_reader_on_a_non_mapping_and_user_named_keys() {
        let root = ok("scenarios: [smoke]\nrequests: {login: {}, me: {}}\n");
        let mut d = Diagnostics::default();
        let p = YamlPath::root().key("scenarios");
        assert!(MapReader::new(root.get("scenarios").unwrap(), &p, &mut d).is_none());
        let p = YamlPath::root().key("requests");
        let mut m = MapReader::new(root.get("requests").unwrap(), &p, &mut d).unwrap();
        let names: Vec<_> = m.entries().iter().filter_map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["login", "me"]);
        assert_eq!(m.path_of("login").to_string(), "requests.login");
        m.finish(&[]);
        let d = d.into_sorted();
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].line, d[0].col), (1, 12));
        assert_eq!(d[0].message, "expected a mapping, found a list");
    }

    #[test]
    fn typed_accessors_explain_what_they_found() {
        let root = ok("a: -3\nb: 2.5\nc: yes\nd: .nan\ne: 7\nf: x\ng: {}\nh: true\n");
        let mut d = Diagnostics::default();
        let p = YamlPath::root();
        let n = |k: &str| root.get(k).unwrap();
        assert_eq!(expect_u64(n("a"), &p.key("a"), &mut d), None);
        assert_eq!(expect_i64(n("a"), &p.key("a"), &mut d), Some(-3));
        assert_eq!(expect_u64(n("b"), &p.key("b"), &mut d), None);
        assert_eq!(expect_f64(n("b"), &p.key("b"), &mut d), Some(2.5));
        assert_eq!(expect_f64(n("e"), &p.key("e"), &mut d), Some(7.0));
        assert_eq!(expect_bool(n("c"), &p.key("c"), &mut d), None);
        assert_eq!(expect_bool(n("h"), &p.key("h"), &mut d), Some(true));
        assert_eq!(expect_f64(n("d"), &p.key("d"), &mut d), None);
        assert_eq!(expect_seq(n("f"), &p.key("f"), &mut d), None);
        assert_eq!(
            expect_map(n("g"), &p.key("g"), &mut d).map(<[_]>::len),
            Some(0)
        );
        let messages: Vec<_> = d
            .into_sorted()
            .into_iter()
            .map(|d| format!("{}: {}", d.path, d.message))
            .collect();
        assert_eq!(
            messages,
            [
                "a: expected a whole number of 0 or more, found -3",
                "b: expected a whole number, found a decimal number",
                "c: expected true or false, found a string",
                "d: expected a number, found .nan",
                "f: expected a list, found a string",
            ]
        );
    }

    #[test]
    fn did_you_mean_picks_the_closest_likely_typo() {
        let known = ["vus", "duration", "executor", "stages", "graceful_stop"];
        assert_eq!(did_you_mean("vsu", known), Some("vus"));
        assert_eq!(did_you_mean("v", known), None);
        assert_eq!(did_you_mean("durtaion", known), Some("duration"));
        assert_eq!(did_you_mean("DURATION", known), Some("duration"));
        assert_eq!(did_you_mean("gracefull_stop", known), Some("graceful_stop"));
        assert_eq!(did_you_mean("timeout", known), None);
        assert_eq!(did_you_mean("stage", known), Some("stages"));
    }

    #[test]
    fn diagnostics_are_sorted_and_rendered_like_rustc() {
        let mut d = Diagnostics::default();
        let p = YamlPath::root().key("scenarios").key("smoke");
        d.error(
            at(12, 7),
            &p.key("vus"),
            "expected a whole number, found a string",
        );
        d.error(at(3, 1), &YamlPath::root(), "missing key \"scenarios\"");
        d.error(
            at(12, 3),
            &p.key("vsu"),
            "unknown key \"vsu\"; did you mean \"vus\"?",
        );
        d.error(at(3, 1), &YamlPath::root(), "missing key \"scenarios\"");
        assert_eq!(d.len(), 4);
        assert!(!d.is_empty());
        let sorted = d.into_sorted();
        assert_eq!(
            render_diagnostics("loadtest.yaml", &sorted),
            "\
error: loadtest.yaml:3:1: missing key \"scenarios\"
error: loadtest.yaml:12:3: scenarios.smoke.vsu: unknown key \"vsu\"; did you mean \"vus\"?
error: loadtest.yaml:12:7: scenarios.smoke.vus: expected a whole number, found a string
3 errors in loadtest.yaml
"
        );
        let one = [Diagnostic::from(
            parse(b"a: 1\na: 2\n", &Limits::default()).unwrap_err(),
        )];
        assert_eq!(
            render_diagnostics("p.yaml", &one),
            "error: p.yaml:2:1: duplicate key \"a\"; it is already defined on line 1\n1 error in p.yaml\n"
        );
        assert_eq!(render_diagnostics("p.yaml", &[]), "");
    }

    #[test]
    fn default_limits() {
        assert_eq!(
            Limits::default(),
            Limits {
                max_bytes: 4 << 20,
                max_depth: 64,
                max_nodes: 200_000
            }
        );
    }
}
