//! `report SUMMARY.json`: re-renders reports from a saved summary, judged again by its own rules
//! (the same verdict, so the same bytes).

use super::cli::ReportArgs;
use super::common::read_summary;
use crate::redact::outln;
use crate::rules::Rules;
use crate::{exit, report, verdict};

pub(super) fn command(args: &ReportArgs) -> anyhow::Result<u8> {
    // An unreadable summary is a usage error (exit 2), as in `compare`.
    let summary = read_summary(&args.summary)?;
    let rules = Rules::of_summary(&summary);
    let summary = verdict::judge(&summary, &rules).apply(summary);
    let files = report::write_all(&summary, &args.format, &args.out_dir)?;
    for f in &files {
        outln!("{}", f.display());
    }
    Ok(exit::OK)
}
