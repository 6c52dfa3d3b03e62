//! `Recorder`: every measurement of a run, keyed by small integer tag sets, with latencies in HDR
//! histograms. Workers each fill their own recorder and hand it to the collector, which folds
//! them together with [`Recorder::merge`]; merging is exact because every histogram has the same
//! resolution (3 significant digits from 1 µs) and the same ceiling (1 h).

use serde::{Deserialize, Serialize};

use super::fxhash::FxHashMap;
use crate::engine::http::reason::Reason;
use crate::summary::hist::{new_hist, record_hist, Hist};
use crate::summary::schema::{absorb_gauge, ErrorClass, RawGauge};

thread_local! {
    /// Histograms made ahead on this thread ([`make_ready`]), taken by its first records.
    static READY: std::cell::RefCell<Vec<Hist>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Makes histograms ahead on this thread until it holds `n`, grown to cover `up_to` µs and
/// written once, so that the thread's records take them instead of stopping to create them
/// (a new request series needs up to nine; creating them held the rest of a round of responses
/// up by half a millisecond). `at_most` bounds how many are made in this call.
pub fn make_ready(n: usize, up_to: u64, at_most: usize) {
    READY.with(|r| {
        let mut r = r.borrow_mut();
        let missing = n.saturating_sub(r.len()).min(at_most);
        r.extend((0..missing).map(|_| {
            let mut h = new_hist();
            record_hist(&mut h, up_to);
            h.reset();
            h
        }))
    });
}

/// A histogram for a record: one made ahead, or a new one.
fn fresh() -> Box<Hist> {
    Box::new(
        READY
            .with(|r| r.borrow_mut().pop())
            .unwrap_or_else(new_hist),
    )
}

/// Request trends, in the order of [`SeriesStats::hists`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    Duration = 0,
    Waiting = 1,
    Receiving = 2,
    Sending = 3,
    Connecting = 4,
    TlsHandshaking = 5,
    Blocked = 6,
}

pub const TRENDS: [(Trend, &str); 7] = [
    (Trend::Duration, "http_req_duration"),
    (Trend::Waiting, "http_req_waiting"),
    (Trend::Receiving, "http_req_receiving"),
    (Trend::Sending, "http_req_sending"),
    (Trend::Connecting, "http_req_connecting"),
    (Trend::TlsHandshaking, "http_req_tls_handshaking"),
    (Trend::Blocked, "http_req_blocked"),
];

pub fn trend_by_metric(name: &str) -> Option<Trend> {
    TRENDS.iter().find(|(_, n)| *n == name).map(|(t, _)| *t)
}

/// The tag set of a request sample. `request` and `group` are indices into the plan (group 0 is
/// "no group"); status 0 means no response was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesKey {
    pub scenario: u16,
    pub request: u16,
    pub group: u16,
    pub status: u16,
    pub error: ErrorClass,
    /// `http_req_failed`: the response was not an expected one (k6's `expected_response:false`).
    pub failed: bool,
}

#[derive(Debug, Clone, Default)]
pub struct SeriesStats {
    pub count: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Allocated on first use: a histogram costs ~190 KB, and most series never see most trends.
    pub hists: [Option<Box<Hist>>; 7],
}

impl SeriesStats {
    pub fn record(&mut self, trend: Trend, micros: u64) {
        record_hist(self.hists[trend as usize].get_or_insert_with(fresh), micros);
    }

    pub fn hist(&self, trend: Trend) -> Option<&Hist> {
        self.hists[trend as usize].as_deref()
    }

    fn merge(&mut self, other: &SeriesStats) {
        self.count += other.count;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        for (mine, theirs) in self.hists.iter_mut().zip(other.hists.iter()) {
            if let Some(h) = theirs {
                if h.is_empty() {
                    continue;
                }
                mine.get_or_insert_with(|| Box::new(new_hist()))
                    .add(h.as_ref())
                    .expect("same bounds");
            }
        }
    }
}

/// A series key for tests: request 1 of scenario 0 answered with `status`.
#[cfg(test)]
pub(crate) fn test_key(status: u16) -> SeriesKey {
    SeriesKey {
        scenario: 0,
        request: 1,
        group: 0,
        status,
        error: ErrorClass::None,
        failed: false,
    }
}

