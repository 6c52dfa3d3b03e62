//! The k6 summary export (`*_k6.json`): the JSON `k6 run --summary-export` writes (k6's "legacy"
//! summary), for GitLab's `reports: load_performance` widget and other k6 tooling.
//!
//! The shape, as k6 builds it from its end-of-test data:
//!
//! ```text
//! { "root_group": { "name": "", "path": "", "id": md5(""), "groups": {},
//!                   "checks": { NAME: { "name", "path": "::NAME", "id": md5(path), "passes", "fails" } } },
//!   "metrics": { NAME: values } }
//! ```
//!
//! where the values are flat, by metric type: trend `avg min med max p(90) p(95)` (ms), counter
//! `count rate`, rate `value passes fails` (k6 renames a rate's `rate` to `value` here), gauge
//! `value min max`; a metric with thresholds carries `"thresholds": {"p(95)<500": false}` mapping
//! each expression to whether it *failed*. Sub-metrics (`http_req_duration{name:login}`) are
//! metrics of their own, as in k6.
//!
//! k6 reports one test; a run of several scenarios is folded into one: trends are recomputed
//! from the merged histograms in the summary's raw data (exact), counters and rates are summed
//! (a counter's rate is per second of the whole run), gauges keep their extremes and the last
//! scenario's value, and a threshold counts as failed when it failed in any scenario. GitLab
//! reads `metrics.http_reqs.rate`, `metrics.http_req_waiting["p(90)"]`/`["p(95)"]` and
//! `metrics.checks.passes`/`fails`.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::reporter::Reporter;
use crate::rules::threshold::parse_metric_key;
use crate::summary::hist::{decode_hist, new_hist, Hist};
use crate::summary::schema::{Metric, MetricType, RawSeries, Summary, ThresholdStatus};

pub(crate) struct K6;

impl Reporter for K6 {
    fn render(&self, s: &Summary) -> anyhow::Result<Vec<u8>> {
        let doc = json!({
            "root_group": root_group(s),
            "metrics": metrics(s),
        });
        // k6 writes this file with four-space indentation.
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        doc.serialize(&mut serde_json::Serializer::with_formatter(&mut out, fmt))?;
        out.push(b'\n');
        Ok(out)
    }
}

/// k6's separator between group and check names in a path.
const GROUP_SEPARATOR: &str = "::";

fn root_group(s: &Summary) -> Value {
    let mut merged: Vec<(String, u64, u64)> = Vec::new();
    for c in s.scenarios.iter().flat_map(|sc| &sc.checks) {
        match merged.iter_mut().find(|(n, _, _)| *n == c.name) {
            Some(m) => {
                m.1 += c.passes;
                m.2 += c.fails;
            }
            None => merged.push((c.name.clone(), c.passes, c.fails)),
        }
    }
    let checks: Map<String, Value> = merged
        .into_iter()
        .map(|(name, passes, fails)| {
            let path = format!("{GROUP_SEPARATOR}{name}");
            let check = json!({
                "name": name,
                "path": path,
                "id": md5_hex(path.as_bytes()),
                "passes": passes,
                "fails": fails,
            });
            (name, check)
        })
        .collect();
    json!({
        "name": "",
        "path": "",
        "id": md5_hex(b""),
        "groups": {},
        "checks": checks,
    })
}

/// The trend statistics k6 exports by default (`summaryTrendStats`).
const TREND_STATS: [&str; 6] = ["avg", "min", "med", "max", "p(90)", "p(95)"];

fn metrics(s: &Summary) -> Map<String, Value> {
    let mut keys: Vec<&str> = Vec::new();
    for sc in &s.scenarios {
        keys.extend(sc.metrics.keys().map(String::as_str));
        keys.extend(sc.thresholds.iter().map(|t| t.metric.as_str()));
    }
    keys.sort_unstable();
    keys.dedup();

    let mut out = Map::new();
    for key in keys {
        let found: Vec<&Metric> = s
            .scenarios
            .iter()
            .filter_map(|sc| sc.metrics.get(key))
            .collect();
        let mut values = match found.first() {
            // A sub-metric only a threshold names (`http_req_duration{name:login}`): its
            // figures come from the raw histograms, as k6 would have tracked them.
            None => merged_hist(s, key)
                .map(|h| trend_of(&h))
                .unwrap_or_default(),
            Some(first) if s.scenarios.len() == 1 => flat(first),
            Some(first) => fold(s, key, first.kind, &found),
        };
        let mut thresholds = Map::new();
        for t in s
            .scenarios
            .iter()
            .flat_map(|sc| &sc.thresholds)
            .filter(|t| t.metric == key)
        {
            let failed = t.status == ThresholdStatus::Fail;
            let slot = thresholds
                .entry(t.expression.clone())
                .or_insert(Value::Bool(false));
            if failed {
                *slot = Value::Bool(true);
            }
        }
        if !thresholds.is_empty() {
            values.insert("thresholds".into(), Value::Object(thresholds));
        }
        out.insert(key.to_string(), Value::Object(values));
    }
    // GitLab's widget reads `checks`; k6 always has it when a script checks anything.
    out.entry("checks")
        .or_insert_with(|| json!({"passes": 0, "fails": 0, "value": 0}));
    out
}

