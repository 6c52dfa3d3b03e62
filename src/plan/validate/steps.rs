//! Steps and `flows:`: names resolved to requests, flows inlined (once each, memoized), cycles
//! and runaway expansions reported.

use std::rc::Rc;

use crate::plan::model::{RequestId, Step};
use crate::plan::yaml::{Node, Value};
use crate::suggest;

use super::tree::Cx;
use super::tree::{group_digits, int_of, key_hint, kind, name_of, seq_of, think_of, Fields, P};

/// A scenario (setup, flow and teardown each) may expand to at most this many steps, counting
/// the steps inside groups and picks. Far above any real plan; it stops `a: [b, b, b, ...]`,
/// `b: [c, c, c, ...]` from expanding into billions.
pub(crate) const MAX_STEPS: usize = 100_000;

const MAX_WEIGHT: u64 = 1_000_000;

#[derive(Clone)]
enum State {
    Todo,
    InProgress,
    Done(Rc<Vec<Step>>, usize),
    Failed,
}

/// Compiles steps; owns the flow definitions and what is known about them so far.
pub(crate) struct Steps<'n, 'r> {
    /// Every request name, with its id when the request itself is valid.
    pub requests: &'r [(String, Option<RequestId>)],
    flows: Vec<(&'n str, &'n Node)>,
    state: Vec<State>,
    stack: Vec<usize>,
    /// Group names seen, for threshold tags.
    pub groups: Vec<String>,
}

impl<'n, 'r> Steps<'n, 'r> {
    pub fn new(
        requests: &'r [(String, Option<RequestId>)],
        flows: Vec<(&'n str, &'n Node)>,
    ) -> Self {
        let n = flows.len();
        Steps {
            requests,
            flows,
            state: vec![State::Todo; n],
            stack: Vec::new(),
            groups: Vec::new(),
        }
    }

    /// Compiles every flow, used or not, so errors in an unused flow are reported too.
    pub fn check_all_flows(&mut self, cx: &mut Cx) {
        for i in 0..self.flows.len() {
            if matches!(self.state[i], State::Todo) {
                self.flow(cx, i);
            }
        }
    }

