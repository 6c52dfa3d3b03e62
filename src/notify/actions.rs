//! Inside GitHub Actions (`GITHUB_ACTIONS=true`): the job summary, the step outputs, annotations
//! on the plan for failed thresholds, a log group around the run and masks for secrets.
//!
//! All of it goes through the runner's documented files and workflow commands:
//! `$GITHUB_STEP_SUMMARY` (Markdown, at most 1 MiB per step), `$GITHUB_OUTPUT` (`name=value`
//! lines, or `name<<DELIMITER` blocks), and `::error file=...,line=...::`, `::group::`,
//! `::add-mask::` on stdout. Nothing here is written anywhere else: outside Actions a secret is
//! only ever printed as `***`.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::{fmt_value, Env};
use crate::report::ReportFormat;
use crate::summary::schema::{Summary, ThresholdStatus};

/// The runner's limit for one step's job summary.
pub const STEP_SUMMARY_MAX: usize = 1024 * 1024;
/// Error annotations shown per step; the same holds for warnings.
pub const MAX_ANNOTATIONS: usize = 10;

/// The runner's files, when running inside GitHub Actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actions {
    pub output: Option<PathBuf>,
    pub step_summary: Option<PathBuf>,
    /// `GITHUB_WORKSPACE`: annotation paths are relative to it.
    pub workspace: Option<PathBuf>,
}

impl Actions {
    /// `Some` only when `GITHUB_ACTIONS=true`.
    pub fn detect(env: Env<'_>) -> Option<Actions> {
        if env("GITHUB_ACTIONS").as_deref() != Some("true") {
            return None;
        }
        Some(Actions {
            output: env("GITHUB_OUTPUT").map(PathBuf::from),
            step_summary: env("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            workspace: env("GITHUB_WORKSPACE").map(PathBuf::from),
        })
    }

    /// Appends outputs to `$GITHUB_OUTPUT`.
    pub fn write_outputs(&self, outputs: &[(&str, String)]) -> std::io::Result<()> {
        let Some(path) = &self.output else {
            return Ok(());
        };
        let mut text = String::new();
        for (name, value) in outputs {
            text.push_str(&output_line(name, value));
        }
        append(path, text.as_bytes())
    }

    /// What the 1 MiB cap of `$GITHUB_STEP_SUMMARY` leaves, in bytes (earlier steps may have
    /// written to it).
    pub fn step_summary_room(&self) -> usize {
        let used = self
            .step_summary
            .as_ref()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len() as usize);
        // The line break `write_step_summary` adds.
        STEP_SUMMARY_MAX.saturating_sub(used + 1)
    }

    /// Appends the Markdown report to `$GITHUB_STEP_SUMMARY`, cut to what the 1 MiB cap leaves.
    /// Returns whether it had to be cut.
    pub fn write_step_summary(&self, markdown: &str) -> std::io::Result<bool> {
        let Some(path) = &self.step_summary else {
            return Ok(false);
        };
        let used = std::fs::metadata(path)
            .map(|m| m.len() as usize)
            .unwrap_or(0);
        let room = STEP_SUMMARY_MAX.saturating_sub(used);
        let text = format!("{markdown}\n");
        if text.len() <= room {
            append(path, text.as_bytes())?;
            return Ok(false);
        }
        const NOTE: &str = "\n\n*Cut to fit the job summary's 1 MiB limit: the full report is in the run's artifacts.*\n";
        if room > NOTE.len() {
            let kept = super::truncate(&text, room - NOTE.len());
            let kept = kept.rfind('\n').map_or(kept, |i| &kept[..i]);
            append(path, format!("{kept}{NOTE}").as_bytes())?;
        }
        Ok(true)
    }

    /// A plan path as GitHub wants it in an annotation: relative to the workspace.
    pub fn annotation_path(&self, plan_file: &str) -> String {
        let p = Path::new(plan_file);
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|d| d.join(p))
                .unwrap_or_else(|_| p.to_path_buf())
        };
        if let Some(ws) = &self.workspace {
            if let Ok(rel) = abs.strip_prefix(ws) {
                return rel.to_string_lossy().into_owned();
            }
        }
        plan_file.to_string()
    }
}

