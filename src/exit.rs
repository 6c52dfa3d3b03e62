//! Exit codes: the contract CI gates rely on (the README, "Exit codes"). Which one a judged run
//! exits with is `crate::verdict::exit_code`.

/// Every threshold passed (or there were none).
pub const OK: u8 = 0;
/// The tool itself failed: reports could not be written, an internal error. Never a failure of
/// the target, which is a measurement.
pub const RUN_ERROR: u8 = 1;
/// The plan or the command line is invalid; nothing was sent.
pub const INVALID_PLAN: u8 = 2;
/// A run marked inconclusive (the load generator itself was saturated) with
/// `--fail-on-inconclusive`.
pub const INCONCLUSIVE: u8 = 98;
/// At least one threshold failed. The same code as k6, so existing CI gates keep working.
pub const THRESHOLDS_FAILED: u8 = 99;
/// Interrupted by SIGINT/SIGTERM, after writing partial reports; wins over a failed threshold.
pub const INTERRUPTED: u8 = 130;
