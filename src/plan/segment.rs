//! Execution segments (`--segment I/N`): the I-th of N equal slices of every selected scenario.
//!
//! Every figure (VUs, stage targets, arrival rates, iterations, pre-allocated and max VUs) is cut
//! so that the N slices add up to the whole exactly: slice *i* of a value *v* gets
//! `ceil(i·v/N) − ceil((i−1)·v/N)` (5 VUs over 2 segments is 3 + 2, as k6's execution segments).
//! Durations are not cut, so the slices run in step; rows of a `unique` feed are dealt out so no
//! two slices use the same row.

use std::sync::Arc;

use crate::plan::model::{Executor, FeedOrder, Plan};
use crate::summary::schema::Segment;

impl Segment {
    /// This slice's share of `v`.
    pub fn share(&self, v: u64) -> u64 {
        let (i, n) = (self.index as u128, self.count as u128);
        let cut = |k: u128| (k * v as u128).div_ceil(n);
        (cut(i) - cut(i - 1)) as u64
    }

    /// Cuts an executor's figures to this slice.
    pub fn apply(&self, e: &mut Executor) {
        let s = |v: &mut u64| *v = self.share(*v);
        match e {
            Executor::ConstantVus { vus, .. } | Executor::PerVuIterations { vus, .. } => s(vus),
            Executor::SharedIterations {
                vus, iterations, ..
            } => {
                s(vus);
                s(iterations);
            }
            Executor::RampingVus {
                start_vus, stages, ..
            } => {
                s(start_vus);
                stages.iter_mut().for_each(|st| s(&mut st.target));
            }
            Executor::ConstantArrivalRate {
                rate,
                pre_allocated_vus,
                max_vus,
                ..
            } => {
                s(rate);
                s(pre_allocated_vus);
                s(max_vus);
            }
            Executor::RampingArrivalRate {
                start_rate,
                stages,
                pre_allocated_vus,
                max_vus,
                ..
            } => {
                s(start_rate);
                stages.iter_mut().for_each(|st| s(&mut st.target));
                s(pre_allocated_vus);
                s(max_vus);
            }
        }
    }

    /// Cuts every scenario of the plan and deals out the rows of `unique` feeds.
    pub fn apply_to_plan(&self, plan: &mut Plan) {
        for sc in &mut plan.scenarios {
            self.apply(&mut sc.executor);
        }
        for f in &mut plan.feeds {
            if f.order == FeedOrder::Unique && self.count > 1 {
                let n = self.count as usize;
                let k = self.index as usize - 1;
                f.rows = Arc::new(f.rows.filtered(|i| i % n == k));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn parses_and_refuses() {
        assert_eq!("2/4".parse::<Segment>(), Ok(Segment { index: 2, count: 4 }));
        assert!("0/4"
            .parse::<Segment>()
            .unwrap_err()
            .contains("count from 1"));
        assert!("5/4".parse::<Segment>().is_err());
        assert!("1/0".parse::<Segment>().is_err());
        assert!("1-4".parse::<Segment>().unwrap_err().contains("I/N"));
    }

    #[test]
    fn shares_add_up_exactly() {
        for n in 1..=7u32 {
            for v in [0u64, 1, 2, 5, 7, 10, 99, 1000, 1001] {
                let total: u64 = (1..=n)
                    .map(|i| Segment { index: i, count: n }.share(v))
                    .sum();
                assert_eq!(total, v, "v={v} n={n}");
            }
        }
        assert_eq!(Segment { index: 1, count: 2 }.share(5), 3);
        assert_eq!(Segment { index: 2, count: 2 }.share(5), 2);
    }

    #[test]
    fn executors_are_cut_in_every_figure() {
        let mut e = Executor::RampingArrivalRate {
            start_rate: 10,
            time_unit: Duration::from_secs(1),
            stages: vec![crate::plan::model::Stage {
                duration: Duration::from_secs(10),
                target: 101,
            }],
            pre_allocated_vus: 9,
            max_vus: 21,
        };
        Segment { index: 3, count: 4 }.apply(&mut e);
        assert_eq!(
            e,
            Executor::RampingArrivalRate {
                start_rate: 3,
                time_unit: Duration::from_secs(1),
                stages: vec![crate::plan::model::Stage {
                    duration: Duration::from_secs(10),
                    target: 25
                }],
                pre_allocated_vus: 2,
                max_vus: 5,
            }
        );
    }
}