/// Per-scenario iteration figures.
#[derive(Debug, Clone, Default)]
pub struct ScenarioStats {
    /// Iterations that ran to their end.
    pub iterations: u64,
    /// Iterations cut off by a graceful stop or ramp-down running out.
    pub interrupted: u64,
    /// Arrival-rate iterations that could not start because no VU was free.
    pub dropped: u64,
    pub iteration_duration: Option<Box<Hist>>,
    /// Open model only: how late iterations started against their schedule (µs).
    pub start_lag: Option<Box<Hist>>,
    /// Open model only: request durations measured from the actual send (uncorrected).
    pub raw_duration: Option<Box<Hist>>,
    /// Highest number of VUs seen active, and allocated.
    pub vus_max: u64,
    pub vus_last: u64,
}

impl ScenarioStats {
    fn merge(&mut self, o: &ScenarioStats) {
        self.iterations += o.iterations;
        self.interrupted += o.interrupted;
        self.dropped += o.dropped;
        merge_opt(&mut self.iteration_duration, &o.iteration_duration);
        merge_opt(&mut self.start_lag, &o.start_lag);
        merge_opt(&mut self.raw_duration, &o.raw_duration);
        self.vus_max = self.vus_max.max(o.vus_max);
        self.vus_last = self.vus_last.max(o.vus_last);
    }
}

pub fn merge_opt(mine: &mut Option<Box<Hist>>, theirs: &Option<Box<Hist>>) {
    if let Some(h) = theirs {
        if !h.is_empty() {
            mine.get_or_insert_with(|| Box::new(new_hist()))
                .add(h.as_ref())
                .expect("same bounds");
        }
    }
}

/// Zeroes a histogram that is there (its memory is kept).
pub fn reset_opt(slot: &mut Option<Box<Hist>>) {
    if let Some(h) = slot {
        if !h.is_empty() {
            h.reset();
        }
    }
}

pub fn record_opt(slot: &mut Option<Box<Hist>>, micros: u64) {
    record_hist(slot.get_or_insert_with(fresh), micros);
}

/// A check's tag set: the scenario, the check's index in the plan's check table, and the group
/// its request ran in (k6 keeps a check per group: `::group::check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CheckKey {
    pub scenario: u16,
    pub check: u32,
    pub group: u16,
}

/// A group's tag set, for `group_duration`: the scenario and the group's index (never 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    pub scenario: u16,
    pub group: u16,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckStats {
    pub passes: u64,
    pub fails: u64,
}

/// A custom metric sample's tag set: scenario, metric and the request that fed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CustomKey {
    pub scenario: u16,
    pub metric: u16,
    pub request: u16,
}

#[derive(Debug, Clone, Default)]
pub struct CustomStats {
    /// Counter: the sum; rate, trend and gauge: the number of samples.
    pub count: u64,
    /// Rate: the non-zero samples; counter: the number of samples.
    pub trues: u64,
    pub hist: Option<Box<Hist>>,
    /// Gauge: the last value and the extremes.
    pub gauge: Option<RawGauge>,
}

/// What one interval of the time series holds for one scenario.
#[derive(Debug, Clone, Default)]
pub struct IntervalStats {
    pub requests: u64,
    pub failed: u64,
    pub iterations: u64,
    pub duration: Option<Box<Hist>>,
}

impl IntervalStats {
    /// Zeroes the figures, keeping the histogram's memory.
    pub fn clear(&mut self) {
        self.requests = 0;
        self.failed = 0;
        self.iterations = 0;
        reset_opt(&mut self.duration);
    }

    pub fn merge(&mut self, o: &IntervalStats) {
        self.requests += o.requests;
        self.failed += o.failed;
        self.iterations += o.iterations;
        merge_opt(&mut self.duration, &o.duration);
    }
}

/// A request cut off in flight: its scenario, request and group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CutKey {
    pub scenario: u16,
    pub request: u16,
    pub group: u16,
}

