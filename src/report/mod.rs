//! Reports (the renderers are being written on their own branch; this writes the JSON summary
//! and a minimal Markdown with the same interface: `Reporter`, `reporter`, `file_name`).
use std::path::{Path, PathBuf};

pub use crate::cli::ReportFormat;
use crate::metrics::summary::{Summary, ThresholdStatus};

/// One output format. Renderers are pure: the same summary always gives the same bytes.
pub trait Reporter {
    fn render(&self, s: &Summary) -> anyhow::Result<Vec<u8>>;
}

struct Json;
impl Reporter for Json {
    fn render(&self, s: &Summary) -> anyhow::Result<Vec<u8>> {
        Ok(serde_json::to_vec_pretty(s)?)
    }
}

struct Markdown;
impl Reporter for Markdown {
    fn render(&self, s: &Summary) -> anyhow::Result<Vec<u8>> {
        let mut out = format!(
            "<!-- kaizen-loadtest:{}:{} -->\n## {} Load test {}\n",
            s.run.plan_name,
            s.run.environment,
            if s.verdict.passed { "✅" } else { "❌" },
            if s.verdict.passed { "passed" } else { "failed" }
        );
        for sc in &s.scenarios {
            out.push_str(&format!("\n### {}\n\n", sc.name));
            for t in &sc.thresholds {
                let icon = match t.status {
                    ThresholdStatus::Pass => "✅",
                    ThresholdStatus::Fail => "❌",
                    ThresholdStatus::NoData => "⚪",
                };
                out.push_str(&format!("- {icon} {} {}\n", t.metric, t.expression));
            }
        }
        Ok(out.into_bytes())
    }
}

struct Unwritten;
impl Reporter for Unwritten {
    fn render(&self, _: &Summary) -> anyhow::Result<Vec<u8>> {
        anyhow::bail!("this format is not written yet")
    }
}

/// The renderer for a format.
pub fn reporter(f: ReportFormat) -> Box<dyn Reporter> {
    match f {
        ReportFormat::Json => Box::new(Json),
        ReportFormat::Markdown => Box::new(Markdown),
        _ => Box::new(Unwritten),
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

pub fn write_all(s: &Summary, formats: &[ReportFormat], out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir)?;
    let mut out = Vec::new();
    for &f in formats {
        if matches!(f, ReportFormat::Json | ReportFormat::Markdown) {
            let p = out_dir.join(file_name(&s.run.file_stem, f));
            std::fs::write(&p, reporter(f).render(s)?)?;
            out.push(p);
        }
    }
    Ok(out)
}

pub fn console(s: &Summary) -> String {
    let mut out = String::new();
    for sc in &s.scenarios {
        out.push_str(&format!("{}: {} requests, {:.1} req/s\n", sc.name, sc.requests, sc.rps));
        for t in &sc.thresholds {
            out.push_str(&format!("  {:?} {} {} observed {:?}\n", t.status, t.metric, t.expression, t.observed));
        }
    }
    out
}

pub fn read_summary(path: &Path) -> anyhow::Result<Summary> {
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{}: not a JSON summary: {e}", path.display()))
}
