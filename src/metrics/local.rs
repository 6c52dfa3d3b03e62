//! The hot path's recorder: one [`Recorder`] per runtime worker thread, in a thread local, so a
//! request is recorded with no lock, no channel send and (after warm-up) no allocation.
//!
//! Hand-over: the collector bumps a shared epoch every interval. A thread hands over what it
//! recorded during the old epoch, tagged with that epoch, and starts afresh: when it next parks
//! (it has nothing to do), or, if it is too busy to park, after [`STALE_RECORDS`] more records;
//! and when it stops. Totals are exact (a thread always flushes when it stops); the time series
//! files each hand-over under the interval it was recorded in, give or take the few samples a
//! thread records between the epoch's end and its next park.
//!
//! Nothing of the hand-over lands on a response in hand. The bump comes while the thread sleeps
//! waiting for responses; handing over on the first record after it would put the work in the
//! middle of the round of responses that woke the thread, delaying all but the first.
//! A thread starts afresh on a recorder the collector cleared and gave back ([`Spares`]), or,
//! when none is back yet (the first interval), on an empty one whose histograms come from the
//! few the thread keeps made ahead ([`super::recorder::make_ready`], one made again per park):
//! creating and growing a new recorder's histograms on the records after the hand-over delayed
//! the requests in flight at that moment by a millisecond or more.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;

use super::recorder::Recorder;

/// A recorder handed to the collector, with the epoch its samples belong to.
pub struct Flush {
    pub epoch: u64,
    pub recorder: Recorder,
}

/// Where a thread sends its recorder. Cloned into every worker thread at start.
#[derive(Clone)]
pub struct Sink {
    pub tx: Sender<Flush>,
    pub epoch: Arc<AtomicU64>,
    pub spares: Spares,
}

/// Cleared recorders, given back by the collector for the threads' next intervals, at most
/// `max` of them.
#[derive(Clone)]
pub struct Spares {
    spare: Arc<std::sync::Mutex<Vec<Recorder>>>,
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

/// Records a thread that does not park may add to a stale epoch before it hands over anyway.
pub const STALE_RECORDS: u32 = 64;

struct Local {
    recorder: Recorder,
    epoch: u64,
    /// Records since the epoch moved on.
    stale: u32,
    sink: Sink,
}

impl Local {
    fn flush(&mut self) {
        let now = self.sink.epoch.load(Ordering::Relaxed);
        if !self.recorder.is_empty() {
            let next = self.sink.spares.take().unwrap_or_default();
            let recorder = std::mem::replace(&mut self.recorder, next);
            self.send(recorder);
        }
        self.epoch = now;
        self.stale = 0;
    }

    fn send(&self, recorder: Recorder) {
        // The collector outlives every worker; a send error means the run is being torn down
        // and the figures have nowhere to go.
        let _ = self.sink.tx.send(Flush {
            epoch: self.epoch,
            recorder,
        });
    }
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Histograms a worker thread keeps made ahead: enough for a request series and its scenario,
/// up to 65 ms (57 kB each). `at_most` of them are made at a time.
fn make_ready(at_most: usize) {
    super::recorder::make_ready(12, 1 << 16, at_most);
}

/// Makes this thread record into its own recorder, handed to `sink`.
pub fn install(sink: Sink) {
    make_ready(usize::MAX);
    let epoch = sink.epoch.load(Ordering::Relaxed);
    LOCAL.with(|l| {
        *l.borrow_mut() = Some(Local {
            recorder: Recorder::default(),
            epoch,
            stale: 0,
            sink,
        })
    });
}

/// Sends what this thread recorded and stops recording on it (thread stop).
pub fn uninstall() {
    LOCAL.with(|l| {
        if let Some(mut local) = l.borrow_mut().take() {
            if !local.recorder.is_empty() {
                let recorder = std::mem::take(&mut local.recorder);
                local.send(recorder);
            }
        }
    });
}

/// Hands over the recorder if the epoch moved on, and makes one histogram ahead if some were
/// taken (thread park).
pub fn flush_if_stale() {
    make_ready(1);
    LOCAL.with(|l| {
        if let Ok(mut l) = l.try_borrow_mut() {
            if let Some(local) = l.as_mut() {
                if local.epoch != local.sink.epoch.load(Ordering::Relaxed) {
                    local.flush();
                }
            }
        }
    });
}

/// Records into this thread's recorder. Samples recorded on a thread without a recorder (none
/// of the engine's) are dropped.
#[inline]
pub fn record(f: impl FnOnce(&mut Recorder)) {
    LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        if let Some(local) = l.as_mut() {
            if local.epoch != local.sink.epoch.load(Ordering::Relaxed) {
                // Handed over at the next park, unless the thread is too busy to park.
                local.stale += 1;
                if local.stale > STALE_RECORDS {
                    local.flush();
                }
            }
            f(&mut local.recorder);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recorder::{test_key, Trend};

    fn one_request(r: &mut Recorder) {
        r.record_request(test_key(200), &[(Trend::Duration, 1000)], 1, 1);
    }

    fn requests(f: &Flush) -> u64 {
        f.recorder.series.values().map(|s| s.count).sum()
    }

    #[test]
    fn a_thread_hands_over_when_it_parks_or_when_too_busy_to() {
        let (tx, rx) = std::sync::mpsc::channel();
        let epoch = Arc::new(AtomicU64::new(0));
        install(Sink {
            tx,
            epoch: epoch.clone(),
            spares: Spares::new(2),
        });
        record(one_request);
        epoch.store(1, Ordering::Relaxed);
        // The epoch moved on while the thread waited: the responses in hand are recorded first,
        // into the old epoch, and handed over when the thread parks.
        record(one_request);
        assert!(rx.try_recv().is_err());
        flush_if_stale();
        let f = rx.try_recv().unwrap();
        assert_eq!((f.epoch, requests(&f)), (0, 2));
        // A thread that never parks hands over after STALE_RECORDS records.
        record(one_request);
        epoch.store(2, Ordering::Relaxed);
        for _ in 0..STALE_RECORDS {
            record(one_request);
        }
        assert!(rx.try_recv().is_err());
        record(one_request);
        let f = rx.try_recv().unwrap();
        assert_eq!((f.epoch, requests(&f)), (1, 1 + u64::from(STALE_RECORDS)));
        // Parking in the same epoch hands nothing over; stopping hands over the rest.
        flush_if_stale();
        assert!(rx.try_recv().is_err());
        uninstall();
        let f = rx.try_recv().unwrap();
        assert_eq!((f.epoch, requests(&f)), (2, 1));
        assert!(rx.try_recv().is_err());
    }
}
