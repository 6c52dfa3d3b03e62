//! Pure schedule arithmetic: executor parameters → VU counts and arrival times over time.
//! No clocks and no network, so every shape is unit-tested exactly; the executors and the
//! dry-run printer both read from here.

use std::time::Duration;

use crate::plan::model::{Executor, Stage};

/// Linear interpolation through stages, as k6's ramping executors: the value moves from the
/// previous target to each stage's target over the stage's duration (a 0s stage jumps).
pub fn ramp_value(start: u64, stages: &[Stage], t: Duration) -> f64 {
    let mut from = start as f64;
    let mut elapsed = Duration::ZERO;
    for s in stages {
        let end = elapsed + s.duration;
        if t < end {
            let frac = (t - elapsed).as_secs_f64() / s.duration.as_secs_f64();
            return from + (s.target as f64 - from) * frac;
        }
        from = s.target as f64;
        elapsed = end;
    }
    from
}

/// The number of active VUs of a ramping-vus executor at `t` (k6 rounds down while ramping).
pub fn ramping_vus_at(start: u64, stages: &[Stage], t: Duration) -> u64 {
    ramp_value(start, stages, t).floor() as u64
}

/// Iterations started from 0 up to `t` by an arrival-rate executor: the integral of the rate.
/// `rate` values are per `time_unit`.
pub fn arrivals_until(start_rate: u64, stages: &[Stage], time_unit: Duration, t: Duration) -> f64 {
    let unit = time_unit.as_secs_f64();
    let mut total = 0.0;
    let mut from = start_rate as f64;
    let mut elapsed = Duration::ZERO;
    for s in stages {
        let d = s.duration.as_secs_f64();
        let end = elapsed + s.duration;
        let to = s.target as f64;
        if t < end {
            let x = (t - elapsed).as_secs_f64();
            let r_x = from + (to - from) * (x / d);
            return total + (from + r_x) / 2.0 * x / unit;
        }
        total += (from + to) / 2.0 * d / unit;
        from = to;
        elapsed = end;
    }
    total
}

/// The time at which the `n`-th iteration (0-based) of an arrival-rate executor starts, or
/// `None` when the schedule ends before it. Solved per stage from the trapezoid integral, so
/// start times are absolute deadlines and never drift.
pub fn arrival_time(
    start_rate: u64,
    stages: &[Stage],
    time_unit: Duration,
    n: u64,
) -> Option<Duration> {
    let unit = time_unit.as_secs_f64();
    let want = n as f64;
    let mut total = 0.0;
    let mut from = start_rate as f64 / unit;
    let mut elapsed = 0.0;
    for s in stages {
        let d = s.duration.as_secs_f64();
        let to = s.target as f64 / unit;
        let stage_total = (from + to) / 2.0 * d;
        if want < total + stage_total - 1e-9 {
            let need = want - total;
            // need = from*x + (to-from)/(2d) * x^2
            let a = (to - from) / (2.0 * d);
            let x = if a.abs() < 1e-12 {
                need / from
            } else {
                (-from + (from * from + 4.0 * a * need).max(0.0).sqrt()) / (2.0 * a)
            };
            return Some(Duration::from_secs_f64(elapsed + x.clamp(0.0, d)));
        }
        total += stage_total;
        from = to;
        elapsed += d;
    }
    None
}

/// The arrival-rate stages an executor follows (a constant rate is one flat stage).
pub fn arrival_stages(exec: &Executor) -> Option<(u64, Vec<Stage>, Duration)> {
    match exec {
        Executor::ConstantArrivalRate {
            rate,
            time_unit,
            duration,
            ..
        } => Some((
            *rate,
            vec![Stage {
                duration: *duration,
                target: *rate,
            }],
            *time_unit,
        )),
        Executor::RampingArrivalRate {
            start_rate,
            time_unit,
            stages,
            ..
        } => Some((*start_rate, stages.clone(), *time_unit)),
        _ => None,
    }
}

