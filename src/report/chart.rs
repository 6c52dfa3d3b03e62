//! Charts for the Markdown (mermaid `xychart-beta`, which GitHub renders) and HTML (inline SVG,
//! drawn here so the file needs nothing from the network) reports, and the downsampling both use.

use std::fmt::Write as _;

use super::format::num;
use crate::summary::schema::{Point, TimeSeries};

/// Consecutive time-series points folded together for a chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bucket {
    /// Seconds since the scenario started.
    pub t: f64,
    pub width_s: f64,
    pub requests: u64,
    pub failed: u64,
    /// The most VUs active at the end of any of its intervals.
    pub vus: u64,
    /// The worst interval's percentile, ms: an upper bound, never an average of percentiles.
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

impl Bucket {
    pub fn rps(&self) -> f64 {
        if self.width_s > 0.0 {
            self.requests as f64 / self.width_s
        } else {
            0.0
        }
    }
    pub fn errors_per_s(&self) -> f64 {
        if self.width_s > 0.0 {
            self.failed as f64 / self.width_s
        } else {
            0.0
        }
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Folds the series into at most `max` buckets of equal numbers of points. `duration_s` is how
/// long the scenario ran: the first and the last interval are usually shorter than the others,
/// and are counted over the time they covered. A bucket that covered less than half its length
/// (the last 0.2 s of a run, the graceful stop's stragglers) is left out: a handful of requests
/// over a fraction of a second would be drawn as a spike or a collapse of throughput, and its
/// percentiles as a sudden jump. Its requests stay in every total.
pub(crate) fn downsample(ts: &TimeSeries, duration_s: f64, max: usize) -> Vec<Bucket> {
    let per = ts.points.len().div_ceil(max.max(1)).max(1);
    let full = |b: &Bucket, points: usize| b.width_s >= 0.5 * ts.interval_s * points as f64;
    let buckets: Vec<(Bucket, usize)> = ts
        .points
        .chunks(per)
        .enumerate()
        .map(|(c, chunk): (usize, &[Point])| {
            let mut b = Bucket {
                t: chunk[0].t,
                width_s: 0.0,
                requests: 0,
                failed: 0,
                vus: 0,
                p50: None,
                p95: None,
                p99: None,
            };
            for (i, p) in chunk.iter().enumerate() {
                b.width_s += ts.covered_s(c * per + i, duration_s);
                b.requests += p.requests;
                b.failed += p.failed;
                b.vus = b.vus.max(p.vus);
                b.p50 = max_opt(b.p50, p.p50);
                b.p95 = max_opt(b.p95, p.p95);
                b.p99 = max_opt(b.p99, p.p99);
            }
            (b, chunk.len())
        })
        .collect();
    if buckets.iter().all(|(b, n)| !full(b, *n)) {
        // Nothing whole (a run shorter than half an interval): what there is.
        return buckets.into_iter().map(|(b, _)| b).collect();
    }
    buckets
        .into_iter()
        .filter(|(b, n)| full(b, *n))
        .map(|(b, _)| b)
        .collect()
}

/// Text safe for XML content and attribute values.
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A label safe inside a mermaid string: no quotes, no line breaks.
fn mermaid_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' | '`' => '\'',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect()
}

/// Two mermaid `xychart-beta` blocks: latency percentiles and throughput (bars) with errors
/// (line) over time. `buckets` should already be downsampled (mermaid draws every point).
pub(crate) fn mermaid(scenario: &str, buckets: &[Bucket]) -> String {
    if buckets.is_empty() {
        return String::new();
    }
    let name = mermaid_text(scenario);
    let xs: Vec<String> = buckets.iter().map(|b| num(b.t, 0)).collect();
    let list = |f: &dyn Fn(&Bucket) -> f64| {
        buckets
            .iter()
            .map(|b| num(f(b), 1))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "```mermaid\nxychart-beta\n    title \"{name}: latency p50 / p95 / p99 (ms)\"\n    x-axis \"seconds\" [{}]\n    y-axis \"ms\"\n    line [{}]\n    line [{}]\n    line [{}]\n```\n\n",
        xs.join(", "),
        list(&|b| b.p50.unwrap_or(0.0)),
        list(&|b| b.p95.unwrap_or(0.0)),
        list(&|b| b.p99.unwrap_or(0.0)),
    );
    let _ = write!(
        out,
        "```mermaid\nxychart-beta\n    title \"{name}: requests/s (bars) and errors/s (line)\"\n    x-axis \"seconds\" [{}]\n    y-axis \"per second\"\n    bar [{}]\n    line [{}]\n```",
        xs.join(", "),
        list(&|b| b.rps()),
        list(&|b| b.errors_per_s()),
    );
    out
}

