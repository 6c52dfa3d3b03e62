//! The one integration test binary: real processes, real servers on 127.0.0.1:0.

mod architecture;
mod ci;
mod deploy;
mod engine;
mod faults;
mod fixture;
mod hostile;
mod http1;
mod plans;
mod props;
mod reports;
mod run;
mod secrets;
mod soak_size;

/// Tests that send load run one at a time: the machine has 2 cores and timing matters.
pub fn load_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
