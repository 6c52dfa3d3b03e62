//! The six k6 executors: which keys each takes, k6's defaults, and the limits that catch typos
//! (a million VUs, a rate of ten million per second, a thousand-hour stage).

use std::time::Duration;

use crate::plan::model::{Executor, Stage};
use crate::suggest;

use super::tree::Cx;
use super::tree::{
    duration_of, group_digits, hint_or_list, int_of, key_hint, name_of, positive_duration_of,
    seq_of, to_snake, Fields,
};

pub(crate) const MAX_VUS: u64 = crate::plan::model::MAX_VUS_PER_PROCESS;
pub(crate) const MAX_RATE: u64 = 1_000_000;
pub(crate) const MAX_ITERATIONS: u64 = 1_000_000_000;
const MAX_STAGES: usize = 10_000;

/// Keys every scenario takes, whatever its executor.
pub(crate) const SCENARIO_KEYS: [&str; 10] = [
    "executor",
    "start_time",
    "graceful_stop",
    "setup",
    "flow",
    "teardown",
    "thresholds",
    "protected_ok",
    "think",
    "judge",
];

/// Each executor's own keys, in the order the docs list them.
pub(crate) const EXECUTORS: [(&str, &[&str]); 6] = [
    ("constant-vus", &["vus", "duration"]),
    (
        "ramping-vus",
        &["start_vus", "stages", "graceful_ramp_down"],
    ),
    ("per-vu-iterations", &["vus", "iterations", "max_duration"]),
    ("shared-iterations", &["vus", "iterations", "max_duration"]),
    (
        "constant-arrival-rate",
        &[
            "rate",
            "time_unit",
            "duration",
            "pre_allocated_vus",
            "max_vus",
        ],
    ),
    (
        "ramping-arrival-rate",
        &[
            "start_rate",
            "time_unit",
            "stages",
            "pre_allocated_vus",
            "max_vus",
        ],
    ),
];

/// Checks the scenario's keys against its executor and parses the executor. `None` when the
/// executor is missing or broken (the errors are recorded).
pub(crate) fn executor(cx: &mut Cx, f: &Fields) -> Option<Executor> {
    let name_node = f.req(cx, "executor");
    let name = name_node.and_then(|n| name_of(cx, n, &f.path.key("executor")));
    let own: Option<&[&str]> = match name {
        None => None,
        Some(name) => match EXECUTORS.iter().find(|(n, _)| *n == name) {
            Some((_, keys)) => Some(keys),
            None => {
                let names: Vec<&str> = EXECUTORS.iter().map(|(n, _)| *n).collect();
                let hint = hint_or_list(
                    suggest::hint(name, names.iter().copied()),
                    &format!("one of {}", names.join(", ")),
                );
                cx.error(
                    name_node.expect("name came from it"),
                    &f.path.key("executor"),
                    format!("unknown executor \"{name}\"{hint}"),
                );
                None
            }
        },
    };
    check_keys(cx, f, name.filter(|_| own.is_some()), own);
    let name = name?;
    own?;
    match name {
        "constant-vus" => {
            let vus = opt_int(cx, f, "vus", 1, 1, MAX_VUS, "VUs");
            let duration = req_positive_duration(cx, f, "duration");
            Some(Executor::ConstantVus {
                vus: vus?,
                duration: duration?,
            })
        }
        "ramping-vus" => {
            let start_vus = opt_int(cx, f, "start_vus", 1, 0, MAX_VUS, "VUs");
            let stages = stages(cx, f, MAX_VUS, "VUs");
            let graceful_ramp_down =
                opt_duration(cx, f, "graceful_ramp_down", Duration::from_secs(30));
            Some(Executor::RampingVus {
                start_vus: start_vus?,
                stages: stages?,
                graceful_ramp_down: graceful_ramp_down?,
            })
        }
        "per-vu-iterations" | "shared-iterations" => {
            let vus = opt_int(cx, f, "vus", 1, 1, MAX_VUS, "VUs");
            let iterations = opt_int(cx, f, "iterations", 1, 1, MAX_ITERATIONS, "iterations");
            let max_duration =
                opt_positive_duration(cx, f, "max_duration", Duration::from_secs(600));
            let (vus, iterations, max_duration) = (vus?, iterations?, max_duration?);
            if name == "per-vu-iterations" {
                return Some(Executor::PerVuIterations {
                    vus,
                    iterations,
                    max_duration,
                });
            }
            if iterations < vus {
                let at = f.get("iterations").unwrap_or(f.node);
                cx.error(
                    at,
                    &f.path.key("iterations"),
                    format!(
                        "shared-iterations needs at least one iteration per VU: iterations ({iterations}) is less than vus ({vus})"
                    ),
                );
                return None;
            }
            Some(Executor::SharedIterations {
                vus,
                iterations,
                max_duration,
            })
        }
        "constant-arrival-rate" => {
            let rate = f.req(cx, "rate").and_then(|n| {
                int_of(
                    cx,
                    n,
                    &f.path.key("rate"),
                    1,
                    MAX_RATE,
                    "iterations per time unit",
                )
            });
            let time_unit = opt_positive_duration(cx, f, "time_unit", Duration::from_secs(1));
            let duration = req_positive_duration(cx, f, "duration");
            let vus = arrival_vus(cx, f);
            let (pre_allocated_vus, max_vus) = vus?;
            per_second_limit(cx, f, rate?, time_unit?)?;
            Some(Executor::ConstantArrivalRate {
                rate: rate?,
                time_unit: time_unit?,
                duration: duration?,
                pre_allocated_vus,
                max_vus,
            })
        }
        "ramping-arrival-rate" => {
            let start_rate = opt_int(
                cx,
                f,
                "start_rate",
                0,
                0,
                MAX_RATE,
                "iterations per time unit",
            );
            let time_unit = opt_positive_duration(cx, f, "time_unit", Duration::from_secs(1));
            let stages = stages(cx, f, MAX_RATE, "iterations per time unit");
            let vus = arrival_vus(cx, f);
            let (pre_allocated_vus, max_vus) = vus?;
            let peak = stages
                .as_ref()?
                .iter()
                .map(|s| s.target)
                .fold(start_rate?, u64::max);
            per_second_limit(cx, f, peak, time_unit?)?;
            Some(Executor::RampingArrivalRate {
                start_rate: start_rate?,
                time_unit: time_unit?,
                stages: stages?,
                pre_allocated_vus,
                max_vus,
            })
        }
        _ => unreachable!("checked against EXECUTORS"),
    }
}

