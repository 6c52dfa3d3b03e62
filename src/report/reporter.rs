//! What a report is: one [`ReportFormat`], rendered by its [`Reporter`] into a file named after
//! the run.

use crate::summary::schema::Summary;

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportFormat {
    Json,
    Junit,
    Markdown,
    Html,
    K6,
}

impl ReportFormat {
    /// Every format, in the order `--format` lists them.
    pub const ALL: [ReportFormat; 5] = [
        ReportFormat::Json,
        ReportFormat::Junit,
        ReportFormat::Markdown,
        ReportFormat::Html,
        ReportFormat::K6,
    ];
}

/// One output format. Renderers are pure: the same summary always gives the same bytes.
pub trait Reporter {
    fn render(&self, s: &Summary) -> anyhow::Result<Vec<u8>>;
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

impl ReportFormat {
    /// The format's name in messages: `JSON`, `JUnit`, `Markdown`, `HTML`, `k6`.
    pub fn name(self) -> &'static str {
        match self {
            ReportFormat::Json => "JSON",
            ReportFormat::Junit => "JUnit",
            ReportFormat::Markdown => "Markdown",
            ReportFormat::Html => "HTML",
            ReportFormat::K6 => "k6",
        }
    }
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
}
