//! The dry-run description of a plan (`validate`, `run --dry-run`): per scenario the executor,
//! its VU or arrival-rate timeline, the total duration with graceful stop, the flow with its
//! weights, the thresholds that apply and an estimate of the requests it will send.

use std::fmt::Write as _;
use std::time::Duration;

use crate::plan::duration::format_duration as fd;
use crate::plan::model::{Environment, Executor, Phase, Plan, Scenario, Step};
use crate::plan::schedule;

/// Assumed time a request takes, for the estimate of closed-model executors.
const ASSUMED_REQUEST: Duration = Duration::from_millis(50);

fn mean_think(t: &crate::plan::model::Think) -> Duration {
    (t.min + t.max) / 2
}

/// Expected requests and pause per pass over `steps` (weights averaged).
fn expected(steps: &[Step]) -> (f64, Duration) {
    let mut reqs = 0.0;
    let mut pause = Duration::ZERO;
    for s in steps {
        match s {
            Step::Request(_) => reqs += 1.0,
            Step::Think(t) => pause += mean_think(t),
            Step::Group { steps, .. } => {
                let (r, p) = expected(steps);
                reqs += r;
                pause += p;
            }
            Step::Pick {
                cumulative,
                branches,
            } => {
                let total = *cumulative.last().unwrap_or(&1) as f64;
                let mut prev = 0u32;
                for (c, b) in cumulative.iter().zip(branches) {
                    let w = (*c - prev) as f64 / total;
                    prev = *c;
                    let (r, p) = expected(b);
                    reqs += w * r;
                    pause += p.mul_f64(w);
                }
            }
        }
    }
    (reqs, pause)
}

fn steps_text(plan: &Plan, steps: &[Step]) -> String {
    steps
        .iter()
        .map(|s| match s {
            Step::Request(id) => plan.requests[*id].name.clone(),
            Step::Think(t) if t.min == t.max => format!("think {}", fd(t.min)),
            Step::Think(t) => format!("think {}..{}", fd(t.min), fd(t.max)),
            Step::Group { name, steps } => format!("group {name} [{}]", steps_text(plan, steps)),
            Step::Pick {
                cumulative,
                branches,
            } => {
                let total = *cumulative.last().unwrap_or(&1) as f64;
                let mut prev = 0;
                let parts: Vec<String> = cumulative
                    .iter()
                    .zip(branches)
                    .map(|(c, b)| {
                        let pct = (*c - prev) as f64 * 100.0 / total;
                        prev = *c;
                        format!("{pct:.0}% [{}]", steps_text(plan, b))
                    })
                    .collect();
                format!("pick {{ {} }}", parts.join(" | "))
            }
        })
        .collect::<Vec<_>>()
        .join(" → ")
}

fn params(e: &Executor) -> String {
    match e {
        Executor::ConstantVus { vus, duration } => format!("{vus} VUs for {}", fd(*duration)),
        Executor::RampingVus { start_vus, graceful_ramp_down, .. } => {
            format!("from {start_vus} VUs, graceful ramp-down {}", fd(*graceful_ramp_down))
        }
        Executor::PerVuIterations { vus, iterations, max_duration } => {
            format!("{vus} VUs × {iterations} iterations each, at most {}", fd(*max_duration))
        }
        Executor::SharedIterations { vus, iterations, max_duration } => {
            format!("{iterations} iterations shared by {vus} VUs, at most {}", fd(*max_duration))
        }
        Executor::ConstantArrivalRate { rate, time_unit, duration, pre_allocated_vus, max_vus } => format!(
            "{rate} iterations per {} for {}, {pre_allocated_vus} VUs pre-allocated, up to {max_vus}",
            fd(*time_unit),
            fd(*duration)
        ),
        Executor::RampingArrivalRate { start_rate, time_unit, pre_allocated_vus, max_vus, .. } => format!(
            "from {start_rate} iterations per {}, {pre_allocated_vus} VUs pre-allocated, up to {max_vus}",
            fd(*time_unit)
        ),
    }
}

