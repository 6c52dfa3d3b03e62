//! Reports: every file a run leaves behind, rendered from the [`Summary`] alone.
//!
//! Each format is a [`Reporter`]: a pure function from the summary to bytes, so `run`, `merge`
//! and `report` produce identical files from the same summary. [`write_all`] owns the paths and
//! the I/O (atomic writes into `--out-dir`); [`console`] is the end-of-run text for the terminal.
//! Nothing here computes a statistic the summary does not already hold, except the k6 export,
//! which merges the summary's own histograms when several scenarios ran (see `k6.rs`).

mod chart;
mod console;
mod format;
mod html;
mod json;
mod junit;
mod k6;
mod markdown;
pub(crate) mod outline;
mod reporter;
#[cfg(test)]
pub(crate) mod testdata;

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::redact::{out, outln};
use crate::summary::schema::Summary;
pub use console::console;
pub use json::{parse_summary, read_summary, ReadSummaryError};
pub use markdown::{render_within as markdown_within, MAX_LEN as COMMENT_MAX};
pub use reporter::{file_name, ReportFormat, Reporter};

/// The renderer for a format.
pub fn reporter(f: ReportFormat) -> Box<dyn Reporter> {
    match f {
        ReportFormat::Json => Box::new(json::Json),
        ReportFormat::Junit => Box::new(junit::Junit),
        ReportFormat::Markdown => Box::new(markdown::Markdown),
        ReportFormat::Html => Box::new(html::Html),
        ReportFormat::K6 => Box::new(k6::K6),
    }
}

/// Publishes a judged summary: writes every report, prints the console summary, then where the
/// reports are. An error is the reports that could not be written (the console summary is
/// printed all the same).
pub fn publish(
    s: &Summary,
    formats: &[ReportFormat],
    out_dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let files = write_all(s, formats, out_dir);
    outln!();
    out!("{}", console(s));
    let files = files?;
    if !files.is_empty() {
        outln!("\nreports:");
        for f in &files {
            outln!("  {}", f.display());
        }
    }
    Ok(files)
}

/// Renders every format and writes it atomically (a temporary file in `out_dir`, then a
/// rename), creating `out_dir`. Returns the paths in the order given. The file stem is the
/// summary's `run.file_stem`.
pub fn write_all(
    s: &Summary,
    formats: &[ReportFormat],
    out_dir: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create report directory {}", out_dir.display()))?;
    remove_stale_temporaries(out_dir);
    let mut paths = Vec::with_capacity(formats.len());
    let redactor = crate::redact::global();
    for &f in formats {
        let bytes = reporter(f)
            .render(s)
            .with_context(|| format!("cannot render the {} report", f.name()))?;
        // The summary's strings are already masked (the commands mask it before publishing); this masks what a
        // renderer may have spelled differently. Not the JSON summary: its base64 histograms
        // could hold a short secret by chance.
        let bytes = match f {
            ReportFormat::Json => std::borrow::Cow::Borrowed(&bytes[..]),
            _ => redactor.redact_bytes(&bytes),
        };
        let path = out_dir.join(file_name(&s.run.file_stem, f));
        write_atomically(&path, &bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        paths.push(path);
    }
    Ok(paths)
}

/// A reader never sees a half-written report: the bytes go to a temporary file beside the
/// target, which is then renamed over it (atomic on one file system).
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes the temporary files a killed run left in `dir`: `.NAME.PID.tmp`, where NAME is one of
/// our report files and no process PID runs any more (a run killed by SIGKILL between writing
/// and renaming leaves one, and nothing else would ever remove it). A file of another name, or
/// of a process still running (a run writing beside this one), is left alone.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(stale_report_temporary) else {
            continue;
        };
        if pid != std::process::id() && !process_runs(pid) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The process id of a report's temporary file name (`.<stem>_summary.json.1234.tmp`).