/// Requests cut off in flight, and the bytes they had to send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CutStats {
    pub count: u64,
    pub bytes_sent: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Recorder {
    /// Looked up on every request: hashed with [`super::fxhash`], not SipHash.
    pub series: FxHashMap<SeriesKey, SeriesStats>,
    /// Indexed by scenario.
    pub scenarios: Vec<ScenarioStats>,
    pub checks: FxHashMap<CheckKey, CheckStats>,
    pub custom: FxHashMap<CustomKey, CustomStats>,
    /// Requests cut off in flight: not in `series` (k6 leaves them out of `http_reqs`).
    pub cut: FxHashMap<CutKey, CutStats>,
    /// `group_duration`: how long each run of a group took (µs).
    pub groups: FxHashMap<GroupKey, Box<Hist>>,
    /// Requests that could not be built (`invalid_request`: a value made the URL or a header
    /// unsendable) and were never sent: not in `series` either.
    pub invalid: FxHashMap<CutKey, u64>,
    /// Why requests failed, per request and group: recorded with a failed request (and one that
    /// could not be built), never with a success.
    pub reasons: FxHashMap<(CutKey, Reason), u64>,
    /// The current interval, per scenario (the collector files it under the right second).
    pub interval: Vec<IntervalStats>,
}

impl Recorder {
    pub fn scenario_mut(&mut self, scenario: u16) -> &mut ScenarioStats {
        let i = scenario as usize;
        if self.scenarios.len() <= i {
            self.scenarios.resize_with(i + 1, Default::default);
        }
        &mut self.scenarios[i]
    }

    pub fn interval_mut(&mut self, scenario: u16) -> &mut IntervalStats {
        let i = scenario as usize;
        if self.interval.len() <= i {
            self.interval.resize_with(i + 1, Default::default);
        }
        &mut self.interval[i]
    }

    /// One HTTP request's figures. `timings` holds (trend, µs) pairs that were measured.
    pub fn record_request(
        &mut self,
        key: SeriesKey,
        timings: &[(Trend, u64)],
        bytes_sent: u64,
        bytes_received: u64,
    ) {
        let s = self.series.entry(key).or_default();
        s.count += 1;
        s.bytes_sent += bytes_sent;
        s.bytes_received += bytes_received;
        let mut duration = None;
        for &(trend, micros) in timings {
            s.record(trend, micros);
            if trend == Trend::Duration {
                duration = Some(micros);
            }
        }
        let iv = self.interval_mut(key.scenario);
        iv.requests += 1;
        iv.failed += key.failed as u64;
        if let Some(d) = duration {
            record_opt(&mut iv.duration, d);
        }
    }

    pub fn record_check(&mut self, key: CheckKey, passed: bool) {
        let c = self.checks.entry(key).or_default();
        if passed {
            c.passes += 1;
        } else {
            c.fails += 1;
        }
    }

    pub fn record_custom_trend(&mut self, key: CustomKey, micros: u64) {
        let c = self.custom.entry(key).or_default();
        c.count += 1;
        record_opt(&mut c.hist, micros);
    }

    /// A counter sample: `count` sums the values, `trues` counts the samples (a counter fed
    /// only zeroes has data: 0).
    pub fn record_custom_counter(&mut self, key: CustomKey, add: u64) {
        let c = self.custom.entry(key).or_default();
        c.count += add;
        c.trues += 1;
    }

    pub fn record_custom_rate(&mut self, key: CustomKey, value: bool) {
        let c = self.custom.entry(key).or_default();
        c.count += 1;
        c.trues += value as u64;
    }

    /// One run of a group's steps, start to end.
    pub fn record_group(&mut self, scenario: u16, group: u16, micros: u64) {
        let h = self
            .groups
            .entry(GroupKey { scenario, group })
            .or_insert_with(fresh);
        record_hist(h, micros);
    }

    /// A gauge sample, recorded at `at_us` (microseconds since the Unix epoch).
    pub fn record_custom_gauge(&mut self, key: CustomKey, value: f64, at_us: u64) {
        let c = self.custom.entry(key).or_default();
        c.count += 1;
        absorb_gauge(&mut c.gauge, Some(&RawGauge::new(value, at_us)));
    }

    /// A request cut off in flight, with the bytes it was sending.
    pub fn record_cut_request(&mut self, key: CutKey, bytes_sent: u64) {
        let c = self.cut.entry(key).or_default();
        c.count += 1;
        c.bytes_sent += bytes_sent;
    }