    /// A list of steps (a scenario's `flow`, a group's, a branch's).
    pub fn list(&mut self, cx: &mut Cx, node: &'n Node, path: &P) -> Option<(Vec<Step>, usize)> {
        let items = seq_of(cx, node, path)?;
        let mut out = Vec::with_capacity(items.len());
        let mut size = 0usize;
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match self.step(cx, item, &path.index(i)) {
                Some((steps, n)) => {
                    size = size.saturating_add(n);
                    if size > MAX_STEPS {
                        cx.error(
                            item,
                            &path.index(i),
                            format!(
                                "this list expands to more than {} steps once its flows are inlined",
                                group_digits(MAX_STEPS as u64)
                            ),
                        );
                        return None;
                    }
                    out.extend(steps);
                }
                None => ok = false,
            }
        }
        ok.then_some((out, size))
    }

    fn step(&mut self, cx: &mut Cx, node: &'n Node, path: &P) -> Option<(Vec<Step>, usize)> {
        match &node.value {
            Value::Str(name) => self.named(cx, node, path, name),
            Value::Map(_) => self.structured(cx, node, path),
            other => {
                cx.error(
                    node,
                    path,
                    format!(
                        "expected a step (a request or flow name, {{ group: NAME, flow: [...] }}, {{ think: 1s }} or {{ pick: [...] }}), found {}",
                        kind(other)
                    ),
                );
                None
            }
        }
    }

    fn named(
        &mut self,
        cx: &mut Cx,
        node: &Node,
        path: &P,
        name: &str,
    ) -> Option<(Vec<Step>, usize)> {
        if let Some((_, id)) = self.requests.iter().find(|(n, _)| n == name) {
            // A request with errors of its own has been reported already.
            return id.map(|id| (vec![Step::Request(id)], 1));
        }
        if let Some(i) = self.flows.iter().position(|(n, _)| *n == name) {
            match self.state[i].clone() {
                State::Done(steps, size) => return Some((steps.as_ref().clone(), size)),
                State::Failed => return None,
                State::InProgress => {
                    let start = self.stack.iter().position(|&s| s == i).unwrap_or(0);
                    let mut cycle: Vec<&str> = self.stack[start..]
                        .iter()
                        .map(|&s| self.flows[s].0)
                        .collect();
                    cycle.push(name);
                    cx.error(node, path, format!("flow cycle: {}", cycle.join(" -> ")));
                    for &s in &self.stack[start..] {
                        self.state[s] = State::Failed;
                    }
                    return None;
                }
                State::Todo => {
                    return self
                        .flow(cx, i)
                        .map(|(steps, size)| (steps.as_ref().clone(), size));
                }
            }
        }
        let all: Vec<&str> = self
            .requests
            .iter()
            .map(|(n, _)| n.as_str())
            .chain(self.flows.iter().map(|(n, _)| *n))
            .collect();
        let hint = match name {
            "sleep" => "; k6's sleep() is a step `{ think: 1s }` here".to_string(),
            "check" => "; k6's check() is a request's `expect:` here".to_string(),
            "setup" | "teardown" => format!(
                "; a once-per-test {name} is the plan's top-level `{name}:`, and steps once per \
                 VU are a scenario's `{name}:`"
            ),
            _ => suggest::hint(name, all.iter().copied()),
        };
        cx.error(
            node,
            path,
            format!("unknown request or flow \"{name}\"{hint}"),
        );
        None
    }

    fn flow(&mut self, cx: &mut Cx, i: usize) -> Option<(Rc<Vec<Step>>, usize)> {
        let (name, node) = self.flows[i];
        self.state[i] = State::InProgress;
        self.stack.push(i);
        let result = self.list(cx, node, &P::root().key("flows").key(name));
        self.stack.pop();
        if matches!(self.state[i], State::Failed) {
            // Part of a cycle found below us.
            return None;
        }
        match result {
            Some((steps, size)) => {
                let steps = Rc::new(steps);
                self.state[i] = State::Done(Rc::clone(&steps), size);
                Some((steps, size))
            }
            None => {
                self.state[i] = State::Failed;
                None
            }
        }
    }

    fn structured(&mut self, cx: &mut Cx, node: &'n Node, path: &P) -> Option<(Vec<Step>, usize)> {
        let f = Fields::of(cx, node, path, "a step")?;
        let kinds: Vec<&str> = ["group", "think", "pick"]
            .into_iter()
            .filter(|k| f.get(k).is_some())
            .collect();
        match kinds.as_slice() {
            ["group"] => {
                f.only(cx, &["group", "flow"]);
                let gp = path.key("group");
                let name = name_of(cx, f.get("group").expect("present"), &gp);
                if let Some(n) = name {
                    if n.contains("::") {
                        cx.error(
                            f.get("group").expect("present"),
                            &gp,
                            "a group name may not contain `::` (k6 joins nested groups with it)",
                        );
                        return None;
                    }
                    // A group names a tag and a row of every report: one line of text.
                    if let Some(c) = n.chars().find(|c| c.is_control()) {
                        cx.error(
                            f.get("group").expect("present"),
                            &gp,
                            format!(
                                "a group name must not contain control characters; found {}",
                                crate::text::describe(c)
                            ),
                        );
                        return None;
                    }
                }
                let steps = f
                    .req(cx, "flow")
                    .and_then(|fl| self.list(cx, fl, &path.key("flow")));
                let name = name?;
                let (steps, size) = steps?;
                if !self.groups.iter().any(|g| g == name) {
                    self.groups.push(name.to_string());
                }
                Some((
                    vec![Step::Group {
                        name: name.to_string(),
                        steps,
                    }],
                    size.saturating_add(1),
                ))
            }
            ["think"] => {
                f.only(cx, &["think"]);
                let think = think_of(cx, f.get("think").expect("present"), &path.key("think"))?;
                Some((vec![Step::Think(think)], 1))
            }
            ["pick"] => {
                f.only(cx, &["pick"]);
                self.pick(cx, f.get("pick").expect("present"), &path.key("pick"))
            }
            [] => {
                let first = f.entries.first().map(|(k, _, _)| *k).unwrap_or("");
                let hint = key_hint(first, &["group", "think", "pick"]);
                cx.error(
                    node,
                    path,
                    format!(
                        "unknown step \"{first}\"{hint}; a step is a request or flow name, {{ group: NAME, flow: [...] }}, {{ think: 1s }} or {{ pick: [...] }}"
                    ),
                );
                None
            }
            [a, b, ..] => {
                cx.error(
                    node,
                    path,
                    format!("\"{a}\" and \"{b}\" in one step; write them as two steps"),
                );
                None
            }
            [_] => unreachable!("one of group, think, pick"),
        }
    }

    fn pick(&mut self, cx: &mut Cx, node: &'n Node, path: &P) -> Option<(Vec<Step>, usize)> {
        let items = seq_of(cx, node, path)?;
        if items.is_empty() {
            cx.error(node, path, "no branches; write e.g. [{ weight: 70, flow: [login] }, { weight: 30, flow: [register] }]");
            return None;
        }
        let mut cumulative = Vec::with_capacity(items.len());
        let mut branches = Vec::with_capacity(items.len());
        let mut total: u64 = 0;
        let mut size = 1usize;
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let p = path.index(i);
            let Some(b) = Fields::of(
                cx,
                item,
                &p,
                "a branch such as { weight: 30, flow: [register] }",
            ) else {
                ok = false;
                continue;
            };
            b.only(cx, &["weight", "flow"]);
            let weight = b
                .req(cx, "weight")
                .and_then(|w| weight_of(cx, w, &p.key("weight")));
            let steps = b
                .req(cx, "flow")
                .and_then(|fl| self.list(cx, fl, &p.key("flow")));
            match (weight, steps) {
                (Some(w), Some((steps, n))) => {
                    total += w;
                    size = size.saturating_add(n);
                    cumulative.push(total as u32);
                    branches.push(steps);
                }
                _ => ok = false,
            }
        }
        if !ok {
            return None;
        }
        if size > MAX_STEPS {
            cx.error(
                node,
                path,
                format!(
                    "this pick expands to more than {} steps",
                    group_digits(MAX_STEPS as u64)
                ),
            );
            return None;
        }
        Some((
            vec![Step::Pick {
                cumulative,
                branches,
            }],
            size,
        ))
    }
}

fn weight_of(cx: &mut Cx, node: &Node, path: &P) -> Option<u64> {
    if let Value::Int(w) = node.value {
        if w <= 0 {
            cx.error(
                node,
                path,
                format!("weight {w} would never pick this branch; weights are whole numbers from 1 to {}", group_digits(MAX_WEIGHT)),
            );
            return None;
        }
    }
    int_of(cx, node, path, 1, MAX_WEIGHT, "(a weight)")
}