fn stale_report_temporary(name: &str) -> Option<u32> {
    let inner = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (report, pid) = inner.rsplit_once('.')?;
    let ours = [
        ReportFormat::Json,
        ReportFormat::Junit,
        ReportFormat::Markdown,
        ReportFormat::Html,
        ReportFormat::K6,
    ]
    .iter()
    .any(|&f| report.ends_with(&*file_name("", f)));
    if !ours || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether a process `pid` exists (signal 0 checks without sending anything; a process of
/// another user exists too: EPERM).
fn process_runs(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return true;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run killed between writing and renaming left `.NAME.PID.tmp` behind: the next run
    /// into the folder removes those of processes gone, and nothing else.
    #[test]
    fn stale_temporary_reports_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A process that has exited: its pid is free (reuse within the test is not a risk
        // worth a flaky test: it would only keep the file).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let alive = std::process::id();
        let files = [
            (format!(".smoke_local_x_summary.json.{dead}.tmp"), false),
            (format!(".smoke_local_x_report.html.{dead}.tmp"), false),
            (format!(".smoke_local_x_summary.json.{alive}.tmp"), true),
            (format!(".notes.txt.{dead}.tmp"), true),
            (format!("smoke_local_x_summary.json.{dead}.tmp"), true),
            (".smoke_local_x_junit.xml.12a.tmp".to_string(), true),
            ("keep.md".to_string(), true),
        ];
        for (f, _) in &files {
            fs::write(dir.path().join(f), b"x").unwrap();
        }
        let s = testdata::load("passed");
        write_all(&s, &[ReportFormat::Markdown], dir.path()).unwrap();
        for (f, kept) in &files {
            assert_eq!(dir.path().join(f).exists(), *kept, "{f}");
        }
    }

    #[test]
    fn write_all_writes_every_format_in_order_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nested/reports");
        let s = testdata::load("passed");
        let formats = [
            ReportFormat::Markdown,
            ReportFormat::Json,
            ReportFormat::K6,
            ReportFormat::Junit,
            ReportFormat::Html,
        ];
        let paths = write_all(&s, &formats, &out).unwrap();
        let names: Vec<_> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let stem = &s.run.file_stem;
        assert_eq!(
            names,
            [
                format!("{stem}_summary.md"),
                format!("{stem}_summary.json"),
                format!("{stem}_k6.json"),
                format!("{stem}_junit.xml"),
                format!("{stem}_report.html"),
            ]
        );
        let mut listed: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        listed.sort();
        assert_eq!(listed.len(), 5, "{listed:?}");
        assert_eq!(read_summary(&paths[1]).unwrap(), s);
    }

    /// A scenario that sent nothing (no points, no metrics, no histograms) still renders in
    /// every format: the reports say so rather than fail.
    #[test]
    fn an_empty_scenario_renders_everywhere() {
        let mut s = testdata::load("passed");
        let sc = &mut s.scenarios[0];
        sc.requests = 0;
        sc.requests_failed = 0;
        sc.rps = 0.0;
        sc.metrics.clear();
        sc.endpoints.clear();
        sc.checks.clear();
        sc.timeseries.points.clear();
        for t in &mut sc.thresholds {
            t.observed = None;
            t.status = crate::summary::schema::ThresholdStatus::NoData;
        }
        s.data = Default::default();
        for f in [
            ReportFormat::Json,
            ReportFormat::Junit,
            ReportFormat::Markdown,
            ReportFormat::Html,
            ReportFormat::K6,
        ] {
            let bytes = reporter(f).render(&s).unwrap();
            let text = String::from_utf8(bytes).unwrap();
            let bad = text
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w == "NaN" || w == "inf");
            assert!(!bad, "{f:?}: {text}");
        }
        let junit = String::from_utf8(reporter(ReportFormat::Junit).render(&s).unwrap()).unwrap();
        assert!(
            junit.contains("<failure message=\"no request completed\" type=\"tested_nothing\""),
            "{junit}"
        );
        assert!(console(&s).contains("○ 'p(95)<500' no data"));
    }
}