/// A number as JavaScript prints it: integral values without `.0` (`"count": 300`, as k6).
fn num(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
        return Value::from(v as i64);
    }
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// One scenario's metric in k6's flat layout.
fn flat(m: &Metric) -> Map<String, Value> {
    let get = |k: &str| m.values.get(k).copied();
    let mut out = Map::new();
    match m.kind {
        MetricType::Trend => {
            for stat in TREND_STATS {
                if let Some(v) = get(stat) {
                    out.insert(stat.into(), num(v));
                }
            }
        }
        MetricType::Rate => {
            // k6's legacy export calls a rate's `rate` `value`.
            out.insert(
                "value".into(),
                num(get("rate").or(get("value")).unwrap_or(0.0)),
            );
            out.insert("passes".into(), num(get("passes").unwrap_or(0.0)));
            out.insert("fails".into(), num(get("fails").unwrap_or(0.0)));
        }
        _ => {
            for (k, v) in &m.values {
                out.insert(k.clone(), num(*v));
            }
        }
    }
    out
}

/// A trend's k6 values from its histogram (µs), in ms.
fn trend_of(h: &Hist) -> Map<String, Value> {
    let ms = |us: u64| us as f64 / 1000.0;
    let mut out = Map::new();
    out.insert("avg".into(), num(h.mean() / 1000.0));
    out.insert("min".into(), num(ms(h.min())));
    out.insert("med".into(), num(ms(h.value_at_quantile(0.5))));
    out.insert("max".into(), num(ms(h.max())));
    out.insert("p(90)".into(), num(ms(h.value_at_quantile(0.90))));
    out.insert("p(95)".into(), num(ms(h.value_at_quantile(0.95))));
    out
}

/// One metric over several scenarios.
fn fold(s: &Summary, key: &str, kind: MetricType, found: &[&Metric]) -> Map<String, Value> {
    let sum = |k: &str| found.iter().filter_map(|m| m.values.get(k)).sum::<f64>();
    let all = |k: &str| -> Vec<f64> {
        found
            .iter()
            .filter_map(|m| m.values.get(k).copied())
            .collect()
    };
    let mut out = Map::new();
    match kind {
        MetricType::Trend => {
            if let Some(h) = merged_hist(s, key) {
                out = trend_of(&h);
            } else {
                // No histogram to merge: exact where the figures allow (min, max, a
                // count-weighted mean), the worst scenario's percentiles otherwise.
                let counts: f64 = sum("count");
                let avg = if counts > 0.0 {
                    found
                        .iter()
                        .map(|m| {
                            m.values.get("avg").unwrap_or(&0.0)
                                * m.values.get("count").unwrap_or(&0.0)
                        })
                        .sum::<f64>()
                        / counts
                } else {
                    all("avg").into_iter().fold(f64::NAN, f64::max)
                };
                out.insert("avg".into(), num(avg));
                out.insert(
                    "min".into(),
                    num(all("min").into_iter().fold(f64::INFINITY, f64::min)),
                );
                for stat in ["med", "max", "p(90)", "p(95)"] {
                    out.insert(
                        stat.into(),
                        num(all(stat).into_iter().fold(f64::NEG_INFINITY, f64::max)),
                    );
                }
                out.retain(|_, v| !v.is_null());
            }
        }
        MetricType::Counter => {
            let count = sum("count");
            out.insert("count".into(), num(count));
            let rate = if s.run.duration_s > 0.0 {
                count / s.run.duration_s
            } else {
                0.0
            };
            out.insert("rate".into(), num(rate));
        }
        MetricType::Rate => {
            let (passes, fails) = (sum("passes"), sum("fails"));
            let value = if passes + fails > 0.0 {
                passes / (passes + fails)
            } else {
                0.0
            };
            out.insert("value".into(), num(value));
            out.insert("passes".into(), num(passes));
            out.insert("fails".into(), num(fails));
        }
        _ => {
            let last = found
                .last()
                .and_then(|m| m.values.get("value"))
                .copied()
                .unwrap_or(0.0);
            out.insert("value".into(), num(last));
            out.insert(
                "min".into(),
                num(all("min").into_iter().fold(f64::INFINITY, f64::min)),
            );
            out.insert(
                "max".into(),
                num(all("max").into_iter().fold(f64::NEG_INFINITY, f64::max)),
            );
            out.retain(|_, v| !v.is_null());
        }
    }
    out
}

