//! The hot path's recorder: one [`Recorder`] per runtime worker thread, so a request is
//! recorded with no channel send, no contended lock and (after warm-up) no allocation.
//!
//! Hand-over: every interval the collector bumps a shared epoch and takes each thread's
//! recorder itself ([`Slots::take_all`]), swapping in a cleared one, whether the thread is busy
//! or asleep. Each recorder sits behind a mutex of its own that only its thread and, once an
//! interval, the collector lock: uncontended, it costs its thread two atomic operations per
//! record. A thread that stops hands over what is left.
//!
//! Before, a thread handed over by itself when it next parked after the epoch moved on; a worker
//! that recorded a few requests and then slept for seconds (an idle runtime worker at light
//! load) handed them over seconds late, and they landed in the wrong interval of the time series
//! (seen as 150, 41, 156, 132, 241 req/s for a steady 150).
//!
//! Nothing of the hand-over lands on a response in hand: the swap is O(1) and the merge runs on
//! the collector's thread. A thread records into a recorder the collector cleared and gave back
//! ([`Spares`]), or, when none is back yet (the first interval), into an empty one whose
//! histograms come from the few the thread keeps made ahead ([`super::recorder::make_ready`],
//! one made again per park): creating and growing a new recorder's histograms on the records
//! after the hand-over delayed the requests in flight at that moment by a millisecond or more.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard};

use super::recorder::Recorder;

/// A recorder handed to the collector, with the epoch its samples belong to.
pub struct Flush {
    pub epoch: u64,
    pub recorder: Recorder,
}

/// Where a thread's figures go. Cloned into every worker thread at start.
#[derive(Clone)]
pub struct Sink {
    pub tx: Sender<Flush>,
    pub epoch: Arc<AtomicU64>,
    pub spares: Spares,
    pub slots: Slots,
}

/// Cleared recorders, given back by the collector for the threads' next intervals, at most
/// `max` of them.
#[derive(Clone)]
pub struct Spares {
    spare: Arc<Mutex<Vec<Recorder>>>,
    max: usize,
}

impl Spares {
    /// Keeps at most `max` (two per worker thread cover a hand-over in flight).
    pub fn new(max: usize) -> Spares {
        Spares {
            spare: Arc::default(),
            max,
        }
    }

    /// A cleared recorder, if one is spare.
    pub fn take(&self) -> Option<Recorder> {
        self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    /// Keeps `r` (already cleared) for a thread's next interval.
    pub fn give(&self, r: Recorder) {
        let mut v = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if v.len() < self.max {
            v.push(r);
        }
    }
}

/// One thread's recorder and the epoch its samples belong to.
#[derive(Default)]
struct Slot {
    recorder: Recorder,
    epoch: u64,
}

fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every recording thread's slot, for the collector to take from.
#[derive(Clone, Default)]
pub struct Slots(Arc<Mutex<Vec<Arc<Mutex<Slot>>>>>);

impl Slots {
    /// Takes what every thread recorded before epoch `now` began, swapping in spare recorders.
    pub fn take_all(&self, now: u64, spares: &Spares) -> Vec<Flush> {
        let slots: Vec<Arc<Mutex<Slot>>> = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = Vec::new();
        for slot in slots {
            // The spare is found before the thread's lock is taken, so that the lock is held
            // for a swap and nothing else.
            let spare = spares.take();
            let mut s = lock(&slot);
            let epoch = std::mem::replace(&mut s.epoch, now);
            if s.recorder.is_empty() {
                drop(s);
                if let Some(spare) = spare {
                    spares.give(spare);
                }
                continue;
            }
            let recorder = std::mem::replace(&mut s.recorder, spare.unwrap_or_default());
            drop(s);
            out.push(Flush { epoch, recorder });
        }
        out
    }
}

struct Local {
    slot: Arc<Mutex<Slot>>,
    sink: Sink,
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Histograms a worker thread keeps made ahead: enough for a request series and its scenario,
/// up to 65 ms (57 kB each). `at_most` of them are made at a time.
fn make_ready(at_most: usize) {
    super::recorder::make_ready(12, 1 << 16, at_most);
}

/// Makes this thread record into its own recorder, taken by the collector through `sink.slots`.
pub fn install(sink: Sink) {
    make_ready(usize::MAX);
    let slot = Arc::new(Mutex::new(Slot {
        recorder: Recorder::default(),
        epoch: sink.epoch.load(Ordering::Relaxed),
    }));
    sink.slots
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(slot.clone());
    LOCAL.with(|l| *l.borrow_mut() = Some(Local { slot, sink }));
}

/// Sends what this thread recorded and stops recording on it (thread stop).
pub fn uninstall() {
    LOCAL.with(|l| {
        if let Some(local) = l.borrow_mut().take() {
            let mut s = lock(&local.slot);
            if !s.recorder.is_empty() {
                let recorder = std::mem::take(&mut s.recorder);
                // The collector outlives every worker; a send error means the run is being
                // torn down and the figures have nowhere to go.
                let _ = local.sink.tx.send(Flush {
                    epoch: s.epoch,
                    recorder,
                });
            }
        }
    });
}

/// Makes one histogram ahead if some were taken (thread park).
pub fn at_park() {
    make_ready(1);
}

/// Records into this thread's recorder. Samples recorded on a thread without a recorder (none
/// of the engine's) are dropped.
#[inline]
pub fn record(f: impl FnOnce(&mut Recorder)) {
    LOCAL.with(|l| {
        if let Some(local) = l.borrow().as_ref() {
            f(&mut lock(&local.slot).recorder);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::metrics::recorder::{test_key, Trend};

    fn one_request(r: &mut Recorder) {
        r.record_request(test_key(200), &[(Trend::Duration, 1000)], 1, 1);
    }

    fn requests(f: &Flush) -> u64 {
        f.recorder.series.values().map(|s| s.count).sum()
    }

    #[test]
    fn the_collector_takes_each_interval_from_busy_and_sleeping_threads_alike() {
        let (tx, rx) = std::sync::mpsc::channel();
        let epoch = Arc::new(AtomicU64::new(0));
        let (spares, slots) = (Spares::new(2), Slots::default());
        install(Sink {
            tx,
            epoch: epoch.clone(),
            spares: spares.clone(),
            slots: slots.clone(),
        });
        record(one_request);
        record(one_request);
        // Epoch 1 begins: the collector takes the two, tagged with epoch 0, whatever the
        // thread is doing; nothing goes through the channel.
        epoch.store(1, Ordering::Relaxed);
        let taken = slots.take_all(1, &spares);
        assert_eq!(taken.len(), 1);
        assert_eq!((taken[0].epoch, requests(&taken[0])), (0, 2));
        assert!(rx.try_recv().is_err());
        // An interval with nothing recorded hands nothing over.
        epoch.store(2, Ordering::Relaxed);
        assert!(slots.take_all(2, &spares).is_empty());
        // A spare given back is what the thread records into next.
        let mut cleared = Recorder::default();
        one_request(&mut cleared);
        cleared.clear();
        spares.give(cleared);
        record(one_request);
        epoch.store(3, Ordering::Relaxed);
        let taken = slots.take_all(3, &spares);
        assert_eq!((taken[0].epoch, requests(&taken[0])), (2, 1));
        assert!(spares.take().is_none(), "the spare went to the thread");
        // Stopping hands over the rest through the channel.
        record(one_request);
        uninstall();
        let f = rx.try_recv().unwrap();
        assert_eq!((f.epoch, requests(&f)), (3, 1));
        record(one_request);
        assert!(
            slots.take_all(4, &spares).is_empty(),
            "no recorder after uninstall"
        );
    }
}