/// The step outputs of a run: `passed`, `exit-code`, the report paths (empty when that format
/// was not written) and `report-dir`.
pub fn run_outputs(s: &Summary, out_dir: &Path, exit_code: u8) -> Vec<(&'static str, String)> {
    let path = |f: ReportFormat| {
        let p = out_dir.join(crate::report::file_name(&s.run.file_stem, f));
        if p.is_file() {
            p.to_string_lossy().into_owned()
        } else {
            String::new()
        }
    };
    vec![
        ("passed", (exit_code == crate::exit::OK).to_string()),
        ("exit-code", exit_code.to_string()),
        ("summary-json", path(ReportFormat::Json)),
        ("junit", path(ReportFormat::Junit)),
        ("markdown", path(ReportFormat::Markdown)),
        ("html", path(ReportFormat::Html)),
        ("k6", path(ReportFormat::K6)),
        ("report-dir", out_dir.to_string_lossy().into_owned()),
    ]
}

/// `::error` for each failed threshold and `::warning` for each threshold without data, each
/// pointing at the threshold's line in the plan; at most [`MAX_ANNOTATIONS`] of each, then one
/// plain line counting the rest.
pub fn annotations(s: &Summary, plan_path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (status, level, title) in [
        (ThresholdStatus::Fail, "error", "Threshold failed"),
        (ThresholdStatus::NoData, "warning", "Threshold without data"),
    ] {
        let all: Vec<_> = s.thresholds().filter(|(_, t)| t.status == status).collect();
        for (sc, t) in all.iter().take(MAX_ANNOTATIONS) {
            let mut props = format!("file={}", escape_property(plan_path));
            if t.line > 0 {
                props.push_str(&format!(",line={}", t.line));
            }
            props.push_str(&format!(
                ",title={}",
                escape_property(&format!("{title}: {} {}", t.metric, t.expression))
            ));
            let observed = match t.observed {
                Some(v) => format!("observed {}", fmt_value(v, &t.unit)),
                None => "no data".to_string(),
            };
            let message = format!(
                "scenario {}: {} {}: {observed}, limit {}",
                sc.name,
                t.metric,
                t.expression,
                fmt_value(t.limit, &t.unit)
            );
            out.push(format!("::{level} {props}::{}", escape_data(&message)));
        }
        if all.len() > MAX_ANNOTATIONS {
            out.push(format!(
                "{} more {} not annotated (GitHub shows {MAX_ANNOTATIONS} per step): see the job summary",
                all.len() - MAX_ANNOTATIONS,
                if status == ThresholdStatus::Fail { "failed thresholds" } else { "thresholds without data" }
            ));
        }
    }
    out
}

/// One error of an invalid plan, read back from its rendered line
/// (`FILE:LINE:COL: PATH: message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanErrorAt {
    pub file: String,
    pub line: usize,
    pub col: usize,
    /// The path and the message.
    pub message: String,
}

/// The errors of a rendered plan error, one per `FILE:LINE:COL: …` line (the count line and a
/// whole-file error such as an unreadable plan have no position and are left out).
pub fn plan_errors(rendered: &str) -> Vec<PlanErrorAt> {
    rendered
        .lines()
        .filter_map(|l| {
            let l = l.strip_prefix("error: ").unwrap_or(l);
            // The first `:LINE:COL: ` after the file name.
            let b = l.as_bytes();
            (0..b.len()).find_map(|i| {
                if b[i] != b':' {
                    return None;
                }
                let rest = &l[i + 1..];
                let (line, rest) = rest.split_once(':')?;
                let (col, message) = rest.split_once(": ")?;
                Some(PlanErrorAt {
                    file: l[..i].to_string(),
                    line: line.parse().ok().filter(|n| *n > 0)?,
                    col: col.parse().ok()?,
                    message: message.to_string(),
                })
            })
        })
        .collect()
}

/// `::error file=…,line=…,col=…,title=Invalid plan::message` for each error (at most
/// [`MAX_ANNOTATIONS`], then a plain line counting the rest); `path` makes the file relative
/// to the workspace.
pub fn plan_error_annotations(
    errors: &[PlanErrorAt],
    path: &dyn Fn(&str) -> String,
) -> Vec<String> {
    let mut out: Vec<String> = errors
        .iter()
        .take(MAX_ANNOTATIONS)
        .map(|e| {
            format!(
                "::error file={},line={},col={},title=Invalid plan::{}",
                escape_property(&path(&e.file)),
                e.line,
                e.col,
                escape_data(&e.message)
            )
        })
        .collect();
    if errors.len() > MAX_ANNOTATIONS {
        out.push(format!(
            "{} more plan errors not annotated (GitHub shows {MAX_ANNOTATIONS} per step): see the job summary",
            errors.len() - MAX_ANNOTATIONS
        ));
    }
    out
}