/// VUs a closed-model executor wants at `t` (arrival-rate executors: `None`).
pub fn vus_at(exec: &Executor, t: Duration) -> Option<u64> {
    match exec {
        Executor::ConstantVus { vus, .. }
        | Executor::PerVuIterations { vus, .. }
        | Executor::SharedIterations { vus, .. } => Some(*vus),
        Executor::RampingVus {
            start_vus, stages, ..
        } => Some(ramping_vus_at(*start_vus, stages, t)),
        _ => None,
    }
}

/// The longest the executor can run, graceful stops included.
pub fn max_total(exec: &Executor, graceful_stop: Duration) -> Duration {
    let ramp_down = match exec {
        Executor::RampingVus {
            graceful_ramp_down, ..
        } => *graceful_ramp_down,
        _ => Duration::ZERO,
    };
    exec.duration() + graceful_stop.max(ramp_down)
}

/// One row of a timeline: at `at`, the executor is at `value` (VUs or iterations per time unit).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub at: Duration,
    pub value: f64,
}

/// The corner points of an executor's shape, for printing and charts.
pub fn timeline(exec: &Executor) -> Vec<Point> {
    let corners = |start: u64, stages: &[Stage]| {
        let mut pts = vec![Point {
            at: Duration::ZERO,
            value: start as f64,
        }];
        let mut at = Duration::ZERO;
        for s in stages {
            at += s.duration;
            pts.push(Point {
                at,
                value: s.target as f64,
            });
        }
        pts
    };
    match exec {
        Executor::RampingVus {
            start_vus, stages, ..
        } => corners(*start_vus, stages),
        Executor::RampingArrivalRate {
            start_rate, stages, ..
        } => corners(*start_rate, stages),
        other => {
            let v = match other {
                Executor::ConstantArrivalRate { rate, .. } => *rate,
                _ => other.max_vus(),
            };
            vec![
                Point {
                    at: Duration::ZERO,
                    value: v as f64,
                },
                Point {
                    at: other.duration(),
                    value: v as f64,
                },
            ]
        }
    }
}

/// Expected iterations over the whole schedule: exact for iteration and arrival-rate executors;
/// for VU executors an estimate from VU-seconds and an assumed iteration time.
pub fn estimated_iterations(exec: &Executor, assumed_iteration: Duration) -> f64 {
    let per_vu = assumed_iteration.as_secs_f64().max(1e-3);
    match exec {
        Executor::ConstantVus { vus, duration } => *vus as f64 * duration.as_secs_f64() / per_vu,
        Executor::RampingVus {
            start_vus, stages, ..
        } => {
            // VU-seconds: the area under the ramp.
            let area = arrivals_until(*start_vus, stages, Duration::from_secs(1), exec.duration());
            area / per_vu
        }
        Executor::PerVuIterations {
            vus, iterations, ..
        } => (*vus * *iterations) as f64,
        Executor::SharedIterations { iterations, .. } => *iterations as f64,
        Executor::ConstantArrivalRate { .. } | Executor::RampingArrivalRate { .. } => {
            let (start, stages, unit) = arrival_stages(exec).expect("arrival executor");
            arrivals_until(start, &stages, unit, exec.duration()).floor()
        }
    }
}

/// Scales an executor so that its peak VU count is `peak` (`--vus`): every VU figure is
/// multiplied by peak / current peak and rounded, keeping at least 1 where it was non-zero.
pub fn scale_vus(exec: &mut Executor, peak: u64) {
    let current = exec.max_vus().max(1);
    let f = |v: &mut u64| {
        if *v > 0 {
            *v = ((*v as f64) * peak as f64 / current as f64)
                .round()
                .max(1.0) as u64;
        }
    };
    match exec {
        Executor::ConstantVus { vus, .. }
        | Executor::PerVuIterations { vus, .. }
        | Executor::SharedIterations { vus, .. } => *vus = peak,
        Executor::RampingVus {
            start_vus, stages, ..
        } => {
            f(start_vus);
            stages.iter_mut().for_each(|s| f(&mut s.target));
        }
        Executor::ConstantArrivalRate {
            pre_allocated_vus,
            max_vus,
            ..
        }
        | Executor::RampingArrivalRate {
            pre_allocated_vus,
            max_vus,
            ..
        } => {
            f(pre_allocated_vus);
            f(max_vus);
        }
    }
    if let Executor::SharedIterations {
        vus, iterations, ..
    } = exec
    {
        *iterations = (*iterations).max(*vus);
    }
}