    /// A request that could not be built, and so was not sent.
    pub fn record_invalid_request(&mut self, key: CutKey) {
        *self.invalid.entry(key).or_default() += 1;
    }

    /// Why a request failed.
    pub fn record_reason(&mut self, key: CutKey, reason: Reason) {
        *self.reasons.entry((key, reason)).or_default() += 1;
    }

    pub fn record_iteration(&mut self, scenario: u16, micros: u64, completed: bool) {
        let s = self.scenario_mut(scenario);
        if completed {
            s.iterations += 1;
            record_opt(&mut s.iteration_duration, micros);
        } else {
            s.interrupted += 1;
        }
        if completed {
            self.interval_mut(scenario).iterations += 1;
        }
    }

    /// Nothing recorded (a cleared recorder keeps its keys, with zeroes).
    pub fn is_empty(&self) -> bool {
        self.series.values().all(|s| s.count == 0)
            && self.checks.values().all(|c| c.passes == 0 && c.fails == 0)
            && self.custom.values().all(|c| c.count == 0 && c.trues == 0)
            && self.cut.values().all(|c| c.count == 0)
            && self.groups.values().all(|h| h.is_empty())
            && self.invalid.values().all(|&n| n == 0)
            && self.reasons.values().all(|&n| n == 0)
            && self.scenarios.iter().all(|s| {
                s.iterations == 0 && s.interrupted == 0 && s.dropped == 0 && s.vus_max == 0
            })
            && self
                .interval
                .iter()
                .all(|i| i.requests == 0 && i.iterations == 0)
    }

    /// Folds `other` into `self`, exactly.
    pub fn merge(&mut self, other: &Recorder) {
        for (k, v) in &other.series {
            self.series.entry(*k).or_default().merge(v);
        }
        for (i, s) in other.scenarios.iter().enumerate() {
            self.scenario_mut(i as u16).merge(s);
        }
        for (k, v) in &other.checks {
            let c = self.checks.entry(*k).or_default();
            c.passes += v.passes;
            c.fails += v.fails;
        }
        for (k, v) in &other.custom {
            let c = self.custom.entry(*k).or_default();
            c.count += v.count;
            c.trues += v.trues;
            merge_opt(&mut c.hist, &v.hist);
            absorb_gauge(&mut c.gauge, v.gauge.as_ref());
        }
        for (k, v) in &other.cut {
            let c = self.cut.entry(*k).or_default();
            c.count += v.count;
            c.bytes_sent += v.bytes_sent;
        }
        for (k, h) in &other.groups {
            if !h.is_empty() {
                self.groups
                    .entry(*k)
                    .or_insert_with(|| Box::new(new_hist()))
                    .add(h.as_ref())
                    .expect("same bounds");
            }
        }
        for (k, n) in &other.invalid {
            *self.invalid.entry(*k).or_default() += n;
        }
        for (k, n) in &other.reasons {
            *self.reasons.entry(*k).or_default() += n;
        }
        for (i, iv) in other.interval.iter().enumerate() {
            self.interval_mut(i as u16).merge(iv);
        }
    }

