//! The plan's once-per-test `setup:` and `teardown:` (k6's `setup()` and `teardown()`): steps
//! one VU runs before the first scenario starts and after the last one ends, once or once per
//! row of a feed. What setup captures becomes the `setup` feed (`{{setup.NAME}}`), so its
//! names are found in the plan's text before any template is compiled.

use std::sync::Arc;
use std::time::Duration;

use crate::plan::model::{Feed, FeedOrder, Phase, RequestSpec, Rows, SETUP, TEARDOWN};
use crate::plan::template::VarRef;
use crate::plan::yaml::{Node, Value};
use crate::suggest;

use super::feeds::order_of;
use super::requests::capture_names;
use super::steps::Steps;
use super::tree::{int_of, name_of, positive_duration_of, seq_of, Cx, Fields, P};

const SETUP_KEYS: [&str; 6] = [
    "flow",
    "for_each",
    "iterations",
    "timeout",
    "scenarios",
    "order",
];
const TEARDOWN_KEYS: [&str; 5] = ["flow", "for_each", "iterations", "timeout", "scenarios"];

/// k6's `setupTimeout` and `teardownTimeout`.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The most times a phase may run its steps (`iterations`).
const MAX_RUNS: u64 = 1_000_000;

/// A phase's steps in the plan's text: the list itself, or its `flow:`.
fn flow_items(node: &Node) -> Option<&[Node]> {
    match &node.value {
        Value::Seq(items) => Some(items),
        Value::Map(entries) => entries.iter().find_map(|(k, v)| match &v.value {
            Value::Seq(items) if k.as_str() == Some("flow") => Some(items.as_slice()),
            _ => None,
        }),
        _ => None,
    }
}

/// The value of `key` in a mapping node.
fn get<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// The names the setup's steps capture (valid capture names, in `slots`), in the order they
/// are first met, read from the plan's text: requests, the flows they use, groups and picks.
pub(crate) fn setup_exports(top: &Fields, slots: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(items) = top.get(SETUP).and_then(flow_items) else {
        return out;
    };
    let mut walk = Walk {
        requests: top.get("requests"),
        flows: top.get("flows"),
        seen: Vec::new(),
        slots,
        out: &mut out,
    };
    walk.list(items);
    out
}

struct Walk<'n, 'o> {
    requests: Option<&'n Node>,
    flows: Option<&'n Node>,
    /// Flows already walked (a cycle is reported elsewhere).
    seen: Vec<&'n str>,
    slots: &'o [String],
    out: &'o mut Vec<String>,
}