/// The job summary of an invalid plan: every error, with its place (nothing was sent).
pub fn plan_error_summary(errors: &[PlanErrorAt], rendered: &str) -> String {
    let mut md = String::from("## ❌ Invalid plan: nothing was sent\n\n");
    if errors.is_empty() {
        md.push_str(&format!("```\n{}\n```\n", rendered.replace("```", "'''")));
        return md;
    }
    for e in errors {
        md.push_str(&format!(
            "- `{}:{}:{}` {}\n",
            e.file.replace('`', "'"),
            e.line,
            e.col,
            e.message.replace('<', "&lt;")
        ));
    }
    md
}

/// `::add-mask::` lines for the secrets (each line of a multi-line value masked on its own).
pub fn mask_lines<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out = Vec::new();
    for s in secrets {
        for line in s.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let l = format!("::add-mask::{}", escape_data(line));
            if !out.contains(&l) {
                out.push(l);
            }
        }
    }
    out
}

/// One `$GITHUB_OUTPUT` entry: `name=value`, or a delimited block when the value has a newline.
pub fn output_line(name: &str, value: &str) -> String {
    if !value.contains('\n') && !value.contains('\r') {
        return format!("{name}={value}\n");
    }
    let mut delimiter = "KAIZEN_LOADTEST_EOF".to_string();
    while value.contains(&delimiter) {
        delimiter.push('_');
    }
    format!("{name}<<{delimiter}\n{value}\n{delimiter}\n")
}

/// Escapes a workflow command's message.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::testdata::summary_with;

    #[test]
    fn detect_needs_github_actions_true() {
        let env = |k: &str| match k {
            "GITHUB_ACTIONS" => Some("true".to_string()),
            "GITHUB_OUTPUT" => Some("/tmp/out".to_string()),
            _ => None,
        };
        let a = Actions::detect(&env).unwrap();
        assert_eq!(a.output.as_deref(), Some(Path::new("/tmp/out")));
        assert_eq!(Actions::detect(&|_: &str| None), None);
        assert_eq!(
            Actions::detect(&|_: &str| Some("1".to_string())),
            None,
            "only the literal true"
        );
    }

    #[test]
    fn annotations_point_at_the_plan_line_and_stop_at_ten() {
        let s = summary_with(3, 5);
        let lines = annotations(&s, "plans/load,test.yaml");
        let errors: Vec<_> = lines.iter().filter(|l| l.starts_with("::error ")).collect();
        assert_eq!(errors.len(), 10);
        assert_eq!(
            errors[0],
            "::error file=plans/load%2Ctest.yaml,line=20,title=Threshold failed%3A http_req_duration p(95)<500::\
             scenario s0: http_req_duration p(95)<500: observed 812.0 ms, limit 500.0 ms"
        );
        assert_eq!(lines.last().unwrap(), "5 more failed thresholds not annotated (GitHub shows 10 per step): see the job summary");
    }

    #[test]
    fn outputs_and_masks_are_well_formed() {
        assert_eq!(output_line("passed", "true"), "passed=true\n");
        assert_eq!(
            output_line("x", "a\nb"),
            "x<<KAIZEN_LOADTEST_EOF\na\nb\nKAIZEN_LOADTEST_EOF\n"
        );
        assert_eq!(
            mask_lines(["a%b\nc", "c"]),
            vec!["::add-mask::a%25b", "::add-mask::c"]
        );
        assert_eq!(escape_data("50%\r\n"), "50%25%0D%0A");
    }

    #[test]
    fn step_summary_is_capped_at_one_mebibyte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        std::fs::write(&path, "x".repeat(STEP_SUMMARY_MAX - 2_000)).unwrap();
        let a = Actions {
            output: None,
            step_summary: Some(path.clone()),
            workspace: None,
        };
        let cut = a.write_step_summary(&"| row |\n".repeat(1_000)).unwrap();
        assert!(cut);
        let len = std::fs::metadata(&path).unwrap().len() as usize;
        assert!(len <= STEP_SUMMARY_MAX, "{len}");
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .ends_with("in the run's artifacts.*\n"));
    }

    #[test]
    fn run_outputs_name_only_the_files_written() {
        let dir = tempfile::tempdir().unwrap();
        let s = summary_with(1, 1);
        let json = dir.path().join(crate::report::file_name(
            &s.run.file_stem,
            ReportFormat::Json,
        ));
        std::fs::write(&json, "{}").unwrap();
        let out = run_outputs(&s, dir.path(), 99);
        let get = |k: &str| out.iter().find(|(n, _)| *n == k).unwrap().1.clone();
        assert_eq!(get("passed"), "false");
        assert_eq!(get("exit-code"), "99");
        assert_eq!(get("summary-json"), json.to_string_lossy());
        assert_eq!(get("junit"), "");
        assert_eq!(get("report-dir"), dir.path().to_string_lossy());
    }
}
