//! `serve-fixture`: the in-memory reference API until SIGINT/SIGTERM, with its knobs.

use super::cli::FixtureArgs;
use super::UsageError;
use crate::exit;
use crate::fixture::{self, FixtureConfig};

pub(super) fn command(args: &FixtureArgs) -> anyhow::Result<u8> {
    let mut cfg = FixtureConfig::default();
    if let Some(l) = &args.latency {
        cfg.latency = l.parse().map_err(|e: String| UsageError::BadFlag {
            flag: "--latency",
            reason: e,
        })?;
    }
    if !(0.0..=1.0).contains(&args.error_rate) {
        return Err(UsageError::BadFlag {
            flag: "--error-rate",
            reason: format!("{} is not between 0 and 1", args.error_rate),
        }
        .into());
    }
    cfg.error_rate = args.error_rate;
    cfg.seed_users = args.seed_users;
    cfg.concurrency_limit = args.concurrency_limit;
    fixture::serve_until_signal(args.addr, cfg)?;
    Ok(exit::OK)
}