/// Unknown keys, and keys that belong to another executor.
fn check_keys(cx: &mut Cx, f: &Fields, executor: Option<&str>, own: Option<&[&str]>) {
    for (key, knode, _) in &f.entries {
        if SCENARIO_KEYS.contains(key) {
            continue;
        }
        if let Some(own) = own {
            if own.contains(key) {
                continue;
            }
        }
        // k6 users write camelCase (`preAllocatedVUs`); judge the snake_case key they meant.
        let snake = to_snake(key);
        let camel = if snake != *key
            && (SCENARIO_KEYS.contains(&snake.as_str())
                || EXECUTORS.iter().any(|(_, k)| k.contains(&snake.as_str())))
        {
            format!(" (plan keys are snake_case: {snake})")
        } else {
            String::new()
        };
        let owners: Vec<&str> = EXECUTORS
            .iter()
            .filter(|(_, keys)| keys.contains(key) || keys.contains(&snake.as_str()))
            .map(|(n, _)| *n)
            .collect();
        let own_has_snake = own.is_some_and(|o| o.contains(&snake.as_str()))
            || SCENARIO_KEYS.contains(&snake.as_str());
        match (executor, own) {
            (Some(executor), Some(own)) if !owners.is_empty() && !own_has_snake => {
                cx.error(
                    knode,
                    &f.path.key(key),
                    format!(
                        "`{key}` is not a key of {executor}; it takes {} (`{}` belongs to {}){camel}",
                        own.join(", "),
                        if camel.is_empty() { key } else { snake.as_str() },
                        owners.join(", ")
                    ),
                );
            }
            (_, Some(own)) => {
                let known: Vec<&str> = SCENARIO_KEYS.iter().chain(own.iter()).copied().collect();
                let hint = key_hint(key, &known);
                cx.error(
                    knode,
                    &f.path.key(key),
                    format!("unknown key \"{key}\"{hint}"),
                );
            }
            (_, None) if owners.is_empty() => {
                // Without a valid executor, only keys no executor takes can be judged.
                let mut known: Vec<&str> = SCENARIO_KEYS.to_vec();
                for (_, keys) in EXECUTORS {
                    known.extend(keys.iter().copied());
                }
                let hint = key_hint(key, &known);
                cx.error(
                    knode,
                    &f.path.key(key),
                    format!("unknown key \"{key}\"{hint}"),
                );
            }
            (_, None) => {}
        }
    }
}

fn opt_int(
    cx: &mut Cx,
    f: &Fields,
    key: &str,
    default: u64,
    min: u64,
    max: u64,
    what: &str,
) -> Option<u64> {
    match f.get(key) {
        None => Some(default),
        Some(n) => int_of(cx, n, &f.path.key(key), min, max, what),
    }
}