impl<'n> Walk<'n, '_> {
    fn list(&mut self, items: &'n [Node]) {
        for item in items {
            match &item.value {
                Value::Str(name) => self.named(name),
                Value::Map(_) => {
                    if let Some(Value::Seq(flow)) = get(item, "flow").map(|f| &f.value) {
                        self.list(flow);
                    }
                    if let Some(Value::Seq(branches)) = get(item, "pick").map(|p| &p.value) {
                        for b in branches {
                            if let Some(Value::Seq(flow)) = get(b, "flow").map(|f| &f.value) {
                                self.list(flow);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn named(&mut self, name: &'n str) {
        if let Some(request) = self.requests.and_then(|r| get(r, name)) {
            for (capture, _) in capture_names(request) {
                let known = self.slots.iter().any(|s| s == capture);
                if known && !self.out.iter().any(|o| o == capture) {
                    self.out.push(capture.to_string());
                }
            }
        } else if let Some(flow) = self.flows.and_then(|f| get(f, name)) {
            if !self.seen.contains(&name) {
                self.seen.push(name);
                if let Value::Seq(items) = &flow.value {
                    self.list(items);
                }
            }
        }
    }
}

/// The `setup` feed: one column per value setup captures, its rows filled by the run.
pub(crate) fn setup_feed(cx: &mut Cx, node: &Node, exports: &[String]) -> Feed {
    let order = get(node, "order")
        .and_then(|o| order_of(cx, o, &P::root().key(SETUP).key("order")))
        .unwrap_or(FeedOrder::Sequential);
    Feed {
        name: SETUP.to_string(),
        path: Default::default(),
        order,
        columns: exports.to_vec(),
        rows: Arc::new(Rows::new(exports.len())),
    }
}

/// What a phase needs from the rest of the plan.
pub(crate) struct PhaseEnv<'a> {
    pub feeds: &'a [Feed],
    pub scenarios: &'a [&'a str],
    pub captures: &'a [String],
}

/// `setup:` or `teardown:` (`which`): a list of steps, or `{ flow, for_each, iterations,
/// timeout, scenarios }` (and setup's `order`).
pub(crate) fn phase<'n>(
    cx: &mut Cx,
    which: &str,
    node: &'n Node,
    steps: &mut Steps<'n, '_>,
    env: &PhaseEnv,
) -> Option<Phase> {
    let p = P::root().key(which);
    if env.scenarios.contains(&which) {
        cx.error(
            node,
            &p,
            format!(
                "a scenario is named \"{which}\", the `scenario` tag the once-per-test {which}'s \
                 requests carry; rename the scenario"
            ),
        );
    }
    let (flow_node, fields) = match &node.value {
        Value::Seq(_) => (Some(node), None),
        _ => {
            let f = Fields::of(
                cx,
                node,
                &p,
                "steps run once per test: a list such as [login_admin], or { flow: [...], for_each: FEED }",
            )?;
            f.only(
                cx,
                if which == SETUP {
                    &SETUP_KEYS
                } else {
                    &TEARDOWN_KEYS
                },
            );
            (f.req(cx, "flow"), Some(f))
        }
    };
    let fp = if fields.is_some() {
        p.key("flow")
    } else {
        p.clone()
    };
    let steps = flow_node.and_then(|n| {
        let (s, _) = steps.list(cx, n, &fp)?;
        if s.is_empty() {
            cx.error(n, &fp, format!("empty {which}; give it at least one step"));
            return None;
        }
        Some(s)
    });
    let get = |k: &str| fields.as_ref().and_then(|f| f.get(k));
    let for_each = match get("for_each") {
        Some(n) => for_each(cx, which, n, &p.key("for_each"), env.feeds).map(Some),
        None => Some(None),
    };
    let iterations = match get("iterations") {
        Some(n) if get("for_each").is_some() => {
            cx.error(
                n,
                &p.key("iterations"),
                "give for_each or iterations, not both: for_each runs the steps once per row",
            );
            None
        }
        Some(n) => int_of(cx, n, &p.key("iterations"), 1, MAX_RUNS, "iterations"),
        None => Some(1),
    };
    let timeout = match get("timeout") {
        Some(n) => positive_duration_of(cx, n, &p.key("timeout")),
        None => Some(DEFAULT_TIMEOUT),
    };
    let scenarios = match get("scenarios") {
        Some(n) => scenario_list(cx, n, &p.key("scenarios"), env.scenarios),
        None => Some(Vec::new()),
    };
    let exports = match env.feeds.iter().find(|f| f.name == SETUP) {
        Some(f) if which == SETUP => f
            .columns
            .iter()
            .filter_map(|c| env.captures.iter().position(|s| s == c))
            .collect(),
        _ => Vec::new(),
    };
    Some(Phase {
        steps: steps?,
        for_each: for_each?,
        iterations: iterations?,
        timeout: timeout?,
        scenarios: scenarios?,
        exports,
        line: node.mark.line,
    })
}

/// `for_each: FEED`: a data feed, or (teardown only) `setup`, what setup captured.
fn for_each(cx: &mut Cx, which: &str, n: &Node, p: &P, feeds: &[Feed]) -> Option<usize> {
    let name = name_of(cx, n, p)?;
    if which == SETUP && name == SETUP {
        cx.error(
            n,
            p,
            "setup cannot run once per value it captures itself; name a data feed",
        );
        return None;
    }
    match feeds.iter().position(|f| f.name == name) {
        Some(i) => Some(i),
        None => {
            let names: Vec<&str> = feeds
                .iter()
                .map(|f| f.name.as_str())
                .filter(|f| which == TEARDOWN || *f != SETUP)
                .collect();
            cx.error(
                n,
                p,
                format!(
                    "no data feed is named \"{name}\"{}",
                    super::tree::hint_or_list(
                        suggest::hint(name, names.iter().copied()),
                        &format!("a feed under `data:` ({})", names.join(", "))
                    )
                ),
            );
            None
        }
    }
}

/// `scenarios: [a, b]`: the scenarios a phase runs for.
fn scenario_list(cx: &mut Cx, n: &Node, p: &P, known: &[&str]) -> Option<Vec<usize>> {
    let items = seq_of(cx, n, p)?;
    let mut out = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let ip = p.index(i);
        let Some(name) = name_of(cx, item, &ip) else {
            ok = false;
            continue;
        };
        match known.iter().position(|s| *s == name) {
            Some(index) => out.push(index),
            None => {
                cx.error(
                    item,
                    &ip,
                    format!(
                        "no scenario is named \"{name}\"{}",
                        suggest::hint(name, known.iter().copied())
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// Whether a request reads a column of `feed` (in its URL, query, headers or body).
pub(crate) fn reads_feed(
    r: &RequestSpec,
    defaults: &[crate::plan::model::Header],
    feed: usize,
) -> bool {
    use crate::plan::model::Body;
    let reads = |v: &VarRef| matches!(v, VarRef::Feed { feed: f, .. } if *f == feed);
    let headers = r.headers.iter().chain(defaults);
    r.url.variables().any(reads)
        || r.query.iter().any(|(_, t)| t.variables().any(reads))
        || headers.into_iter().any(|h| h.value.variables().any(reads))
        || match &r.body {
            Some(Body::Json(j)) => j.variables().any(reads),
            Some(Body::Text(t)) => t.variables().any(reads),
            Some(Body::Form(f)) => f.iter().any(|(_, t)| t.variables().any(reads)),
            None => false,
        }
}
