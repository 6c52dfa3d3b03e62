//! The positioned YAML tree: every value with the line and column it was written at, and the
//! limits and errors of reading it.

use std::fmt;

/// A position in the plan: 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mark {
    pub line: usize,
    pub col: usize,
}

impl Mark {
    pub fn new(line: usize, col: usize) -> Self {
        Mark { line, col }
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

impl From<&Node> for Mark {
    fn from(n: &Node) -> Mark {
        n.mark
    }
}

/// A YAML value. Mappings keep their entries in source order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub mark: Mark,
}

impl Node {
    pub fn new(value: Value, mark: Mark) -> Self {
        Node { value, mark }
    }

    /// What kind of value this is, for messages: "expected a string, found a list".
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a decimal number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    /// A number, integer or not.
    pub fn as_f64(&self) -> Option<f64> {
        match self.value {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value under string key `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.get_entry(key).map(|(_, v)| v)
    }

    /// The key and value under string key `key` (the key node carries the key's position).
    pub fn get_entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, v)| (k, v))
    }

    /// A scalar as plan text, for messages and map keys: `vus`, `5`, `true`, `null`.
    /// Collections give `None`.
    pub fn scalar_text(&self) -> Option<String> {
        Some(match &self.value {
            Value::Null => "null".to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format_float(*f),
            Value::Str(s) => s.clone(),
            Value::Seq(_) | Value::Map(_) => return None,
        })
    }
}

fn format_float(f: f64) -> String {
    if f.is_nan() {
        ".nan".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.to_owned()
    } else {
        format!("{f:?}")
    }
}

/// Limits that keep a hostile plan from costing more than a moment and a few megabytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest plan, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of lists and mappings (the root collection is level 1). Keep it modest:
    /// dropping, cloning and comparing a [`Node`] recurse once per level.
    pub max_depth: usize,
    /// Most nodes in the tree, counting keys and every copy an alias or merge makes.
    pub max_nodes: usize,
}

impl Default for Limits {
    /// A plan is small: the largest real suites we know of (seven k6 scripts folded into one
    /// plan) are a few hundred lines, a few kilobytes, nested about eight levels deep and under
    /// 5 000 nodes. The defaults leave two orders of magnitude of headroom on each and still bound
    /// the loader at a few tens of megabytes and well under a second: 4 MiB, 64 levels, 200 000
    /// nodes.
    fn default() -> Self {
        Limits {
            max_bytes: 4 * 1024 * 1024,
            max_depth: 64,
            max_nodes: 200_000,
        }
    }
}

/// A plan that is not acceptable YAML, at the position of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct YamlError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl YamlError {
    pub fn new(line: usize, col: usize, message: impl Into<String>) -> Self {
        YamlError {
            line,
            col,
            message: message.into(),
        }
    }

    pub(super) fn at(mark: Mark, message: impl Into<String>) -> Self {
        YamlError::new(mark.line, mark.col, message)
    }

    pub fn mark(&self) -> Mark {
        Mark::new(self.line, self.col)
    }
}