/// Renders one scenario's description.
pub fn scenario(plan: &Plan, s: &Scenario, env: Option<&Environment>) -> String {
    let mut out = String::new();
    let e = &s.executor;
    let total = schedule::max_total(e, s.graceful_stop);
    let _ = writeln!(out, "scenario {} ({})", s.name, e.name());
    let _ = writeln!(out, "  executor:   {}", params(e));
    if !s.start_time.is_zero() {
        let _ = writeln!(out, "  start time: {} (with --parallel)", fd(s.start_time));
    }
    let unit = if e.is_open() {
        "iterations/unit"
    } else {
        "VUs"
    };
    let points: Vec<String> = schedule::timeline(e)
        .iter()
        .map(|p| format!("{} {}", fd(p.at), p.value))
        .collect();
    let _ = writeln!(
        out,
        "  timeline:   {} ({unit} at each time)",
        points.join(" → ")
    );
    let _ = writeln!(
        out,
        "  duration:   {} + graceful stop {} = at most {}",
        fd(e.duration()),
        fd(s.graceful_stop),
        fd(total)
    );
    if !s.setup.is_empty() {
        let _ = writeln!(
            out,
            "  setup:      {} (once per VU)",
            steps_text(plan, &s.setup)
        );
    }
    let _ = writeln!(out, "  flow:       {}", steps_text(plan, &s.flow));
    if !s.teardown.is_empty() {
        let _ = writeln!(
            out,
            "  teardown:   {} (once per VU)",
            steps_text(plan, &s.teardown)
        );
    }
    if let Some(t) = s.think.or(plan.defaults.think) {
        let range = if t.min == t.max {
            fd(t.min)
        } else {
            format!("{}..{}", fd(t.min), fd(t.max))
        };
        let _ = writeln!(out, "  think:      {range} after each iteration");
    }
    let thresholds = plan.thresholds_for(s, env);
    if !s.judge {
        let _ = writeln!(
            out,
            "  judge:      false (a helper: only its own thresholds apply)"
        );
    }
    if thresholds.is_empty() {
        let _ = writeln!(out, "  thresholds: none");
    } else {
        let _ = writeln!(out, "  thresholds:");
        for t in &thresholds {
            let conds: Vec<String> = t
                .conditions
                .iter()
                .map(|c| {
                    if c.abort_on_fail {
                        format!("{} (abort on fail)", c.condition.source)
                    } else {
                        c.condition.source.clone()
                    }
                })
                .collect();
            let _ = writeln!(out, "    {}: {}", t.key.source, conds.join(", "));
        }
    }
    let (reqs, pause) = expected(&s.flow);
    let think = s
        .think
        .or(plan.defaults.think)
        .map(|t| mean_think(&t))
        .unwrap_or_default();
    let iter_time = ASSUMED_REQUEST.mul_f64(reqs) + pause + think;
    let iterations = schedule::estimated_iterations(e, iter_time);
    let per_vu = expected(&s.setup).0 + expected(&s.teardown).0;
    let estimate = iterations * reqs + per_vu * e.max_vus() as f64;
    let basis = if e.is_open()
        || matches!(
            e,
            Executor::PerVuIterations { .. } | Executor::SharedIterations { .. }
        ) {
        "from the schedule".to_string()
    } else {
        format!("assuming {} per request", fd(ASSUMED_REQUEST))
    };
    let _ = writeln!(
        out,
        "  estimate:   ≈ {:.0} iterations, ≈ {:.0} requests ({basis})",
        iterations, estimate
    );
    out
}

/// Renders the once-per-test setup or teardown (`name`), as a run of `chosen` would run it;
/// empty when that run skips it.
pub fn phase(plan: &Plan, name: &str, p: &Phase, chosen: &[usize]) -> String {
    if !p.applies_to(chosen) {
        return String::new();
    }
    let runs = match p.for_each {
        Some(f) if plan.feeds[f].name == crate::plan::model::SETUP => {
            "once per run of setup".to_string()
        }
        Some(f) => format!(
            "once per row of {} ({} rows)",
            plan.feeds[f].name,
            plan.feeds[f].rows.len()
        ),
        None if p.iterations == 1 => "once".to_string(),
        None => format!("{} times", p.iterations),
    };
    let when = if name == crate::plan::model::SETUP {
        "before the first scenario"
    } else {
        "after the last scenario"
    };
    let mut out = String::new();
    let _ = writeln!(out, "{name} (once per test, {when})");
    let _ = writeln!(out, "  steps:      {}, {runs}", steps_text(plan, &p.steps));
    let _ = writeln!(out, "  timeout:    {}", fd(p.timeout));
    if !p.exports.is_empty() {
        let names: Vec<String> = p
            .exports
            .iter()
            .map(|&s| format!("{{{{setup.{}}}}}", plan.captures[s]))
            .collect();
        let _ = writeln!(out, "  hands out:  {}", names.join(", "));
    }
    out
}