/// One line of an SVG line chart.
pub(crate) struct Line<'a> {
    pub label: &'a str,
    pub color: &'a str,
    pub values: Vec<Option<f64>>,
    /// Drawn against the right-hand axis (a second unit, e.g. VUs beside req/s).
    pub right: bool,
    /// Stroke width. Wider lines are drawn first, under narrower ones, so that lines that
    /// coincide (p95 and p99 when few requests ran) all stay visible.
    pub width: f64,
}

pub(crate) struct LineChart<'a> {
    /// The `data-chart` attribute: what the chart shows, for tests and scripts.
    pub kind: &'a str,
    pub title: &'a str,
    /// Seconds since the scenario started, one per value.
    pub x: Vec<f64>,
    pub left_unit: &'a str,
    pub right_unit: &'a str,
    pub lines: Vec<Line<'a>>,
    /// Caps the left axis: higher values are drawn at the top edge (so a few timeouts do not
    /// flatten every other line), and the chart says so.
    pub left_cap: Option<f64>,
}

const W: f64 = 720.0;
const H: f64 = 260.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 36.0;
const LEFT: f64 = 60.0;

/// The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above `v`, so axis ticks are round numbers.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|c| *c >= v * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag)
}

fn tick_label(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{}k", num(v / 1000.0, 1))
    } else if v >= 10.0 {
        num(v, 1)
    } else {
        num(v, 2)
    }
}

fn open_svg(out: &mut String, kind: &str, title: &str) {
    let _ = write!(
        out,
        "<svg data-chart=\"{}\" role=\"img\" viewBox=\"0 0 {W} {H}\" width=\"100%\" preserveAspectRatio=\"xMidYMid meet\" font-family=\"system-ui, sans-serif\" font-size=\"11\">\n<title>{}</title>\n",
        xml_escape(kind),
        xml_escape(title)
    );
}

fn legend(out: &mut String, items: &[(&str, &str)]) {
    let mut x = LEFT;
    for (label, color) in items {
        let _ = writeln!(
            out,
            "<rect x=\"{x}\" y=\"8\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"17\" fill=\"#333\">{}</text>",
            xml_escape(color),
            x + 14.0,
            xml_escape(label)
        );
        x += 24.0 + 6.5 * label.chars().count() as f64;
    }
}