/// Whether a raw request series carries a tag value, for the tags a series knows.
fn series_tag(r: &RawSeries, tag: &str) -> Option<String> {
    Some(match tag {
        "scenario" => r.scenario.clone(),
        "name" => r.name.clone(),
        "method" => r.method.clone(),
        "group" => r.group.clone(),
        "status" => r.status.to_string(),
        "expected_response" => (!r.failed).to_string(),
        "error" => r.error.as_str().to_string(),
        _ => return None,
    })
}

/// The histogram of a trend (or trend sub-metric) over every scenario, merged from the raw data.
/// `None` when the data has none, a tag cannot be matched on it, or a histogram does not decode.
fn merged_hist(s: &Summary, key: &str) -> Option<Hist> {
    let key = parse_metric_key(key).ok()?;
    let mut merged = new_hist();
    let mut found = false;
    let mut add = |enc: &str| -> Option<()> {
        merged.add(decode_hist(enc).ok()?).ok()?;
        found = true;
        Some(())
    };
    if key.metric.starts_with("http_req_") {
        for r in &s.data.series {
            let mut keep = true;
            for (tag, value) in &key.tags {
                keep &= series_tag(r, tag)? == *value;
            }
            if keep {
                if let Some(enc) = r.hists.get(&key.metric) {
                    add(enc)?;
                }
            }
        }
    } else if key.metric == "iteration_duration" {
        if key.tags.iter().any(|(tag, _)| tag != "scenario") {
            return None;
        }
        for r in &s.data.scenarios {
            if key.tags.iter().all(|(_, value)| r.name == *value) {
                if let Some(enc) = r.hists.get("iteration_duration") {
                    add(enc)?;
                }
            }
        }
    } else {
        for c in s.data.custom.iter().filter(|c| c.metric == key.metric) {
            let mut keep = true;
            for (tag, value) in &key.tags {
                keep &= match tag.as_str() {
                    "scenario" => c.scenario == *value,
                    "name" => c.name == *value,
                    _ => return None,
                };
            }
            if let (true, Some(enc)) = (keep, &c.hist) {
                add(enc)?;
            }
        }
    }
    (found && !merged.is_empty()).then_some(merged)
}

