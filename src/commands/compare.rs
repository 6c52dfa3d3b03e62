//! `compare CURRENT.json BASELINE.json`: per scenario and endpoint, the change of p50/p95/p99,
//! error rate and req/s; exits 99 when a regression limit of `--plan` is broken.

use super::cli::CompareArgs;
use super::common::read_summary;
use crate::plan::{self, LoadOptions};
use crate::redact::out;
use crate::summary::compare::compare;
use crate::summary::schema::{Comparison, Delta, ThresholdStatus};
use crate::{exit, verdict};

pub(super) fn command(args: &CompareArgs) -> anyhow::Result<u8> {
    let current = read_summary(&args.current)?;
    let baseline = read_summary(&args.baseline)?;
    let rules = match &args.plan {
        Some(p) => {
            let opts = LoadOptions {
                env_lookup: &|name| std::env::var(name).ok(),
                strict_env: false,
            };
            plan::load(p, &opts)?.regressions
        }
        None => vec![],
    };
    let mut c = compare(
        &current,
        &baseline,
        &args.baseline.display().to_string(),
        &rules,
    )?;
    let decided = verdict::decide_rows(&c.regressions, &rules);
    verdict::write_rows(&mut c.regressions, &decided);
    out!("{}", render_text(&c));
    Ok(
        if c.regressions
            .iter()
            .any(|r| r.status == ThresholdStatus::Fail)
        {
            exit::THRESHOLDS_FAILED
        } else {
            exit::OK
        },
    )
}

fn fmt_delta(d: &Delta, unit: &str) -> String {
    let v = |x: Option<f64>| match (x, unit) {
        (None, _) => "-".to_string(),
        (Some(x), "%") => format!("{:.2}%", x * 100.0),
        (Some(x), u) => format!("{x:.1}{u}"),
    };
    match d.change_pct {
        Some(p) => format!("{} → {} ({:+.1}%)", v(d.baseline), v(d.current), p),
        None => format!("{} → {}", v(d.baseline), v(d.current)),
    }
}

/// The comparison as plain text, for the console.
fn render_text(c: &Comparison) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "compared with {} (started {})",
        c.source, c.baseline_started_at
    );
    if let Some(n) = &c.note {
        let _ = writeln!(out, "  {n}");
    }
    for s in &c.scenarios {
        let _ = writeln!(out, "\nscenario {}", s.name);
        for e in std::iter::once(&s.overall).chain(s.endpoints.iter()) {
            let name = if e.name.is_empty() {
                "(all requests)"
            } else {
                e.name.as_str()
            };
            let _ = writeln!(out, "  {name}");
            let _ = writeln!(
                out,
                "    p50 {}  p95 {}  p99 {}",
                fmt_delta(&e.p50, " ms"),
                fmt_delta(&e.p95, " ms"),
                fmt_delta(&e.p99, " ms")
            );
            let _ = writeln!(
                out,
                "    errors {}  req/s {}",
                fmt_delta(&e.error_rate, "%"),
                fmt_delta(&e.rps, "")
            );
        }
    }
    if !c.regressions.is_empty() {
        let _ = writeln!(out, "\nregression limits:");
        for r in &c.regressions {
            let mark = match r.status {
                ThresholdStatus::Pass => "✓",
                ThresholdStatus::Fail => "✗",
                ThresholdStatus::NoData => "○",
            };
            let f = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.3}"));
            let _ = writeln!(
                out,
                "  {mark} {}: {} {}  baseline {}  current {}  limit {}",
                r.scenario,
                r.metric,
                r.rule,
                f(r.baseline),
                f(r.current),
                f(r.limit)
            );
        }
    }
    out
}
