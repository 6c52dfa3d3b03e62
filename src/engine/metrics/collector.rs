//! The collector: one thread that owns the run's merged [`Recorder`] and its time series.
//!
//! Every interval it bumps the epoch and takes each worker thread's recorder (swapping in a
//! cleared one, see [`super::local`]), folds it into the totals and into the interval it was
//! recorded in, samples the VU gauges, closes intervals that can no longer receive data, and
//! calls the tick callback (live progress, abort-on-fail). A thread that stops hands over the
//! rest on one channel ([`Flush`]); the collector ends when every sender is gone, i.e. after the
//! runtime's worker threads have stopped and flushed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::local::Flush;
use super::recorder::{IntervalStats, Recorder};
use crate::summary::schema::Point;

/// Live figures of one scenario, written by the executors, read by the collector.
#[derive(Debug, Default)]
pub struct Gauges {
    /// VUs running an iteration or waiting to start one.
    pub active: AtomicU64,
    /// VUs allocated so far (arrival-rate executors grow their pool).
    pub allocated: AtomicU64,
    /// Milliseconds from the run's start to the scenario's start (set when it starts).
    pub started_ms: AtomicU64,
    /// Milliseconds from the run's start to the moment the scenario stopped starting
    /// iterations (set before `stopping`).
    pub stopped_ms: AtomicU64,
    pub stopping: AtomicBool,
    pub running: AtomicBool,
    pub finished: AtomicBool,
    /// Arrival-rate iterations dropped for lack of a free VU (counted by the scheduler).
    pub dropped: AtomicU64,
}

/// What the tick callback sees.
pub struct Tick<'a> {
    pub elapsed: Duration,
    pub total: &'a Recorder,
    /// Per scenario: the last closed interval.
    pub last: &'a [Option<Point>],
}

pub struct Collected {
    pub total: Recorder,
    /// Per scenario.
    pub series: Vec<Vec<Point>>,
    pub interval: Duration,
    /// Per scenario: the first and the last drift window (exact histograms).
    pub windows: Vec<Option<Windows>>,
}

/// The first and last window of a scenario, for soak drift: exact figures over each.
#[derive(Debug, Clone)]
pub struct Windows {
    pub window: Duration,
    pub first: IntervalStats,
    /// Seconds the first window really covers (shorter if the scenario was).
    pub first_span_s: f64,
    pub last: IntervalStats,
    /// Seconds the last window really covers: at least the window when the scenario was that
    /// long, at most a tenth of it or one interval more.
    pub last_span_s: f64,
    /// How many of the scenario's time-series points, from the first, the windows cover: the
    /// intervals that ended by the time it stopped starting iterations.
    pub steady_points: usize,
    /// Seconds from the scenario's start to the end of the last of those intervals: its
    /// steady part, which both windows lie in.
    pub steady_s: f64,
}

/// Accumulates the first window whole, and the last window as a ring of buckets (a tenth of the
/// window each) that always covers at least the window.
///
/// The collector adds only the intervals that ended by the time the scenario stopped starting
/// iterations: its planned end, Ctrl-C or an abort. Later ones hold the graceful stop's few
/// iterations (VUs finishing, none starting), which would read as a collapse of throughput at
/// the end of every run; they stay in the time series and the totals.
#[derive(Debug, Clone)]
struct WindowAcc {
    window: Duration,
    first: IntervalStats,
    first_end_s: f64,
    /// (bucket index, start of its first interval, merged figures).
    ring: std::collections::VecDeque<(u64, f64, IntervalStats)>,
    last_t_s: f64,
    added: usize,
}

impl WindowAcc {
    const BUCKETS: u64 = 10;

    fn new(window: Duration) -> Self {
        WindowAcc {
            window,
            first: IntervalStats::default(),
            first_end_s: 0.0,
            ring: Default::default(),
            last_t_s: 0.0,
            added: 0,
        }
    }