/// MD5, for k6's group and check ids (`md5(path)` in hex). Not used for anything secret.
fn md5_hex(data: &[u8]) -> String {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_le_bytes());
    let (mut a0, mut b0, mut c0, mut d0) = (
        0x6745_2301u32,
        0xefcd_ab89u32,
        0x98ba_dcfeu32,
        0x1032_5476u32,
    );
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    [a0, b0, c0, d0]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    fn render(name: &str) -> Value {
        serde_json::from_slice(&K6.render(&testdata::load(name)).unwrap()).unwrap()
    }

    #[test]
    fn md5_matches_the_reference_vectors() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            md5_hex(b"The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        assert_eq!(md5_hex(&[b'a'; 64]), "014842d480b571495a4a0363793f7367");
    }

    #[test]
    fn single_scenario_copies_the_summary_in_k6_layout() {
        let k = render("passed");
        let s = testdata::load("passed");
        let m = &s.scenarios[0].metrics;
        assert_eq!(k["root_group"]["id"], "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(k["root_group"]["groups"], json!({}));
        let check = &k["root_group"]["checks"]["health: status is 200"];
        assert_eq!(check["path"], "::health: status is 200");
        assert_eq!(check["id"], md5_hex(b"::health: status is 200"));
        assert_eq!(check["passes"], 60);
        assert_eq!(check["fails"], 0);

        let d = &k["metrics"]["http_req_duration"];
        let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["avg", "max", "med", "min", "p(90)", "p(95)", "thresholds"]
        );
        assert_eq!(d["p(95)"], num(m["http_req_duration"].values["p(95)"]));
        assert_eq!(
            d["thresholds"],
            json!({"p(95)<500": false, "p(99)<1000": false})
        );
        assert_eq!(k["metrics"]["http_reqs"], json!({"count": 300, "rate": 10}));
        let failed = &k["metrics"]["http_req_failed"];
        assert_eq!(failed["value"], 0);
        assert!(
            failed.get("rate").is_none(),
            "k6 renames a rate's rate to value"
        );
        assert_eq!(k["metrics"]["checks"]["passes"], 300);
        assert_eq!(k["metrics"]["vus"]["max"], 5);
        assert!(k["metrics"]["http_req_waiting"]["p(90)"].is_number());
        // Four-space indentation, as k6 writes it.
        let text = String::from_utf8(K6.render(&s).unwrap()).unwrap();
        assert!(
            text.starts_with("{\n    \"metrics\": {\n        \"checks\": {"),
            "{text}"
        );
    }

    #[test]
    fn several_scenarios_are_folded_exactly_from_the_histograms() {
        let s = testdata::load("failed");
        let k = render("failed");
        let (a, b) = (&s.scenarios[0], &s.scenarios[1]);
        let count =
            |sc: &crate::summary::schema::ScenarioSummary| sc.metrics["http_reqs"].values["count"];
        assert_eq!(k["metrics"]["http_reqs"]["count"], num(count(a) + count(b)));
        assert_eq!(
            k["metrics"]["http_reqs"]["rate"],
            json!((count(a) + count(b)) / s.run.duration_s)
        );

        // The p95 of all requests, from the merged raw histograms: between the two scenarios'.
        let mut all = new_hist();
        for r in &s.data.series {
            all.add(decode_hist(&r.hists["http_req_duration"]).unwrap())
                .unwrap();
        }
        let p95 = all.value_at_quantile(0.95) as f64 / 1000.0;
        assert_eq!(k["metrics"]["http_req_duration"]["p(95)"], num(p95));
        assert!(p95 > b.metrics["http_req_duration"].values["p(95)"]);
        assert!(p95 < a.metrics["http_req_duration"].values["p(95)"]);
        assert_eq!(
            k["metrics"]["http_req_duration"]["max"],
            num(a.metrics["http_req_duration"].values["max"])
        );

        // A threshold failed in one scenario is failed.
        assert_eq!(
            k["metrics"]["http_req_duration"]["thresholds"],
            json!({"p(95)<500": true, "p(99)<1000": false, "p(99)<2000": false})
        );
        // No data: the metric appears with its threshold, not failed.
        assert_eq!(
            k["metrics"]["http_req_duration{name:logout}"],
            json!({"thresholds": {"p(95)<150": false}})
        );
        let fails: u64 = s
            .scenarios
            .iter()
            .flat_map(|sc| &sc.checks)
            .map(|c| c.fails)
            .sum();
        assert_eq!(k["metrics"]["checks"]["fails"], json!(fails));
        assert_eq!(k["root_group"]["checks"].as_object().unwrap().len(), 5);
    }

    #[test]
    fn a_sub_metric_named_only_by_a_threshold_gets_its_figures() {
        let mut s = testdata::load("passed");
        let mut t = s.scenarios[0].thresholds[0].clone();
        t.metric = "http_req_duration{name:me}".into();
        s.scenarios[0].thresholds.push(t);
        let k: Value = serde_json::from_slice(&K6.render(&s).unwrap()).unwrap();
        let me = s.scenarios[0]
            .endpoints
            .iter()
            .find(|e| e.name == "me")
            .unwrap();
        let m = &k["metrics"]["http_req_duration{name:me}"];
        assert_eq!(m["p(95)"], num(me.latency.p95), "{m}");
        assert_eq!(m["thresholds"], json!({"p(95)<500": false}));
    }

    #[test]
    fn sub_metrics_select_series_by_tag() {
        let s = testdata::load("failed");
        let h = merged_hist(&s, "http_req_duration{name:login}").unwrap();
        let login = s.scenarios[0]
            .endpoints
            .iter()
            .find(|e| e.name == "login")
            .unwrap();
        assert_eq!(h.len(), login.requests);
        assert_eq!(h.value_at_quantile(0.95) as f64 / 1000.0, login.latency.p95);
        assert!(
            merged_hist(&s, "http_req_duration{url:/x}").is_none(),
            "unknown tag: no guess"
        );
        assert_eq!(
            merged_hist(&s, "iteration_duration{scenario:agents}")
                .unwrap()
                .len(),
            1200
        );
    }
}