/// Scales every duration of an executor so that its total is `total` (`--duration`).
pub fn scale_duration(exec: &mut Executor, total: Duration) {
    let current = exec.duration();
    match exec {
        Executor::ConstantVus { duration, .. } | Executor::ConstantArrivalRate { duration, .. } => {
            *duration = total
        }
        Executor::PerVuIterations { max_duration, .. }
        | Executor::SharedIterations { max_duration, .. } => *max_duration = total,
        Executor::RampingVus { stages, .. } | Executor::RampingArrivalRate { stages, .. } => {
            if current.is_zero() {
                return;
            }
            let f = total.as_secs_f64() / current.as_secs_f64();
            for s in stages.iter_mut() {
                s.duration = Duration::from_secs_f64(s.duration.as_secs_f64() * f);
            }
        }
    }
}

/// The load a ramping executor applies over time, for the capacity search: its unit and its
/// level `at` a number of seconds into the scenario.
pub struct LoadCurve {
    /// `VUs` or `iterations/s`.
    pub unit: &'static str,
    pub at: Box<dyn Fn(f64) -> f64>,
}

/// The load curve of a ramping executor (`ramping-vus`, `ramping-arrival-rate`); `None` for the
/// others, which hold one level.
pub fn load_curve(exec: &Executor) -> Option<LoadCurve> {
    match exec {
        Executor::RampingVus {
            start_vus, stages, ..
        } => {
            let (sv, st) = (*start_vus, stages.clone());
            Some(LoadCurve {
                unit: "VUs",
                at: Box::new(move |t| {
                    ramping_vus_at(sv, &st, Duration::from_secs_f64(t.max(0.0))) as f64
                }),
            })
        }
        Executor::RampingArrivalRate {
            start_rate,
            stages,
            time_unit,
            ..
        } => {
            let (sr, st, unit) = (*start_rate, stages.clone(), time_unit.as_secs_f64());
            Some(LoadCurve {
                unit: "iterations/s",
                at: Box::new(move |t| {
                    ramp_value(sr, &st, Duration::from_secs_f64(t.max(0.0))) / unit
                }),
            })
        }
        _ => None,
    }
}

/// The soak-drift window of a scenario: the plan's `drift_window`, else a tenth of the
/// scenario, at least 1 minute and at most 10. A window is only compared with another when the
/// scenario's steady part holds two of them ([`drift_judgeable`]): a shorter run compares
/// seconds of noise.
pub fn drift_window(configured: Option<Duration>, scenario: Duration) -> Duration {
    configured.unwrap_or_else(|| {
        (scenario / 10)
            .min(Duration::from_secs(600))
            .max(Duration::from_secs(60))
    })
}