/// An SVG line chart of values over time, with a left axis and, when a line asks for it, a
/// right axis. Gaps (`None`) break the line rather than drawing it through zero.
pub(crate) fn line_svg(c: &LineChart) -> String {
    let has_right = c.lines.iter().any(|l| l.right);
    let right_margin = if has_right { 56.0 } else { 20.0 };
    let (pw, ph) = (W - LEFT - right_margin, H - TOP - BOTTOM);
    let max_of = |right: bool| {
        nice_max(
            c.lines
                .iter()
                .filter(|l| l.right == right)
                .flat_map(|l| l.values.iter().flatten().copied())
                .fold(0.0, f64::max),
        )
    };
    let (mut lmax, rmax) = (max_of(false), max_of(true));
    let mut clipped = false;
    if let Some(cap) = c.left_cap {
        let cap = nice_max(cap);
        if lmax > cap {
            lmax = cap;
            clipped = true;
        }
    }
    let x0 = c.x.first().copied().unwrap_or(0.0);
    let x1 = c.x.last().copied().unwrap_or(1.0).max(x0 + 1.0);
    let px = |t: f64| LEFT + (t - x0) / (x1 - x0) * pw;
    let py = |v: f64, max: f64| TOP + ph - v / max * ph;

    let mut out = String::new();
    open_svg(&mut out, c.kind, c.title);
    let items: Vec<(&str, &str)> = c.lines.iter().map(|l| (l.label, l.color)).collect();
    legend(&mut out, &items);
    for i in 0..=4 {
        let f = i as f64 / 4.0;
        let y = TOP + ph - f * ph;
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#e3e3e3\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#555\">{}</text>",
            LEFT + pw,
            LEFT - 6.0,
            y + 4.0,
            tick_label(lmax * f)
        );
        if has_right {
            let _ = writeln!(
                out,
                "<text x=\"{}\" y=\"{}\" fill=\"#555\">{}</text>",
                LEFT + pw + 6.0,
                y + 4.0,
                tick_label(rmax * f)
            );
        }
    }
    // Ticks on round seconds: every 1, 2, 2.5, 5 or 10 × 10ⁿ s, about five of them.
    let step = nice_max((x1 - x0) / 5.0);
    let first = (x0 / step).ceil() as i64;
    for i in first.. {
        let t = i as f64 * step;
        if t > x1 + 1e-9 {
            break;
        }
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{}s</text>",
            px(t),
            TOP + ph + 16.0,
            num(t, 0)
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">time since the scenario started</text>",
        LEFT + pw / 2.0,
        H - 4.0,
    );
    let _ = writeln!(
        out,
        "<text x=\"12\" y=\"{}\" fill=\"#555\" transform=\"rotate(-90 12 {})\" text-anchor=\"middle\">{}</text>",
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        xml_escape(c.left_unit)
    );
    if has_right {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" fill=\"#555\" transform=\"rotate(90 {} {})\" text-anchor=\"middle\">{}</text>",
            W - 8.0,
            TOP + ph / 2.0,
            W - 8.0,
            TOP + ph / 2.0,
            xml_escape(c.right_unit)
        );
    }
    if clipped {
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"17\" text-anchor=\"end\" fill=\"#555\">values above {} {} drawn at the top</text>",
            LEFT + pw,
            tick_label(lmax),
            xml_escape(c.left_unit)
        );
    }
    let mut order: Vec<&Line> = c.lines.iter().collect();
    order.sort_by(|a, b| b.width.total_cmp(&a.width));
    for line in order {
        let max = if line.right { rmax } else { lmax };
        let py = |v: f64| py(v.min(max), max);
        let mut run: Vec<String> = Vec::new();
        let flush = |run: &mut Vec<String>, out: &mut String| {
            if run.len() == 1 {
                // A lone point between gaps: a dot, or it would not show at all.
                let mut xy = run[0].split(',');
                let (x, y) = (xy.next().unwrap_or("0"), xy.next().unwrap_or("0"));
                let _ = writeln!(
                    out,
                    "<circle cx=\"{x}\" cy=\"{y}\" r=\"{}\" fill=\"{}\"/>",
                    num(line.width.max(2.5) * 0.8, 1),
                    xml_escape(line.color)
                );
            } else if run.len() > 1 {
                let _ = writeln!(
                    out,
                    "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" stroke-linejoin=\"round\" points=\"{}\"/>",
                    xml_escape(line.color),
                    num(line.width, 1),
                    run.join(" ")
                );
            }
            run.clear();
        };
        for (t, v) in c.x.iter().zip(&line.values) {
            match v {
                Some(v) => run.push(format!("{:.1},{:.1}", px(*t), py(*v))),
                None => flush(&mut run, &mut out),
            }
        }
        flush(&mut run, &mut out);
    }
    out.push_str("</svg>");
    out
}

