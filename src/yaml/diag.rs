//! The toolkit plan validation is written with. For now: YAML paths.

use std::fmt;

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