/// Whether `steady` (the time a scenario ran before it stopped starting iterations) holds two
/// whole drift windows, so that the first and the last do not overlap.
pub fn drift_judgeable(steady: Duration, window: Duration) -> bool {
    steady + Duration::from_millis(5) >= window * 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(secs: u64, target: u64) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            target,
        }
    }

    #[test]
    fn ramping_vus_interpolates_linearly_and_holds_the_last_target() {
        let stages = [st(10, 10), st(10, 10), st(10, 0)];
        assert_eq!(ramping_vus_at(0, &stages, Duration::ZERO), 0);
        assert_eq!(ramping_vus_at(0, &stages, Duration::from_secs(5)), 5);
        assert_eq!(ramping_vus_at(0, &stages, Duration::from_secs(15)), 10);
        assert_eq!(ramping_vus_at(0, &stages, Duration::from_secs(25)), 5);
        assert_eq!(ramping_vus_at(0, &stages, Duration::from_secs(99)), 0);
    }

    #[test]
    fn zero_length_stage_jumps() {
        let stages = [st(0, 50), st(10, 50)];
        assert_eq!(ramping_vus_at(1, &stages, Duration::ZERO), 50);
    }

    #[test]
    fn constant_rate_arrivals_are_evenly_spaced() {
        let stages = [st(10, 5)];
        let unit = Duration::from_secs(1);
        assert_eq!(arrival_time(5, &stages, unit, 0), Some(Duration::ZERO));
        assert_eq!(
            arrival_time(5, &stages, unit, 1),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            arrival_time(5, &stages, unit, 49).map(|d| d.as_millis()),
            Some(9800)
        );
        assert_eq!(arrival_time(5, &stages, unit, 50), None);
        assert!((arrivals_until(5, &stages, unit, Duration::from_secs(10)) - 50.0).abs() < 1e-9);
    }

    #[test]
    fn ramping_rate_integral_and_inverse_agree() {
        let stages = [st(10, 100), st(10, 0)];
        let unit = Duration::from_secs(1);
        // 0→100/s over 10 s is 500 iterations, back down another 500.
        assert!((arrivals_until(0, &stages, unit, Duration::from_secs(10)) - 500.0).abs() < 1e-6);
        assert!((arrivals_until(0, &stages, unit, Duration::from_secs(20)) - 1000.0).abs() < 1e-6);
        for n in [1u64, 10, 250, 499, 500, 750, 999] {
            let t = arrival_time(0, &stages, unit, n).unwrap();
            let back = arrivals_until(0, &stages, unit, t);
            assert!((back - n as f64).abs() < 1e-3, "n={n} t={t:?} back={back}");
        }
        assert_eq!(arrival_time(0, &stages, unit, 1000), None);
    }

    #[test]
    fn time_unit_scales_the_rate() {
        let stages = [st(60, 30)];
        let unit = Duration::from_secs(60);
        assert_eq!(
            arrival_time(30, &stages, unit, 1),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn scale_vus_keeps_the_shape() {
        let mut e = Executor::RampingVus {
            start_vus: 10,
            stages: vec![st(60, 50), st(60, 100), st(60, 0)],
            graceful_ramp_down: Duration::from_secs(30),
        };
        scale_vus(&mut e, 10);
        assert_eq!(e.max_vus(), 10);
        if let Executor::RampingVus {
            start_vus, stages, ..
        } = &e
        {
            assert_eq!(*start_vus, 1);
            assert_eq!(
                stages.iter().map(|s| s.target).collect::<Vec<_>>(),
                vec![5, 10, 0]
            );
        }
    }

    #[test]
    fn scale_duration_keeps_proportions() {
        let mut e = Executor::RampingVus {
            start_vus: 0,
            stages: vec![st(60, 10), st(180, 10), st(60, 0)],
            graceful_ramp_down: Duration::ZERO,
        };
        scale_duration(&mut e, Duration::from_secs(30));
        assert_eq!(e.duration(), Duration::from_secs(30));
        if let Executor::RampingVus { stages, .. } = &e {
            assert_eq!(stages[1].duration, Duration::from_secs(18));
        }
    }

    #[test]
    fn estimates() {
        let e = Executor::PerVuIterations {
            vus: 3,
            iterations: 4,
            max_duration: Duration::from_secs(10),
        };
        assert_eq!(estimated_iterations(&e, Duration::from_secs(1)), 12.0);
        let e = Executor::ConstantArrivalRate {
            rate: 20,
            time_unit: Duration::from_secs(1),
            duration: Duration::from_secs(30),
            pre_allocated_vus: 5,
            max_vus: 5,
        };
        assert_eq!(estimated_iterations(&e, Duration::from_secs(1)), 600.0);
    }
}