/// An SVG bar chart: one bar per labelled value (a latency distribution).
pub(crate) fn bars_svg(
    kind: &str,
    title: &str,
    unit: &str,
    x_label: &str,
    bars: &[(String, f64)],
) -> String {
    let (pw, ph) = (W - LEFT - 20.0, H - TOP - BOTTOM);
    let max = nice_max(bars.iter().map(|b| b.1).fold(0.0, f64::max));
    let mut out = String::new();
    open_svg(&mut out, kind, title);
    legend(&mut out, &[(unit, "#4e79a7")]);
    for i in 0..=4 {
        let f = i as f64 / 4.0;
        let y = TOP + ph - f * ph;
        let _ = writeln!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#e3e3e3\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#555\">{}</text>",
            LEFT + pw,
            LEFT - 6.0,
            y + 4.0,
            tick_label(max * f)
        );
    }
    let n = bars.len().max(1) as f64;
    let slot = pw / n;
    let label_every = (bars.len() / 8).max(1);
    for (i, (label, v)) in bars.iter().enumerate() {
        let h = v / max * ph;
        let x = LEFT + slot * i as f64;
        let _ = writeln!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#4e79a7\"><title>{}: {}</title></rect>",
            x + slot * 0.1,
            TOP + ph - h,
            slot * 0.8,
            h,
            xml_escape(label),
            num(*v, 2)
        );
        if i % label_every == 0 {
            let _ = writeln!(
                out,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
                x + slot / 2.0,
                TOP + ph + 16.0,
                xml_escape(label)
            );
        }
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
        LEFT + pw / 2.0,
        H - 4.0,
        xml_escape(x_label)
    );
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(n: usize) -> TimeSeries {
        TimeSeries {
            interval_s: 1.0,
            points: (0..n)
                .map(|i| Point {
                    t: i as f64,
                    requests: 10,
                    failed: (i % 2) as u64,
                    iterations: 2,
                    vus: i as u64,
                    p50: Some(i as f64),
                    p95: if i == 3 { None } else { Some(2.0 * i as f64) },
                    p99: Some(3.0 * i as f64),
                })
                .collect(),
        }
    }

    #[test]
    fn downsampling_keeps_totals_and_worst_percentiles() {
        let b = downsample(&series(240), 240.0, 60);
        assert_eq!(b.len(), 60);
        assert_eq!(b.iter().map(|b| b.requests).sum::<u64>(), 2400);
        assert_eq!(b[1].t, 4.0);
        assert_eq!(b[1].width_s, 4.0);
        assert_eq!(b[1].p95, Some(14.0));
        assert_eq!(b[0].p95, Some(4.0), "a gap inside a bucket is skipped");
        assert_eq!(b[1].rps(), 10.0);
        assert_eq!(downsample(&series(30), 30.0, 60).len(), 30);
        assert_eq!(downsample(&series(61), 61.0, 60).len(), 31);
        assert!(downsample(&series(0), 0.0, 60).is_empty());
        // A run that stopped half way through its last second: counted over the half second.
        let last = downsample(&series(10), 9.5, 60).pop().unwrap();
        assert_eq!(last.width_s, 0.5);
        assert_eq!(last.rps(), 20.0);
    }

    /// The last 0.2 s of a run (10 requests there would read as 50 req/s against 10 in every
    /// whole second) is left out of the charts, and so is a first interval the scenario
    /// entered late; a bucket of several intervals keeps its partial one.
    #[test]
    fn a_partial_interval_is_not_drawn_as_a_rate() {
        let b = downsample(&series(10), 9.2, 60);
        assert_eq!(b.len(), 9);
        assert!(b.iter().all(|b| b.rps() == 10.0), "{b:?}");
        let mut late = series(10);
        for p in &mut late.points[1..] {
            p.t -= 0.7;
        }
        let b = downsample(&late, 9.3, 60);
        assert!(
            (b[0].t - 0.3).abs() < 1e-9,
            "the first 0.3 s is left out: {b:?}"
        );
        // Four intervals per bucket, the last of two: 1.2 s of 2 is drawn, over the time it
        // covered.
        let b = downsample(&series(38), 37.2, 10);
        assert_eq!(b.len(), 10);
        assert!((b[9].width_s - 1.2).abs() < 1e-9, "{b:?}");
        // Less than half an interval in all: shown, there is nothing else.
        assert_eq!(downsample(&series(1), 0.3, 60).len(), 1);
    }

    /// p95 and p99 coincide when few requests ran: the wider line goes under the narrower, so
    /// every line of the legend stays visible.
    #[test]
    fn coinciding_lines_are_drawn_widest_first() {
        let line = |label, width| Line {
            label,
            color: label,
            values: vec![Some(5.0), Some(5.0)],
            right: false,
            width,
        };
        let svg = line_svg(&LineChart {
            kind: "latency",
            title: "t",
            x: vec![0.0, 1.0],
            left_unit: "ms",
            right_unit: "",
            lines: vec![line("p50", 1.6), line("p95", 3.2), line("p99", 5.0)],
            left_cap: None,
        });
        let at = |c: &str| svg.find(&format!("stroke=\"{c}\"")).unwrap();
        assert!(at("p99") < at("p95") && at("p95") < at("p50"), "{svg}");
        assert!(svg.contains("stroke=\"p99\" stroke-width=\"5\""), "{svg}");
    }

    #[test]
    fn mermaid_has_one_value_per_bucket() {
        let b = downsample(&series(10), 10.0, 60);
        let m = mermaid("say \"hi\"", &b);
        assert!(
            m.contains("title \"say 'hi': latency p50 / p95 / p99 (ms)\""),
            "{m}"
        );
        assert!(
            m.contains("x-axis \"seconds\" [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"),
            "{m}"
        );
        assert!(
            m.contains("    line [0, 2, 4, 0, 8, 10, 12, 14, 16, 18]"),
            "{m}"
        );
        assert!(m.contains("    bar [10, 10, 10"), "{m}");
    }

    #[test]
    fn svg_escapes_labels_and_breaks_lines_at_gaps() {
        let svg = line_svg(&LineChart {
            kind: "latency",
            title: "a <b> & c",
            x: vec![0.0, 1.0, 2.0, 3.0],
            left_unit: "ms",
            right_unit: "",
            lines: vec![Line {
                label: "p95",
                color: "#e15759",
                values: vec![Some(1.0), Some(2.0), None, Some(4.0)],
                right: false,
                width: 1.6,
            }],
            left_cap: None,
        });
        assert!(svg.starts_with("<svg data-chart=\"latency\""));
        assert!(svg.contains("<title>a &lt;b&gt; &amp; c</title>"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert_eq!(svg.matches("<circle").count(), 1);
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn a_capped_axis_draws_outliers_at_the_top_and_says_so() {
        let chart = |cap| {
            line_svg(&LineChart {
                kind: "latency",
                title: "t",
                x: vec![0.0, 1.0, 2.0],
                left_unit: "ms",
                right_unit: "",
                lines: vec![Line {
                    label: "p99",
                    color: "red",
                    values: vec![Some(10.0), Some(10_000.0), Some(20.0)],
                    right: false,
                    width: 1.6,
                }],
                left_cap: cap,
            })
        };
        let capped = chart(Some(40.0));
        assert!(
            capped.contains("values above 50 ms drawn at the top"),
            "{capped}"
        );
        assert!(
            capped.contains(&format!(",{TOP:.1} ")),
            "the outlier sits on the top edge"
        );
        assert!(!chart(None).contains("drawn at the top"));
    }

    #[test]
    fn nice_axis_maxima() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(812.4), 1000.0);
        assert_eq!(nice_max(180.0), 200.0);
        assert_eq!(nice_max(21.0), 25.0);
        assert_eq!(nice_max(5.0), 5.0);
    }
}
