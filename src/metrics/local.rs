//! The hot path's recorder: one [`Recorder`] per runtime worker thread, in a thread local, so a
//! request is recorded with no lock, no channel send and (after warm-up) no allocation.
//!
//! Hand-over: the collector bumps a shared epoch every interval. A thread notices on its next
//! record (or when it parks, or when it stops) and sends what it recorded during the old epoch to
//! the collector, tagged with that epoch, then starts afresh. Totals are exact (a thread always
//! flushes when it stops); the time series files each hand-over under the interval it was
//! recorded in.
//!
//! The thread starts afresh on a recorder the collector cleared and gave back ([`Spares`]), so
//! that a hand-over allocates and zeroes nothing on the thread that sends requests: allocating
//! and zeroing a recorder's histograms (~190 kB each) once per interval on that thread delayed
//! the requests in flight at that moment by up to a millisecond.

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

    /// A cleared recorder, or a new one when none is spare.
    pub fn take(&self) -> Recorder {
        self.spare
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default()
    }

    /// Keeps `r` (already cleared) for a thread's next interval.
    pub fn give(&self, r: Recorder) {
        let mut v = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if v.len() < self.max {
            v.push(r);
        }
    }
}

struct Local {
    recorder: Recorder,
    epoch: u64,
    sink: Sink,
}

impl Local {
    fn flush(&mut self) {
        let now = self.sink.epoch.load(Ordering::Relaxed);
        if !self.recorder.is_empty() {
            let recorder = std::mem::replace(&mut self.recorder, self.sink.spares.take());
            // The collector outlives every worker; a send error means the run is being torn
            // down and the figures have nowhere to go.
            let _ = self.sink.tx.send(Flush {
                epoch: self.epoch,
                recorder,
            });
        }
        self.epoch = now;
    }
}

thread_local! {
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
}

/// Makes this thread record into its own recorder, handed to `sink`.
pub fn install(sink: Sink) {
    let epoch = sink.epoch.load(Ordering::Relaxed);
    LOCAL.with(|l| {
        *l.borrow_mut() = Some(Local {
            recorder: Recorder::default(),
            epoch,
            sink,
        })
    });
}

/// Sends what this thread recorded and stops recording on it (thread stop).
pub fn uninstall() {
    LOCAL.with(|l| {
        if let Some(mut local) = l.borrow_mut().take() {
            local.flush();
        }
    });
}

/// Hands over the recorder if the epoch moved on (thread park).
pub fn flush_if_stale() {
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
                local.flush();
            }
            f(&mut local.recorder);
        }
    });
}