    /// Zeroes every figure, keeping the keys and the histograms' memory: a recorder handed
    /// back to a worker thread records its next interval without allocating.
    pub fn clear(&mut self) {
        for s in self.series.values_mut() {
            s.count = 0;
            s.bytes_sent = 0;
            s.bytes_received = 0;
            for h in &mut s.hists {
                reset_opt(h);
            }
        }
        for s in &mut self.scenarios {
            let ScenarioStats {
                iterations,
                interrupted,
                dropped,
                iteration_duration,
                start_lag,
                raw_duration,
                vus_max,
                vus_last,
            } = s;
            *iterations = 0;
            *interrupted = 0;
            *dropped = 0;
            *vus_max = 0;
            *vus_last = 0;
            reset_opt(iteration_duration);
            reset_opt(start_lag);
            reset_opt(raw_duration);
        }
        for c in self.checks.values_mut() {
            *c = CheckStats::default();
        }
        for c in self.custom.values_mut() {
            c.count = 0;
            c.trues = 0;
            reset_opt(&mut c.hist);
            c.gauge = None;
        }
        for c in self.cut.values_mut() {
            *c = CutStats::default();
        }
        for h in self.groups.values_mut() {
            if !h.is_empty() {
                h.reset();
            }
        }
        for n in self.invalid.values_mut() {
            *n = 0;
        }
        for n in self.reasons.values_mut() {
            *n = 0;
        }
        for iv in &mut self.interval {
            iv.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::hist::{HIST_HIGH, HIST_LOW, HIST_SIGFIG};
    use hdrhistogram::Histogram;

    fn key(status: u16) -> SeriesKey {
        test_key(status)
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        let mut all = Recorder::default();
        for i in 1..=1000u64 {
            let target = if i % 3 == 0 { &mut a } else { &mut b };
            target.record_request(key(200), &[(Trend::Duration, i * 17)], 10, 20);
            all.record_request(key(200), &[(Trend::Duration, i * 17)], 10, 20);
        }
        a.merge(&b);
        let merged = a.series[&key(200)].hist(Trend::Duration).unwrap();
        let single = all.series[&key(200)].hist(Trend::Duration).unwrap();
        assert_eq!(merged, single);
        assert_eq!(a.series[&key(200)].count, 1000);
        assert_eq!(a.series[&key(200)].bytes_received, 20_000);
        assert_eq!(
            merged.value_at_quantile(0.95),
            single.value_at_quantile(0.95)
        );
    }

    /// Gauges recorded on several threads merge to what one thread would hold: the value
    /// recorded last (by time, whatever the order of merging), the lowest and the highest.
    #[test]
    fn gauges_merge_to_the_last_value_and_the_extremes() {
        let k = CustomKey {
            scenario: 0,
            metric: 0,
            request: 0,
        };
        let samples = [(5.0, 100), (-2.0, 300), (9.0, 200), (4.0, 400), (7.0, 150)];
        let mut all = Recorder::default();
        let mut parts = [
            Recorder::default(),
            Recorder::default(),
            Recorder::default(),
        ];
        for (i, &(v, at)) in samples.iter().enumerate() {
            all.record_custom_gauge(k, v, at);
            parts[i % 3].record_custom_gauge(k, v, at);
        }
        let want = RawGauge {
            value: 4.0,
            at_us: 400,
            min: -2.0,
            max: 9.0,
        };
        assert_eq!(all.custom[&k].gauge, Some(want));
        for order in [[0, 1, 2], [2, 1, 0], [1, 0, 2]] {
            let mut merged = Recorder::default();
            for i in order {
                merged.merge(&parts[i]);
            }
            assert_eq!(merged.custom[&k].gauge, Some(want), "{order:?}");
            assert_eq!(merged.custom[&k].count, 5);
        }
        // A tie in time keeps the larger value, whichever side it came from.
        let mut a = RawGauge::new(1.0, 10);
        a.absorb(&RawGauge::new(3.0, 10));
        let mut b = RawGauge::new(3.0, 10);
        b.absorb(&RawGauge::new(1.0, 10));
        assert_eq!((a.value, b.value), (3.0, 3.0));
        // Cleared, a recorder holds no gauge, and records afresh.
        let mut r = all.clone();
        r.clear();
        assert!(r.is_empty() && r.custom[&k].gauge.is_none());
        r.record_custom_gauge(k, 1.5, 500);
        assert_eq!(r.custom[&k].gauge, Some(RawGauge::new(1.5, 500)));
    }

    #[test]
    fn a_cleared_recorder_is_empty_and_records_afresh() {
        let mut r = Recorder::default();
        r.record_request(
            key(200),
            &[(Trend::Duration, 1500), (Trend::Waiting, 900)],
            10,
            20,
        );
        r.record_check(
            CheckKey {
                scenario: 0,
                check: 0,
                group: 0,
            },
            false,
        );
        r.record_iteration(0, 2000, true);
        assert!(!r.is_empty());
        r.clear();
        // Keys and histograms stay (nothing to allocate next time), with zeroes in them.
        assert!(r.is_empty());
        let s = &r.series[&key(200)];
        assert_eq!((s.count, s.bytes_sent), (0, 0));
        assert!(s.hist(Trend::Duration).is_some_and(|h| h.is_empty()));
        // Merged into a total, a cleared recorder adds nothing; what it records next is exact.
        let mut total = Recorder::default();
        total.merge(&r);
        assert_eq!(total.series.get(&key(200)).map_or(0, |s| s.count), 0);
        r.record_request(key(200), &[(Trend::Duration, 700)], 1, 2);
        total.merge(&r);
        let s = &total.series[&key(200)];
        assert_eq!((s.count, s.bytes_received), (1, 2));
        assert_eq!(s.hist(Trend::Duration).unwrap().len(), 1);
        assert_eq!(total.scenarios[0].iterations, 0);
        assert_eq!(total.checks.values().map(|c| c.fails).sum::<u64>(), 0);
    }

    /// Reasons add up across recorders reason by reason; a cleared recorder keeps its keys at 0
    /// and adds nothing.
    #[test]
    fn reasons_merge_and_clear_like_the_counts() {
        let at = CutKey {
            scenario: 0,
            request: 1,
            group: 0,
        };
        let refused = Reason::new(ErrorClass::Connect, "connection refused");
        let expired = Reason::new(ErrorClass::Tls, "certificate expired");
        let (mut a, mut b) = (Recorder::default(), Recorder::default());
        a.record_reason(at, refused);
        b.record_reason(at, refused);
        b.record_reason(at, expired);
        a.merge(&b);
        assert_eq!(a.reasons[&(at, refused)], 2);
        assert_eq!(a.reasons[&(at, expired)], 1);
        b.clear();
        assert!(b.is_empty());
        a.merge(&b);
        assert_eq!(a.reasons[&(at, refused)], 2);
    }

    #[test]
    fn values_outside_the_bounds_are_clamped_not_lost() {
        let mut r = Recorder::default();
        r.record_request(key(200), &[(Trend::Duration, 0)], 0, 0);
        r.record_request(key(200), &[(Trend::Duration, u64::MAX)], 0, 0);
        let h = r.series[&key(200)].hist(Trend::Duration).unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 0);
        assert_eq!(h.max(), h.highest_equivalent(HIST_HIGH));
    }

    #[test]
    fn the_first_records_of_a_thread_take_the_histograms_made_ahead() {
        // Each test runs on a thread of its own: nothing else is ready on this one.
        make_ready(2, 1 << 16, 2);
        let mut r = Recorder::default();
        r.record_request(
            key(200),
            &[(Trend::Duration, 20_500), (Trend::Waiting, 3)],
            0,
            0,
        );
        r.record_iteration(0, 21_000, true);
        let s = &r.series[&key(200)];
        for (trend, value) in [(Trend::Duration, 20_500), (Trend::Waiting, 3)] {
            let h = s.hist(trend).unwrap();
            // Made ahead: already grown past 65 ms, yet holding only what was recorded.
            assert!(h.distinct_values() >= 7 * 1024, "{trend:?}");
            assert_eq!(
                (h.len(), h.min(), h.max()),
                (1, h.lowest_equivalent(value), h.highest_equivalent(value))
            );
        }
        // The ready ones are used up: the next histogram is made then, small.
        let h = r.scenarios[0].iteration_duration.as_ref().unwrap();
        assert!(h.distinct_values() < 7 * 1024);
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn histograms_grow_with_their_values_and_merge_exactly_across_sizes() {
        // Small values keep a histogram small; merging one that grew further is still exact.
        let mut small = new_hist();
        let mut large = new_hist();
        let mut reference =
            Histogram::<u64>::new_with_bounds(HIST_LOW, HIST_HIGH, HIST_SIGFIG).unwrap();
        for v in [0, 1, 17, 950, 2047] {
            record_hist(&mut small, v);
            reference.record(v).unwrap();
        }
        for v in [20_000, 20_480, 1_500_000, 3_599_999_999] {
            record_hist(&mut large, v);
            reference.record(v).unwrap();
        }
        assert!(small.distinct_values() * 8 <= 16 * 1024);
        small.add(&large).unwrap();
        large.add(new_hist()).unwrap();
        for q in [0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0] {
            assert_eq!(
                small.value_at_quantile(q),
                reference.value_at_quantile(q),
                "q {q}"
            );
        }
        assert_eq!(
            (small.len(), small.max()),
            (reference.len(), reference.max())
        );
        assert_eq!(small.mean(), reference.mean());
    }
}
