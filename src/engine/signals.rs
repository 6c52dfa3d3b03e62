//! SIGINT and SIGTERM for `run`, from before the first request to the process's exit.
//!
//! During the run the first signal starts the graceful stop, the second cuts in-flight iterations
//! off, the third quits at once. The reports are written in all but the last case: a CI runner
//! cancelling a job sends SIGINT, then SIGTERM (GitHub Actions: 7.5 s later, and kills the step
//! 2.5 s after that). After the run, the network work that is not a report (the baseline
//! download, the notifiers) stops at the second signal of the run or the first one after it; one
//! more quits.
//!
//! The listener runs on a thread of its own: the engine's runtime is gone once the run is over,
//! and a signal tokio has taken over would otherwise be swallowed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;

use tokio_util::sync::CancellationToken;

use crate::engine::Stop;

static SKIP_EXTRAS: LazyLock<CancellationToken> = LazyLock::new(CancellationToken::new);
static RUN_OVER: AtomicBool = AtomicBool::new(false);

/// Cancelled when the baseline download and the notifiers are to be left.
pub fn extras_skipped() -> CancellationToken {
    SKIP_EXTRAS.clone()
}

/// The run is over: signals from now on stop the work after it.
pub fn run_over() {
    RUN_OVER.store(true, Ordering::SeqCst);
}

/// Starts listening for the command's lifetime.
pub fn listen(stop: Stop) {
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(wait_for_signals(stop));
        });
    if let Err(e) = spawned {
        crate::redact::errln!("warning: signals will stop the run at once: {e}");
    }
}

fn quit(why: &str) -> ! {
    crate::redact::errln!("\nquit: {why}");
    std::process::exit(i32::from(crate::exit::INTERRUPTED));
}

async fn wait_for_signals(stop: Stop) {
    #[cfg(unix)]
    let (Ok(mut int), Ok(mut term)) = ({
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    }) else {
        return;
    };
    let mut during = 0;
    loop {
        #[cfg(unix)]
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        if !RUN_OVER.load(Ordering::SeqCst) {
            during += 1;
            match during {
                1 => {
                    crate::redact::errln!("\nstopping: finishing in-flight iterations (graceful stop); signal again to cut them off");
                    stop.interrupt.cancel();
                }
                2 => {
                    crate::redact::errln!("\nstopping now: in-flight iterations cut off, writing the reports; signal again to quit without them");
                    SKIP_EXTRAS.cancel();
                    stop.now.cancel();
                }
                _ => quit("a third signal; no reports written"),
            }
        } else if !SKIP_EXTRAS.is_cancelled() {
            crate::redact::errln!("\nskipping the baseline download and the notifications that are left; signal again to quit at once");
            SKIP_EXTRAS.cancel();
        } else {
            quit("a second signal after the run");
        }
    }
}