    /// Adds the interval starting `t_s` into the scenario, of which the scenario ran `width_s`
    /// (less than the interval at its start or end).
    fn add(&mut self, t_s: f64, width_s: f64, iv: &IntervalStats) {
        let w = self.window.as_secs_f64().max(1e-3);
        let end = t_s + width_s;
        // The first window: the intervals that end within it (always the first one).
        if self.added == 0 || end <= w + EDGE_S {
            self.first.merge(iv);
            self.first_end_s = self.first_end_s.max(end);
        }
        self.added += 1;
        let bucket_s = w / Self::BUCKETS as f64;
        let b = (t_s / bucket_s).floor() as u64;
        match self.ring.back_mut() {
            Some((last, _, acc)) if *last == b => acc.merge(iv),
            _ => {
                let mut acc = IntervalStats::default();
                acc.merge(iv);
                self.ring.push_back((b, t_s, acc));
            }
        }
        self.last_t_s = self.last_t_s.max(end);
        // The oldest bucket goes once the others cover the window without it.
        while self.ring.len() > 1 && self.last_t_s - self.ring[1].1 >= w - 1e-9 {
            self.ring.pop_front();
        }
    }

    fn finish(&self) -> Option<Windows> {
        let start = self.ring.front()?.1;
        let mut last = IntervalStats::default();
        for (_, _, iv) in &self.ring {
            last.merge(iv);
        }
        Some(Windows {
            window: self.window,
            first: self.first.clone(),
            first_span_s: self.first_end_s.max(1e-3),
            last,
            last_span_s: (self.last_t_s - start).max(1e-3),
            steady_points: self.added,
            steady_s: self.last_t_s,
        })
    }
}

/// Slack when comparing an interval's end with a window's or the scenario's stop: start times
/// are kept in whole milliseconds.
const EDGE_S: f64 = 0.005;

