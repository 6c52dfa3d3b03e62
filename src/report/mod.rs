//! Reports (the renderers are being written on their own branch; this writes the JSON summary).
use std::path::{Path, PathBuf};

use crate::cli::ReportFormat;
use crate::metrics::summary::Summary;

pub fn write_all(s: &Summary, formats: &[ReportFormat], out_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir)?;
    let mut out = Vec::new();
    if formats.contains(&ReportFormat::Json) {
        let p = out_dir.join(format!("{}_summary.json", s.run.file_stem));
        std::fs::write(&p, serde_json::to_vec_pretty(s)?)?;
        out.push(p);
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
