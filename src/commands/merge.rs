//! `merge PART.json ...`: the parts of a distributed run as one summary (`summary::merge`),
//! judged on the whole by the rules the parts carry, then reported and announced like a run.

use super::cli::MergeArgs;
use super::common::{read_summary, redacted};
use crate::redact::errln;
use crate::rules::Rules;
use crate::summary::merge::merge;
use crate::{exit, notify, report, verdict};

pub(super) fn command(args: &MergeArgs) -> anyhow::Result<u8> {
    let mut parts = Vec::new();
    for p in &args.parts {
        parts.push((p.clone(), read_summary(p)?));
    }
    let merged = merge(&parts).map_err(super::UsageError::from)?;
    let rules = Rules::of_summary(&merged);
    let merged = redacted(&verdict::judge(&merged, &rules).apply(merged));
    let code = match report::publish(&merged, &args.format, &args.out_dir) {
        Ok(_) => verdict::exit_code(&merged, false),
        Err(e) => {
            errln!("error: could not write the reports: {e:#}");
            exit::RUN_ERROR
        }
    };
    notify::announce(&merged, &args.notify.config(), &args.out_dir, code);
    Ok(code)
}