pub type TickFn = Box<dyn FnMut(&Tick<'_>) + Send>;

/// Starts the collector thread: it takes the hand-overs from `rx` and gives their recorders
/// back to `spares`, merged and cleared.
pub fn spawn(
    (rx, spares, slots): (Receiver<Flush>, super::local::Spares, super::local::Slots),
    epoch: Arc<AtomicU64>,
    gauges: Arc<Vec<Gauges>>,
    interval: Duration,
    windows: Vec<Duration>,
    started: Instant,
    mut on_tick: TickFn,
) -> JoinHandle<Collected> {
    std::thread::Builder::new()
        .name("collector".into())
        .spawn(move || {
            let n = gauges.len();
            let mut c = State {
                total: Recorder::default(),
                open: BTreeMap::new(),
                vus: BTreeMap::new(),
                series: vec![Vec::new(); n],
                last: vec![None; n],
                interval,
                gauges,
                windows: windows.into_iter().map(WindowAcc::new).collect(),
                closed: 0,
            };
            let mut next_tick = started + interval;
            loop {
                let wait = next_tick.saturating_duration_since(Instant::now());
                match rx.recv_timeout(wait) {
                    Ok(flush) => spares.give(c.absorb(flush)),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                if Instant::now() >= next_tick {
                    let e = epoch.fetch_add(1, Ordering::Relaxed);
                    for flush in slots.take_all(e + 1, &spares) {
                        spares.give(c.absorb(flush));
                    }
                    c.sample_vus(e);
                    // Interval e-1 had a whole interval to be handed over: close it.
                    c.close_before(e);
                    next_tick += interval;
                    if next_tick < Instant::now() {
                        next_tick = Instant::now() + interval;
                    }
                    on_tick(&Tick {
                        elapsed: started.elapsed(),
                        total: &c.total,
                        last: &c.last,
                    });
                }
            }
            let e = epoch.load(Ordering::Relaxed);
            c.sample_vus(e);
            c.close_before(u64::MAX);
            Collected {
                windows: c.windows.iter().map(WindowAcc::finish).collect(),
                total: c.total,
                series: c.series,
                interval,
            }
        })
        .expect("spawn the collector thread")
}

struct State {
    total: Recorder,
    /// Interval figures per epoch, per scenario, not yet closed.
    open: BTreeMap<u64, Vec<IntervalStats>>,
    /// VUs sampled at the end of each epoch, per scenario.
    vus: BTreeMap<u64, Vec<u64>>,
    series: Vec<Vec<Point>>,
    last: Vec<Option<Point>>,
    interval: Duration,
    gauges: Arc<Vec<Gauges>>,
    windows: Vec<WindowAcc>,
    /// Epochs below this are closed: in the series.
    closed: u64,
}

impl State {
    /// Merges a hand-over; returns its recorder cleared, for a thread's next interval.
    fn absorb(&mut self, mut flush: Flush) -> Recorder {
        // The interval figures are the time series', not the totals': out while the rest merges.
        let intervals = std::mem::take(&mut flush.recorder.interval);
        // A thread that slept through the end of its epoch hands over late: filed under the
        // oldest interval still open, not under one already in the series.
        let slot = self.open.entry(flush.epoch.max(self.closed)).or_default();
        for (i, iv) in intervals.iter().enumerate() {
            if slot.len() <= i {
                slot.resize_with(i + 1, Default::default);
            }
            slot[i].merge(iv);
        }
        self.total.merge(&flush.recorder);
        flush.recorder.interval = intervals;
        flush.recorder.clear();
        flush.recorder
    }

    fn sample_vus(&mut self, epoch: u64) {
        let v = self
            .gauges
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let active = g.active.load(Ordering::Relaxed);
                let s = self.total.scenario_mut(i as u16);
                // As k6's `vus_max`: the VUs allocated, busy or not (an arrival-rate scenario's
                // pool, a ramping one's peak), or more if more were seen busy.
                let allocated = g.allocated.load(Ordering::Relaxed);
                s.vus_max = s.vus_max.max(active).max(allocated);
                s.vus_last = active;
                if g.running.load(Ordering::Relaxed) || active > 0 {
                    active
                } else {
                    u64::MAX // not running: no point
                }
            })
            .collect();
        self.vus.insert(epoch, v);
    }

    fn close_before(&mut self, epoch: u64) {
        self.closed = self.closed.max(epoch);
        let keys: Vec<u64> = self
            .open
            .keys()
            .chain(self.vus.keys())
            .copied()
            .filter(|e| *e < epoch)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for e in keys {
            let mut stats = self.open.remove(&e).unwrap_or_default();
            let vus = self.vus.remove(&e).unwrap_or_default();
            for (i, g) in self.gauges.iter().enumerate() {
                // Taken, not cloned: an interval's histogram is ~190 kB.
                let iv = stats.get_mut(i).map(std::mem::take).unwrap_or_default();
                let v = vus.get(i).copied().unwrap_or(u64::MAX);
                if v == u64::MAX && iv.requests == 0 && iv.iterations == 0 {
                    continue;
                }
                let start = Duration::from_millis(g.started_ms.load(Ordering::Relaxed));
                let at = self.interval * e as u32;
                let t = at.saturating_sub(start).as_secs_f64();
                // Steady: it ended before the scenario stopped starting iterations. An
                // interval closed while the scenario had not stopped ended before it did.
                let end = at + self.interval;
                let steady = !g.stopping.load(Ordering::Acquire) || {
                    let stopped = Duration::from_millis(g.stopped_ms.load(Ordering::Relaxed));
                    end.saturating_sub(start).as_secs_f64()
                        <= stopped.saturating_sub(start).as_secs_f64() + EDGE_S
                };
                // The part of a steady interval the scenario ran: less than all of it when the
                // scenario started inside it.
                let width = end.saturating_sub(at.max(start)).as_secs_f64();
                let pct = |q: f64| {
                    iv.duration
                        .as_ref()
                        .filter(|h| !h.is_empty())
                        .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
                };
                let p = Point {
                    t,
                    requests: iv.requests,
                    failed: iv.failed,
                    iterations: iv.iterations,
                    vus: if v == u64::MAX { 0 } else { v },
                    p50: pct(0.50),
                    p95: pct(0.95),
                    p99: pct(0.99),
                };
                if let Some(w) = self.windows.get_mut(i).filter(|_| steady) {
                    w.add(t, width, &iv);
                }
                self.last[i] = Some(p.clone());
                self.series[i].push(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::metrics::local::Spares;
    use crate::engine::metrics::recorder::{test_key, Trend};

    fn wait_for_epoch(epoch: &AtomicU64, at_least: u64) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while epoch.load(Ordering::Relaxed) < at_least {
            assert!(Instant::now() < deadline, "the collector stopped ticking");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn requests(n: u64) -> IntervalStats {
        IntervalStats {
            requests: n,
            ..Default::default()
        }
    }

    /// Closes `per_second.len()` one-second intervals of a scenario that started `start_ms`
    /// into the run and stopped starting iterations at `stopped_ms`.
    fn close_all(start_ms: u64, stopped_ms: u64, per_second: &[u64]) -> (Windows, Vec<Point>) {
        let g = Gauges::default();
        g.started_ms.store(start_ms, Ordering::Relaxed);
        g.stopped_ms.store(stopped_ms, Ordering::Relaxed);
        g.stopping.store(true, Ordering::Relaxed);
        let mut c = State {
            total: Recorder::default(),
            open: per_second
                .iter()
                .enumerate()
                .map(|(e, n)| (e as u64, vec![requests(*n)]))
                .collect(),
            vus: BTreeMap::new(),
            series: vec![Vec::new()],
            last: vec![None],
            interval: Duration::from_secs(1),
            gauges: Arc::new(vec![g]),
            windows: vec![WindowAcc::new(Duration::from_secs(1))],
            closed: 0,
        };
        c.close_before(u64::MAX);
        (c.windows[0].finish().unwrap(), c.series.remove(0))
    }

    #[test]
    fn the_graceful_stop_is_not_in_the_drift_windows() {
        // A 10-s scenario, 100 requests a second, 1-s intervals and window; then the graceful
        // stop: 5 requests in 0.2 s as the VUs finish.
        let mut second: Vec<u64> = (0..10).map(|i| 100 + i).collect();
        second.push(5);
        let (w, points) = close_all(0, 10_000, &second);
        assert_eq!(points.len(), 11, "the stop stays in the series");
        assert_eq!(w.steady_points, 10);
        assert_eq!((w.first.requests, w.first_span_s), (100, 1.0));
        assert_eq!((w.last.requests, w.last_span_s), (109, 1.0));
        // Started 3 ms into the run: its intervals start 3 ms early; the one holding the stop
        // also holds the plan's last 3 ms, and is left out.
        let (w, points) = close_all(3, 10_003, &second);
        assert_eq!((points.len(), w.steady_points), (11, 10));
        assert_eq!((w.first.requests, w.first_span_s), (100, 0.997));
        assert_eq!(w.last.requests, 109);
        assert!((w.last_span_s - 1.0).abs() < 1e-9, "{w:?}");
        // Started 999 ms in: the first interval covers 1 ms, so the first window takes the
        // next one too.
        let (w, _) = close_all(999, 10_999, &second);
        assert_eq!((w.first.requests, w.first_span_s), (100 + 101, 1.001));
    }

    #[test]
    fn the_last_drift_window_is_a_whole_window_when_the_run_stops_early() {
        // Interrupted 5.3 s into a 10-s plan, ended 0.1 s later: the last window is the last
        // whole second before the interruption, not the 0.3 s and the stop after it.
        let (w, _) = close_all(0, 5_300, &[100, 100, 100, 100, 101, 40]);
        assert_eq!((w.steady_points, w.last.requests), (5, 101));
        assert_eq!(w.last_span_s, 1.0);
        // A 3-s window over 1-s intervals keeps exactly the last three.
        let mut acc = WindowAcc::new(Duration::from_secs(3));
        for t in 0..10 {
            acc.add(t as f64, 1.0, &requests(t));
        }
        let got = acc.finish().unwrap();
        assert_eq!((got.first.requests, got.first_span_s), (3, 3.0));
        assert_eq!((got.last.requests, got.last_span_s), (7 + 8 + 9, 3.0));
    }

    #[test]
    fn a_late_hand_over_joins_the_oldest_open_interval() {
        let (tx, rx) = std::sync::mpsc::channel();
        let epoch = Arc::new(AtomicU64::new(0));
        let gauges = Arc::new(vec![Gauges::default()]);
        gauges[0].running.store(true, Ordering::Relaxed);
        let collector = spawn(
            (rx, Spares::new(2), Default::default()),
            epoch.clone(),
            gauges,
            Duration::from_millis(5),
            Vec::new(),
            Instant::now(),
            Box::new(|_| {}),
        );
        // One request of epoch 0, handed over.
        let hand_over = |micros| {
            let mut recorder = Recorder::default();
            recorder.record_request(test_key(200), &[(Trend::Duration, micros)], 1, 1);
            tx.send(Flush { epoch: 0, recorder }).unwrap();
        };
        hand_over(1000);
        // A thread that slept through epochs 0 to 3 hands over what it recorded in epoch 0.
        wait_for_epoch(&epoch, 4);
        hand_over(3000);
        wait_for_epoch(&epoch, 7);
        drop(tx);
        let c = collector.join().unwrap();
        let series = &c.series[0];
        let ts: Vec<f64> = series.iter().map(|p| p.t).collect();
        assert!(ts.windows(2).all(|w| w[0] < w[1]), "times {ts:?}");
        let requests: Vec<u64> = series.iter().map(|p| p.requests).collect();
        assert_eq!(requests.iter().sum::<u64>(), 2, "{requests:?}");
        assert_eq!(c.total.series[&test_key(200)].count, 2);
    }
}
