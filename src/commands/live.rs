//! What `run` does on the collector's tick, once a second on the collector's thread: the live
//! progress line, and every 2 s the thresholds with `abort_on_fail`, judged by
//! `verdict::judge` on what was measured so far, as the end of the run judges them.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::metrics::collector::{Tick, TickFn};
use crate::engine::{self, Stop};
use crate::plan::model::Plan;
use crate::redact::errln;
use crate::rules::Rules;
use crate::summary::build;
use crate::summary::dataset::{Dataset, Names};
use crate::verdict;

/// What the tick needs of the run.
pub(super) struct Live {
    pub plan: Arc<Plan>,
    /// The scenarios of the run (indices into the plan).
    pub chosen: Vec<usize>,
    pub rules: Rules,
    pub stop: Stop,
    /// The run's planned length, graceful stops included.
    pub planned: Duration,
    pub quiet: bool,
}

/// The collector's tick of a run.
pub(super) fn ticker(live: Live) -> TickFn {
    let tty = std::io::stderr().is_terminal();
    let mut ticks = 0u64;
    let mut groups = vec![String::new()];
    for &i in &live.chosen {
        let s = &live.plan.scenarios[i];
        for steps in [&s.setup, &s.flow, &s.teardown] {
            engine::vu::compile_steps(steps, &mut groups);
        }
    }
    let (checks, _) = engine::check_table(&live.plan);
    let can_abort = live.rules.can_abort();
    Box::new(move |t: &Tick<'_>| {
        ticks += 1;
        if !live.quiet && (tty || ticks % 10 == 0) {
            let line = progress_line(&live, t);
            if tty {
                // Our own carriage return and erase-line, around the escaped line.
                use std::io::Write as _;
                let line = crate::redact::redact(&line);
                let _ = std::io::stderr().write_all(format!("\r{line}\x1b[K").as_bytes());
            } else {
                errln!("{line}");
            }
        }
        if can_abort && ticks % 2 == 0 && !live.stop.abort.is_cancelled() {
            check_abort(&live, t, &groups, &checks);
        }
    })
}

/// `[  12s/70s] smoke  vus=10  req/s=312  p95=23.1ms  errors=0.00%`.
fn progress_line(live: &Live, t: &Tick<'_>) -> String {
    let mut reqs = 0;
    let mut failed = 0;
    let mut vus = 0;
    let mut p95: Option<f64> = None;
    let mut names = Vec::new();
    for &i in &live.chosen {
        if let Some(p) = &t.last[i] {
            reqs += p.requests;
            failed += p.failed;
            vus += p.vus;
            p95 = p.p95.map(|v| p95.map_or(v, |m: f64| m.max(v)));
            if p.vus > 0 || p.requests > 0 {
                names.push(live.plan.scenarios[i].name.as_str());
            }
        }
    }
    let err = if reqs == 0 {
        0.0
    } else {
        failed as f64 * 100.0 / reqs as f64
    };
    format!(
        "[{:>5.0}s/{:.0}s] {:<16} vus={:<5} req/s={:<8} p95={:<10} errors={:.2}%",
        t.elapsed.as_secs_f64(),
        live.planned.as_secs_f64(),
        names.join("+"),
        vus,
        reqs,
        p95.map_or("-".to_string(), |v| format!("{v:.1}ms")),
        err
    )
}

/// Judges the armed `abort_on_fail` conditions on what was measured so far; the first that
/// fails stops the run.
fn check_abort(live: &Live, t: &Tick<'_>, groups: &[String], checks: &[(String, usize)]) {
    let armed = live.rules.armed(t.elapsed);
    let durations: Vec<(usize, f64)> = live
        .chosen
        .iter()
        .map(|&i| (i, t.elapsed.as_secs_f64()))
        .collect();
    let ds = Dataset::from_recorder(
        t.total,
        &Names {
            plan: &live.plan,
            groups,
            checks,
            durations: &durations,
        },
    );
    let so_far = build::interim(&ds, &armed);
    if let Some(reason) = verdict::judge(&so_far, &armed).first_failed_threshold(&so_far) {
        errln!("\nabort: threshold {reason} failed (abort_on_fail)");
        *live.stop.abort_reason.lock().expect("abort reason") = Some(reason);
        live.stop.abort.cancel();
    }
}
