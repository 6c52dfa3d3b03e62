//! The names a request template may use, resolved once at validation.
//!
//! - captures at the top level: `{{token}}` → a capture slot;
//! - `{{vars.NAME}}` → the constant, folded into the template;
//! - `{{FEED.COLUMN}}` → the column of the feed's current row;
//! - `{{vu}}`, `{{iteration}}`, `{{scenario}}`, `{{env}}` → filled in per call.

use std::cell::RefCell;
use std::sync::Arc;

use crate::plan::model::SETUP;
use crate::plan::template::{Builtin, Scope, VarRef};
use crate::suggest;

/// Names a capture, a feed or a var may not take, because templates could not tell them apart.
pub(crate) const BUILTINS: [&str; 4] = ["vu", "iteration", "scenario", "env"];

/// A feed as templates see it.
pub(crate) struct FeedNames {
    pub name: String,
    pub columns: Vec<String>,
}

/// Everything a template may name. `used_vars` records which `vars` templates read, so an
/// unset `${X}` behind an unused var stays a warning.
pub(crate) struct PlanScope<'a> {
    pub captures: &'a [String],
    pub vars: &'a [(String, String)],
    pub feeds: &'a [FeedNames],
    pub used_vars: RefCell<Vec<bool>>,
}

impl<'a> PlanScope<'a> {
    pub fn new(
        captures: &'a [String],
        vars: &'a [(String, String)],
        feeds: &'a [FeedNames],
    ) -> Self {
        PlanScope {
            captures,
            vars,
            feeds,
            used_vars: RefCell::new(vec![false; vars.len()]),
        }
    }

    /// Resolves one variable name as written between `{{ }}`.
    pub fn lookup(&self, name: &str) -> Result<VarRef, String> {
        match name {
            // The template compiler resolves these itself; answer the same if asked.
            "vu" => return Ok(VarRef::Builtin(Builtin::Vu)),
            "iteration" => return Ok(VarRef::Builtin(Builtin::Iteration)),
            "scenario" => return Ok(VarRef::Builtin(Builtin::Scenario)),
            "env" => return Ok(VarRef::Builtin(Builtin::Env)),
            _ => {}
        }
        if let Some((head, tail)) = name.split_once('.') {
            if head == "vars" {
                return match self.vars.iter().position(|(n, _)| n == tail) {
                    Some(i) => {
                        self.used_vars.borrow_mut()[i] = true;
                        Ok(VarRef::Const(Arc::from(self.vars[i].1.as_str())))
                    }
                    None => Err(self.unknown(name, "vars has no", tail, || {
                        self.vars.iter().map(|(n, _)| n.as_str()).collect()
                    })),
                };
            }
            if let Some((feed, f)) = self.feeds.iter().enumerate().find(|(_, f)| f.name == head) {
                return match f.columns.iter().position(|c| c == tail) {
                    Some(column) => Ok(VarRef::Feed { feed, column }),
                    None if head == SETUP => Err(format!(
                        "the once-per-test setup captures no \"{tail}\"{} ({})",
                        suggest::hint(tail, f.columns.iter().map(String::as_str)),
                        match f.columns.as_slice() {
                            [] => "it captures nothing".to_string(),
                            c => format!("it captures {}", c.join(", ")),
                        }
                    )),
                    None => Err(format!(
                        "data feed \"{head}\" has no column \"{tail}\"{} (columns: {})",
                        suggest::hint(tail, f.columns.iter().map(String::as_str)),
                        f.columns.join(", ")
                    )),
                };
            }
            if let Some(slot) = self.captures.iter().position(|c| c == head) {
                let _ = slot;
                return Err(format!(
                    "\"{head}\" is a captured value, not a mapping; write {{{{{head}}}}} (capture a field with a JSON path instead: `{head}_x: $.x`)"
                ));
            }
            if head == SETUP {
                return Err(format!(
                    "unknown variable \"{name}\": the plan has no once-per-test setup; \
                     {{{{setup.NAME}}}} reads what a top-level `setup:` captures"
                ));
            }
            return Err(self.unknown_any(name));
        }
        if let Some(slot) = self.captures.iter().position(|c| c == name) {
            return Ok(VarRef::Capture(slot));
        }
        if name == "vars" {
            return Err("`vars` needs a name: write {{vars.NAME}}".to_string());
        }
        if let Some(f) = self.feeds.iter().find(|f| f.name == name) {
            return Err(format!(
                "\"{name}\" is a data feed; name a column: {{{{{name}.{}}}}}",
                f.columns.first().map(String::as_str).unwrap_or("COLUMN")
            ));
        }
        if self.vars.iter().any(|(n, _)| n == name) {
            return Err(format!(
                "unknown variable \"{name}\"; did you mean \"vars.{name}\"? (vars are read as {{{{vars.{name}}}}})"
            ));
        }
        Err(self.unknown_any(name))
    }

    fn unknown(
        &self,
        full: &str,
        what: &str,
        tail: &str,
        names: impl Fn() -> Vec<&'a str>,
    ) -> String {
        let names = names();
        let hint = suggest::did_you_mean(tail, names.iter().copied())
            .map(|s| format!("; did you mean \"vars.{s}\"?"))
            .unwrap_or_default();
        format!("unknown variable \"{full}\": {what} \"{tail}\"{hint}")
    }

    /// Every name a template could have meant, for the suggestion.
    fn candidates(&self) -> Vec<String> {
        let mut all: Vec<String> = self.captures.to_vec();
        all.extend(BUILTINS.iter().map(|s| s.to_string()));
        all.extend(self.vars.iter().map(|(n, _)| format!("vars.{n}")));
        for f in self.feeds {
            all.extend(f.columns.iter().map(|c| format!("{}.{c}", f.name)));
        }
        all
    }

    fn unknown_any(&self, name: &str) -> String {
        let all = self.candidates();
        let hint = suggest::hint(name, all.iter().map(String::as_str));
        let known = if self.captures.is_empty() {
            String::new()
        } else {
            format!(" (captured values: {})", self.captures.join(", "))
        };
        if hint.is_empty() {
            format!("unknown variable \"{name}\"{known}")
        } else {
            format!("unknown variable \"{name}\"{hint}")
        }
    }
}

impl Scope for PlanScope<'_> {
    fn resolve(&self, name: &str) -> Result<VarRef, String> {
        self.lookup(name)
    }
}