fn opt_duration(cx: &mut Cx, f: &Fields, key: &str, default: Duration) -> Option<Duration> {
    match f.get(key) {
        None => Some(default),
        Some(n) => duration_of(cx, n, &f.path.key(key)),
    }
}

fn opt_positive_duration(
    cx: &mut Cx,
    f: &Fields,
    key: &str,
    default: Duration,
) -> Option<Duration> {
    match f.get(key) {
        None => Some(default),
        Some(n) => positive_duration_of(cx, n, &f.path.key(key)),
    }
}

/// The rate limit holds per second whatever the time unit: `rate: 1000, time_unit: 1ns` is a
/// trillion iterations a second.
fn per_second_limit(cx: &mut Cx, f: &Fields, rate: u64, time_unit: Duration) -> Option<()> {
    let per_second = rate as u128 * 1_000_000_000 / time_unit.as_nanos().max(1);
    if per_second > MAX_RATE as u128 {
        cx.error(
            f.get("time_unit").unwrap_or(f.node),
            &f.path.key("time_unit"),
            format!(
                "{rate} iterations per {} is {} per second, over the limit of {} per second; use a longer time_unit",
                crate::plan::duration::format_duration(time_unit),
                group_digits(per_second.min(u64::MAX as u128) as u64),
                group_digits(MAX_RATE)
            ),
        );
        return None;
    }
    Some(())
}

fn req_positive_duration(cx: &mut Cx, f: &Fields, key: &str) -> Option<Duration> {
    let n = f.req(cx, key)?;
    positive_duration_of(cx, n, &f.path.key(key))
}

/// `pre_allocated_vus` (required) and `max_vus` (default: the same).
fn arrival_vus(cx: &mut Cx, f: &Fields) -> Option<(u64, u64)> {
    let pre = f
        .req(cx, "pre_allocated_vus")
        .and_then(|n| int_of(cx, n, &f.path.key("pre_allocated_vus"), 0, MAX_VUS, "VUs"));
    let max = match f.get("max_vus") {
        None => pre,
        Some(n) => int_of(cx, n, &f.path.key("max_vus"), 0, MAX_VUS, "VUs"),
    };
    let (pre, max) = (pre?, max?);
    if max < pre {
        cx.error(
            f.get("max_vus").unwrap_or(f.node),
            &f.path.key("max_vus"),
            format!("max_vus ({max}) is less than pre_allocated_vus ({pre})"),
        );
        return None;
    }
    if max == 0 {
        cx.error(
            f.get("max_vus").unwrap_or(f.node),
            &f.path.key("max_vus"),
            "an arrival-rate executor needs at least one VU to run its iterations",
        );
        return None;
    }
    Some((pre, max))
}

/// `stages:` — at least one, each `{duration, target}`, not all of them 0s long.
fn stages(cx: &mut Cx, f: &Fields, max_target: u64, what: &str) -> Option<Vec<Stage>> {
    let node = f.req(cx, "stages")?;
    let path = f.path.key("stages");
    let items = seq_of(cx, node, &path)?;
    if items.is_empty() {
        cx.error(
            node,
            &path,
            "needs at least one stage, e.g. [{ duration: 1m, target: 10 }]",
        );
        return None;
    }
    if items.len() > MAX_STAGES {
        cx.error(
            node,
            &path,
            format!(
                "{} stages is over the limit of {}",
                items.len(),
                group_digits(MAX_STAGES as u64)
            ),
        );
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let p = path.index(i);
        let Some(s) = Fields::of(cx, item, &p, "a stage such as { duration: 1m, target: 10 }")
        else {
            ok = false;
            continue;
        };
        s.only(cx, &["duration", "target"]);
        let duration = s
            .req(cx, "duration")
            .and_then(|n| duration_of(cx, n, &p.key("duration")));
        let target = s
            .req(cx, "target")
            .and_then(|n| int_of(cx, n, &p.key("target"), 0, max_target, what));
        match (duration, target) {
            (Some(duration), Some(target)) => out.push(Stage { duration, target }),
            _ => ok = false,
        }
    }
    if !ok {
        return None;
    }
    let total: Duration = out.iter().map(|s| s.duration).sum();
    if total.is_zero() {
        cx.error(
            node,
            &path,
            "the stages add up to 0s; a stage of 0s jumps to its target at once, but the scenario needs some time to run",
        );
        return None;
    }
    if total > crate::plan::duration::MAX_DURATION {
        cx.error(
            node,
            &path,
            "the stages add up to more than the 30 day maximum",
        );
        return None;
    }
    Some(out)
}
