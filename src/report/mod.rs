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
#[cfg(test)]
mod testdata;

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

pub use crate::cli::ReportFormat;
use crate::summary::schema::{Summary, SCHEMA_VERSION};
pub use console::console;

/// One output format. Renderers are pure: the same summary always gives the same bytes.
pub trait Reporter {
    fn render(&self, s: &Summary) -> anyhow::Result<Vec<u8>>;
}

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

/// The file name of a format's report for a file stem (`smoke_local_20260301T120000Z`).
pub fn file_name(stem: &str, f: ReportFormat) -> String {
    let suffix = match f {
        ReportFormat::Json => "_summary.json",
        ReportFormat::Junit => "_junit.xml",
        ReportFormat::Markdown => "_summary.md",
        ReportFormat::Html => "_report.html",
        ReportFormat::K6 => "_k6.json",
    };
    format!("{stem}{suffix}")
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
    let mut paths = Vec::with_capacity(formats.len());
    let redactor = crate::redact::global();
    for &f in formats {
        let bytes = reporter(f)
            .render(s)
            .with_context(|| format!("cannot render the {} report", format_name(f)))?;
        // The summary's strings are already masked (`commands::redacted`); this masks what a
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

fn format_name(f: ReportFormat) -> &'static str {
    match f {
        ReportFormat::Json => "JSON",
        ReportFormat::Junit => "JUnit",
        ReportFormat::Markdown => "Markdown",
        ReportFormat::Html => "HTML",
        ReportFormat::K6 => "k6",
    }
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

/// Why a saved summary could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadSummaryError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("{path} is not valid JSON")]
    Json {
        path: PathBuf,
        #[source]
        error: serde_json::Error,
    },
    #[error("{path} is not a kaizen-loadtest summary: it has no \"schema\" number")]
    NoSchema { path: PathBuf },
    #[error(
        "{path} has summary schema {found}; this version of kaizen-loadtest reads schema {}",
        SCHEMA_VERSION
    )]
    Schema { path: PathBuf, found: u64 },
    #[error("{path} does not match summary schema {}", SCHEMA_VERSION)]
    Shape {
        path: PathBuf,
        #[source]
        error: serde_json::Error,
    },
}

/// Reads a saved JSON summary (schema 1). Another schema version, bad JSON or a different shape
/// is an error naming the file.
pub fn read_summary(path: &Path) -> anyhow::Result<Summary> {
    Ok(read_summary_typed(path)?)
}

fn read_summary_typed(path: &Path) -> Result<Summary, ReadSummaryError> {
    let text = fs::read(path).map_err(|error| ReadSummaryError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    parse_summary_typed(&text, path)
}

/// A JSON summary read from bytes (`path` names where they came from, for errors), checked
/// as [`read_summary`] checks a file.
pub fn parse_summary(text: &[u8], path: &Path) -> anyhow::Result<Summary> {
    Ok(parse_summary_typed(text, path)?)
}

fn parse_summary_typed(text: &[u8], path: &Path) -> Result<Summary, ReadSummaryError> {
    let p = || path.to_path_buf();
    let value: serde_json::Value = serde_json::from_slice(text)
        .map_err(|error| ReadSummaryError::Json { path: p(), error })?;
    match value.get("schema").and_then(serde_json::Value::as_u64) {
        None => return Err(ReadSummaryError::NoSchema { path: p() }),
        Some(found) if found != u64::from(SCHEMA_VERSION) => {
            return Err(ReadSummaryError::Schema { path: p(), found })
        }
        Some(_) => {}
    }
    // Parse from the text rather than the `Value`, so that numbers read exactly as written.
    serde_json::from_slice(text).map_err(|error| ReadSummaryError::Shape { path: p(), error })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_follow_the_design() {
        let names: Vec<String> = [
            ReportFormat::Json,
            ReportFormat::Junit,
            ReportFormat::Markdown,
            ReportFormat::Html,
            ReportFormat::K6,
        ]
        .into_iter()
        .map(|f| file_name("smoke_local_x", f))
        .collect();
        assert_eq!(
            names,
            [
                "smoke_local_x_summary.json",
                "smoke_local_x_junit.xml",
                "smoke_local_x_summary.md",
                "smoke_local_x_report.html",
                "smoke_local_x_k6.json"
            ]
        );
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

    #[test]
    fn read_summary_names_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            fs::write(&p, text).unwrap();
            p
        };
        let msg = |p: &Path| format!("{:#}", read_summary(p).unwrap_err());

        let p = write("bad.json", "{ not json");
        assert!(msg(&p).starts_with(&format!("{} is not valid JSON: ", p.display())));

        let p = write("v2.json", r#"{"schema": 2}"#);
        assert_eq!(
            msg(&p),
            format!(
                "{} has summary schema 2; this version of kaizen-loadtest reads schema 1",
                p.display()
            )
        );

        let p = write("other.json", r#"{"metrics": {}}"#);
        assert!(
            msg(&p).contains("is not a kaizen-loadtest summary"),
            "{}",
            msg(&p)
        );

        let p = write("shape.json", r#"{"schema": 1, "tool": {}}"#);
        assert!(
            msg(&p).contains("does not match summary schema 1: missing field"),
            "{}",
            msg(&p)
        );

        let missing = dir.path().join("missing.json");
        assert!(msg(&missing).starts_with(&format!("cannot read {}", missing.display())));
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
            junit.contains("<error message=\"no requests were sent\""),
            "{junit}"
        );
        assert!(console(&s).contains("○ 'p(95)<500' no data"));
    }
}
