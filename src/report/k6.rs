//! The k6 summary export (`*_k6.json`): the JSON `k6 run --summary-export` writes (k6's "legacy"
//! summary), for GitLab's `reports: load_performance` widget and other k6 tooling.
//!
//! The shape, as k6 builds it from its end-of-test data:
//!
//! ```text
//! { "root_group": { "name": "", "path": "", "id": md5(""),
//!                   "groups": { NAME: { "name", "path": "::NAME", "id": md5(path), "groups", "checks" } },
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
//! Every value is computed by `summary::dataset::observe` on the summary's raw data: the function
//! that observed each threshold, so a flag and the values beside it are one measurement. k6
//! reports one test; our thresholds are judged per scenario. So with several scenarios the plain
//! metrics cover the whole run (as k6's would), and each threshold sits under a key that names
//! the scenario it was judged in (`http_req_duration{scenario:auth}`), as a k6 user writes a
//! per-scenario threshold. With one scenario, the scenario is the run and keys stay as written.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::reporter::Reporter;
use crate::engine::metrics::recorder::TRENDS;
use crate::rules::threshold::{builtin_metric, parse_metric_key, MetricKey};
use crate::rules::{summary_metric_type, type_of_row};
use crate::summary::dataset::{observe, Dataset, Observed};
use crate::summary::scenario::{running_points, vus_samples};
use crate::summary::schema::{MetricType, Summary, ThresholdResult, ThresholdStatus};

pub(crate) struct K6;

impl Reporter for K6 {
    fn render(&self, s: &Summary) -> anyhow::Result<Vec<u8>> {
        let ds = Dataset::from_raw(&s.data)?;
        let doc = json!({
            "root_group": root_group(&ds),
            "metrics": metrics(s, &ds),
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

/// The groups as k6 nests them, each with the checks of the requests that ran in it. A group
/// is there when it ran (a `group_duration`), or when a request of it completed, was cut off or
/// checked; the groups it is in are there with it.
fn root_group(ds: &Dataset) -> Value {
    let mut paths: BTreeSet<&str> = BTreeSet::new();
    let used = ds
        .groups
        .iter()
        .map(|g| g.group.as_str())
        .chain(ds.series.iter().map(|r| r.group.as_str()))
        .chain(ds.checks.iter().map(|c| c.group.as_str()))
        .chain(ds.interrupted.iter().map(|c| c.group.as_str()));
    for path in used.filter(|p| !p.is_empty()) {
        for (i, _) in path.match_indices(GROUP_SEPARATOR) {
            paths.insert(&path[..i]);
        }
        paths.insert(path);
    }
    // k6 keeps one check per name in a group, whichever request or scenario ran it.
    let mut checks: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
    for c in &ds.checks {
        let n = checks.entry((&c.group, &c.name)).or_default();
        n.0 += c.passes;
        n.1 += c.fails;
    }
    group_value("", "", &paths, &checks)
}

/// The group at `path` (`outer::inner`; "" the root), as k6 writes it.
fn group_value(
    path: &str,
    name: &str,
    paths: &BTreeSet<&str>,
    checks: &BTreeMap<(&str, &str), (u64, u64)>,
) -> Value {
    let k6_path = if path.is_empty() {
        String::new()
    } else {
        format!("{GROUP_SEPARATOR}{path}")
    };
    let parent_of = |p: &str| p.rfind(GROUP_SEPARATOR).map_or("", |i| &p[..i]).to_string();
    let groups: Map<String, Value> = paths
        .iter()
        .filter(|p| parent_of(p) == path)
        .map(|p| {
            let own = p.rsplit(GROUP_SEPARATOR).next().unwrap_or(p);
            (own.to_string(), group_value(p, own, paths, checks))
        })
        .collect();
    let checks_here: Map<String, Value> = checks
        .iter()
        .filter(|((group, _), _)| *group == path)
        .map(|((_, check), (passes, fails))| {
            let check_path = format!("{k6_path}{GROUP_SEPARATOR}{check}");
            let value = json!({
                "name": check,
                "path": check_path,
                "id": md5_hex(check_path.as_bytes()),
                "passes": passes,
                "fails": fails,
            });
            (check.to_string(), value)
        })
        .collect();
    json!({
        "name": name,
        "path": k6_path,
        "id": md5_hex(k6_path.as_bytes()),
        "groups": groups,
        "checks": checks_here,
    })
}

/// The trend statistics k6 exports by default (`summaryTrendStats`).
const TREND_STATS: [&str; 6] = ["avg", "min", "med", "max", "p(90)", "p(95)"];

/// The scenario name the whole run goes by once its scenarios are folded into one.
const WHOLE_RUN: &str = "\u{1}whole run";

/// The run as one scenario: every measurement under one name (same tag sets add up, histograms
/// merge exactly), lasting as long as the run.
fn whole_run(ds: &Dataset, duration_s: f64) -> Dataset {
    let mut one = ds.clone();
    one.series
        .iter_mut()
        .for_each(|x| x.scenario = WHOLE_RUN.into());
    one.scenarios
        .iter_mut()
        .for_each(|x| x.name = WHOLE_RUN.into());
    one.checks
        .iter_mut()
        .for_each(|x| x.scenario = WHOLE_RUN.into());
    one.custom
        .iter_mut()
        .for_each(|x| x.scenario = WHOLE_RUN.into());
    one.interrupted
        .iter_mut()
        .for_each(|x| x.scenario = WHOLE_RUN.into());
    one.groups
        .iter_mut()
        .for_each(|x| x.scenario = WHOLE_RUN.into());
    let mut whole = Dataset::default();
    whole.absorb(one);
    for s in &mut whole.scenarios {
        s.duration_s = duration_s;
    }
    whole
}

fn metrics(s: &Summary, ds: &Dataset) -> Map<String, Value> {
    let many = s.scenarios.len() > 1;
    let folded;
    // One scenario is the run, unless the once-per-test setup or teardown sent requests too:
    // k6 counts those in its plain metrics.
    let alone = |name: &str| ds.series.iter().all(|r| r.scenario == name);
    let (whole, name) = match s.scenarios.as_slice() {
        [one] if alone(&one.name) => (ds, one.name.as_str()),
        _ => {
            folded = whole_run(ds, s.run.duration_s);
            (&folded, WHOLE_RUN)
        }
    };
    let mut out = Map::new();
    // Every metric that got a sample, over the whole run, as k6 writes them.
    for (metric, kind) in measured(whole) {
        let key = MetricKey::whole(&metric);
        out.insert(metric, Value::Object(values(whole, name, &key, kind)));
    }
    // k6 tracks this sub-metric in every test (its summary shows it under http_req_duration).
    if whole.series.iter().any(|r| !r.failed && r.count > 0) {
        let key = parse_metric_key("http_req_duration{expected_response:true}").expect("valid");
        let v = values(whole, name, &key, MetricType::Trend);
        out.insert(key.source.clone(), Value::Object(v));
    }
    if let Some(v) = vus_values(s) {
        out.insert("vus".into(), v);
    }
    if let Some(v) = vus_max_value(s) {
        out.insert("vus_max".into(), v);
    }
    // Each threshold, under the key that names the samples it was judged on, with their values
    // (which replace a plain metric's of the same key: `vus` is judged on the VUs allocated).
    let mut judged: BTreeSet<String> = BTreeSet::new();
    for sc in &s.scenarios {
        for row in &sc.thresholds {
            let Ok(mut key) = parse_metric_key(&row.metric) else {
                continue;
            };
            let scope = match key.tag("scenario") {
                Some(named) => named.to_string(),
                None if many => {
                    key.tags.push(("scenario".into(), sc.name.clone()));
                    key.tags.sort();
                    key.source = key.to_string();
                    sc.name.clone()
                }
                None => sc.name.clone(),
            };
            if judged.insert(key.source.clone()) {
                let kind = metric_kind(s, row);
                let v = values(ds, &scope, &key, kind);
                out.insert(key.source.clone(), Value::Object(v));
            }
            if let Some(entry) = out.get_mut(&key.source) {
                flag(entry, row);
            }
        }
    }
    out
}

/// Records whether a threshold failed beside its metric's values (failed in any row: failed).
fn flag(entry: &mut Value, row: &ThresholdResult) {
    let Value::Object(m) = entry else {
        return;
    };
    let thresholds = m
        .entry("thresholds")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(t) = thresholds {
        let failed = row.status == ThresholdStatus::Fail;
        let slot = t
            .entry(row.expression.clone())
            .or_insert(Value::Bool(false));
        if failed {
            *slot = Value::Bool(true);
        }
    }
}

fn metric_kind(s: &Summary, row: &ThresholdResult) -> MetricType {
    parse_metric_key(&row.metric)
        .ok()
        .and_then(|k| summary_metric_type(s, &k.metric))
        .unwrap_or_else(|| type_of_row(row))
}

/// The metrics of the run that got at least one sample (`vus` and `vus_max` aside), with their
/// types.
fn measured(ds: &Dataset) -> Vec<(String, MetricType)> {
    let mut out: Vec<(String, MetricType)> = Vec::new();
    let mut add = |name: &str, kind: MetricType| out.push((name.to_string(), kind));
    for (i, (_, name)) in TRENDS.iter().enumerate() {
        let seen = ds
            .series
            .iter()
            .any(|r| r.hists[i].as_ref().is_some_and(|h| !h.is_empty()));
        if seen {
            add(name, MetricType::Trend);
        }
    }
    if ds.series.iter().any(|r| r.count > 0) {
        for name in ["http_reqs", "http_req_failed", "data_sent", "data_received"] {
            add(name, builtin_metric(name).expect("built in"));
        }
    }
    if ds.scenarios.iter().any(|s| s.iterations > 0) {
        add("iterations", MetricType::Counter);
    }
    let iteration_durations = ds
        .scenarios
        .iter()
        .filter_map(|s| s.iteration_duration.as_ref());
    if iteration_durations.into_iter().any(|h| !h.is_empty()) {
        add("iteration_duration", MetricType::Trend);
    }
    if ds.scenarios.iter().any(|s| s.dropped > 0) {
        add("dropped_iterations", MetricType::Counter);
    }
    if ds.checks.iter().any(|c| c.passes + c.fails > 0) {
        add("checks", MetricType::Rate);
    }
    if ds.groups.iter().any(|g| !g.hist.is_empty()) {
        add("group_duration", MetricType::Trend);
    }
    let mut custom: Vec<(&str, MetricType)> = ds
        .custom
        .iter()
        .filter(|c| c.count > 0 || c.trues > 0 || c.hist.as_ref().is_some_and(|h| !h.is_empty()))
        .map(|c| (c.metric.as_str(), c.kind))
        .collect();
    custom.sort_unstable_by_key(|(n, _)| *n);
    custom.dedup_by_key(|(n, _)| *n);
    for (name, kind) in custom {
        add(name, kind);
    }
    out
}

/// A number as JavaScript prints it: integral values without `.0` (`"count": 300`, as k6).
fn num(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
        return Value::from(v as i64);
    }
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// `key`'s values in `scenario` of `ds`, in k6's flat layout; zeroes without data, as k6 writes
/// a metric that only a threshold names.
fn values(ds: &Dataset, scenario: &str, key: &MetricKey, kind: MetricType) -> Map<String, Value> {
    let mut out = Map::new();
    let mut put = |k: &str, v: f64| {
        out.insert(k.to_string(), num(v));
    };
    match observe(ds, Some(kind), scenario, key) {
        Some(Observed::Trend(h)) if !h.is_empty() => {
            let ms = |us: u64| us as f64 / 1000.0;
            put("avg", h.mean() / 1000.0);
            put("min", ms(h.min()));
            put("med", ms(h.value_at_quantile(0.5)));
            put("max", ms(h.max()));
            put("p(90)", ms(h.value_at_quantile(0.90)));
            put("p(95)", ms(h.value_at_quantile(0.95)));
        }
        Some(Observed::Counter {
            count, duration_s, ..
        }) => {
            put("count", count);
            put(
                "rate",
                if duration_s > 0.0 {
                    count / duration_s
                } else {
                    0.0
                },
            );
        }
        Some(Observed::Rate { trues, total }) => {
            let rate = if total > 0 {
                trues as f64 / total as f64
            } else {
                0.0
            };
            put("value", rate);
            put("passes", trues as f64);
            put("fails", (total - trues) as f64);
        }
        Some(Observed::Gauge {
            value, min, max, ..
        }) => {
            put("value", value);
            put("min", min);
            put("max", max);
        }
        Some(Observed::Trend(_)) | None => match kind {
            MetricType::Trend => TREND_STATS.iter().for_each(|k| put(k, 0.0)),
            MetricType::Counter => ["count", "rate"].iter().for_each(|k| put(k, 0.0)),
            MetricType::Rate => ["value", "passes", "fails"]
                .iter()
                .for_each(|k| put(k, 0.0)),
            MetricType::Gauge => ["value", "min", "max"].iter().for_each(|k| put(k, 0.0)),
        },
    }
    out
}

/// `vus` as k6 samples it (every second while the test runs): with several scenarios, the
/// samples of the same moment add up. `None` without a sample, as k6 writes none then.
fn vus_values(s: &Summary) -> Option<Value> {
    let (value, min, max) = match s.scenarios.as_slice() {
        [one] => vus_samples(&one.timeseries)?,
        many => {
            // Samples are taken at the end of each interval of the run: bucket by it.
            let mut at: BTreeMap<i64, u64> = BTreeMap::new();
            for sc in many {
                let step = sc.timeseries.interval_s.max(1e-3);
                for p in running_points(&sc.timeseries) {
                    *at.entry(((sc.started_after_s + p.t) / step).round() as i64)
                        .or_default() += p.vus;
                }
            }
            let last = *at.values().last()?;
            let min = *at.values().min()?;
            let max = *at.values().max()?;
            (last as f64, min as f64, max as f64)
        }
    };
    Some(json!({"value": num(value), "min": num(min), "max": num(max)}))
}

/// `vus_max`: the VUs allocated, which stay allocated to the end; scenarios at once add up,
/// scenarios one after another reuse them. Written when `vus` is, as k6 samples both together.
fn vus_max_value(s: &Summary) -> Option<Value> {
    s.scenarios
        .iter()
        .any(|sc| !running_points(&sc.timeseries).is_empty())
        .then_some(())?;
    let each = s.scenarios.iter().map(|sc| sc.vus_max);
    let v = if s.run.parallel {
        each.sum::<u64>()
    } else {
        each.max().unwrap_or(0)
    } as f64;
    Some(json!({"value": num(v), "min": num(v), "max": num(v)}))
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
    use crate::rules::threshold::Aggregation;
    use crate::summary::hist::{decode_hist, new_hist};

    fn render_summary(s: &Summary) -> Value {
        serde_json::from_slice(&K6.render(s).unwrap()).unwrap()
    }

    fn render(name: &str) -> Value {
        render_summary(&testdata::load(name))
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
        assert_eq!(k["metrics"]["vus"], json!({"value": 5, "min": 5, "max": 5}));
        assert_eq!(
            k["metrics"]["vus_max"],
            json!({"value": 5, "min": 5, "max": 5})
        );
        assert!(k["metrics"]["http_req_waiting"]["p(90)"].is_number());
        // No request failed: the expected responses are all of them.
        assert_eq!(
            k["metrics"]["http_req_duration{expected_response:true}"]["p(95)"],
            d["p(95)"]
        );
        // Four-space indentation, as k6 writes it.
        let text = String::from_utf8(K6.render(&s).unwrap()).unwrap();
        assert!(
            text.starts_with("{\n    \"metrics\": {\n        \"checks\": {"),
            "{text}"
        );
    }

    /// The aggregation a threshold compares, read back from the export's values beside it.
    fn exported(values: &Value, row: &ThresholdResult) -> Option<f64> {
        let condition = crate::rules::threshold::parse_condition(&row.expression).unwrap();
        let field = match condition.aggregation {
            Aggregation::Avg => "avg".to_string(),
            Aggregation::Min => "min".into(),
            Aggregation::Max => "max".into(),
            Aggregation::Med => "med".into(),
            Aggregation::Percentile(p) if p == 90.0 || p == 95.0 => format!("p({p})"),
            Aggregation::Percentile(_) => return None, // not among k6's exported stats
            Aggregation::Count => "count".into(),
            Aggregation::Rate if row.unit == "per_s" => "rate".into(),
            Aggregation::Rate | Aggregation::Value => "value".into(),
        };
        values[field.as_str()].as_f64()
    }

    /// Thresholds are judged per scenario, and in this run the two scenarios disagree: auth's
    /// p(95) fails the limit, agents' holds it, the whole run's lies between. Each flag sits under
    /// the key of the scenario it was judged in, beside that scenario's values, and the whole
    /// run's metric carries no flag it was not judged by.
    /// The summary with its thresholds observed and judged by the run's own code (the fixture's
    /// rows are simulated, their rates rounded).
    fn observed_as_a_run(mut s: Summary) -> Summary {
        let ds = Dataset::from_raw(&s.data).unwrap();
        let rules = crate::rules::Rules::of_summary(&s);
        for sc in &mut s.scenarios {
            let ts = rules.thresholds_of(&sc.name);
            sc.thresholds = crate::summary::scenario::observe_thresholds(&ds, &sc.name, ts);
        }
        crate::verdict::judge(&s, &rules).apply(s)
    }

    #[test]
    fn each_threshold_sits_beside_the_values_it_was_judged_on() {
        let s = observed_as_a_run(testdata::load("failed"));
        let k = render_summary(&s);
        let (auth, agents) = (&s.scenarios[0], &s.scenarios[1]);
        let p95 = |sc: &crate::summary::schema::ScenarioSummary| {
            sc.metrics["http_req_duration"].values["p(95)"]
        };
        assert!(
            p95(auth) > 500.0 && p95(agents) < 500.0,
            "the fixture's premise"
        );
        let whole = &k["metrics"]["http_req_duration"];
        assert!(whole.get("thresholds").is_none(), "{whole}");
        let whole_p95 = whole["p(95)"].as_f64().unwrap();
        assert!(p95(agents) < whole_p95 && whole_p95 < p95(auth));

        let a = &k["metrics"]["http_req_duration{scenario:auth}"];
        assert_eq!(a["p(95)"], num(p95(auth)));
        assert_eq!(a["thresholds"]["p(95)<500"], json!(true), "{a}");
        let b = &k["metrics"]["http_req_duration{scenario:agents}"];
        assert_eq!(b["p(95)"], num(p95(agents)));
        assert_eq!(b["thresholds"]["p(95)<500"], json!(false), "{b}");

        // Every row of every scenario: its flag, and its observed value among the values.
        let mut rows = 0;
        for sc in &s.scenarios {
            for row in &sc.thresholds {
                let mut key = parse_metric_key(&row.metric).unwrap();
                key.tags.push(("scenario".into(), sc.name.clone()));
                key.tags.sort();
                let v = &k["metrics"][key.to_string().as_str()];
                assert_eq!(
                    v["thresholds"][row.expression.as_str()],
                    json!(row.status == ThresholdStatus::Fail),
                    "{} {} in {}: {v}",
                    row.metric,
                    row.expression,
                    sc.name
                );
                if let Some(got) = exported(v, row) {
                    assert_eq!(got, row.observed.unwrap_or(0.0), "{key} {}", row.expression);
                    rows += 1;
                }
            }
        }
        assert!(rows >= 8, "{rows} rows compared");
    }

    #[test]
    fn several_scenarios_fold_into_the_whole_run_exactly() {
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
        // The p95 of all requests, from the merged raw histograms.
        let mut all = new_hist();
        for r in &s.data.series {
            all.add(decode_hist(&r.hists["http_req_duration"]).unwrap())
                .unwrap();
        }
        let p95 = all.value_at_quantile(0.95) as f64 / 1000.0;
        assert_eq!(k["metrics"]["http_req_duration"]["p(95)"], num(p95));
        assert_eq!(
            k["metrics"]["http_req_duration"]["max"],
            num(a.metrics["http_req_duration"].values["max"])
        );
        let fails: u64 = s
            .scenarios
            .iter()
            .flat_map(|sc| &sc.checks)
            .map(|c| c.fails)
            .sum();
        assert_eq!(k["metrics"]["checks"]["fails"], json!(fails));
        // Scenarios one after another reuse their VUs.
        let vus_max = a.vus_max.max(b.vus_max);
        assert_eq!(k["metrics"]["vus_max"]["value"], json!(vus_max));
        let samples = || {
            s.scenarios
                .iter()
                .flat_map(|sc| running_points(&sc.timeseries))
                .map(|p| p.vus)
        };
        assert_eq!(k["metrics"]["vus"]["min"], json!(samples().min().unwrap()));
        assert!(k["metrics"]["vus"]["max"].as_u64() >= samples().max());
    }

    /// A metric only a threshold names, without a sample: zeroes, as k6 writes it.
    #[test]
    fn a_threshold_without_data_carries_zeroes() {
        let k = render("failed");
        assert_eq!(
            k["metrics"]["http_req_duration{name:logout,scenario:auth}"],
            json!({"avg": 0, "min": 0, "med": 0, "max": 0, "p(90)": 0, "p(95)": 0,
                   "thresholds": {"p(95)<150": false}})
        );
        assert_eq!(
            k["metrics"]["http_req_failed{name:logout,scenario:auth}"],
            json!({"value": 0, "passes": 0, "fails": 0, "thresholds": {"rate<0.01": false}})
        );
    }

    #[test]
    fn groups_nest_with_their_checks_and_k6_ids() {
        let mut s = testdata::load("failed");
        let k = render_summary(&s);
        let agents = &k["root_group"]["groups"]["agents"];
        assert_eq!(agents["name"], "agents");
        assert_eq!(agents["path"], "::agents");
        // k6 1.1 writes this id for a group `agents` (md5 of `::agents`).
        assert_eq!(agents["id"], "85c9b9206582cca94a1e5e920c1889d2");
        let check = &agents["checks"]["list_agents: status is 200"];
        assert_eq!(check["path"], "::agents::list_agents: status is 200");
        assert_eq!(
            check["id"],
            md5_hex(b"::agents::list_agents: status is 200")
        );
        assert!(k["root_group"]["checks"]
            .get("list_agents: status is 200")
            .is_none());
        assert!(k["metrics"]["group_duration"]["p(95)"].as_f64().unwrap() > 0.0);

        // A group in a group: `agents::writes`, k6's `::agents::writes`.
        for c in s
            .data
            .checks
            .iter_mut()
            .filter(|c| c.request == "create_agent")
        {
            c.group = "agents::writes".into();
        }
        let k = render_summary(&s);
        let writes = &k["root_group"]["groups"]["agents"]["groups"]["writes"];
        assert_eq!(writes["path"], "::agents::writes");
        assert_eq!(writes["id"], md5_hex(b"::agents::writes"));
        assert_eq!(
            writes["checks"]["create_agent: status is 201"]["path"],
            "::agents::writes::create_agent: status is 201"
        );
    }

    #[test]
    fn checks_are_left_out_when_nothing_was_checked() {
        let mut s = testdata::load("passed");
        s.data.checks.clear();
        // A threshold names it: there, with zeroes, as k6 writes a metric only a threshold names.
        let k = render_summary(&s);
        assert_eq!(
            k["metrics"]["checks"],
            json!({"value": 0, "passes": 0, "fails": 0, "thresholds": {"rate>0.99": false}})
        );
        s.scenarios[0].thresholds.retain(|t| t.metric != "checks");
        let k = render_summary(&s);
        assert!(k["metrics"].get("checks").is_none(), "{}", k["metrics"]);
        assert_eq!(k["root_group"]["checks"], json!({}));
    }

    /// `vus` is what was sampled while the run ran (k6 samples it every second): the last
    /// sample, the least, the most; not the 0 sampled once the scenario was over, and `vus_max`
    /// the VUs allocated all along, not 0.
    #[test]
    fn vus_are_the_samples_taken_while_the_run_ran() {
        let mut s = testdata::load("passed");
        let points = &mut s.scenarios[0].timeseries.points;
        let n = points.len();
        for (i, p) in points.iter_mut().enumerate() {
            p.vus = 5;
            if i == 0 {
                p.vus = 3;
            }
            if i == n - 2 {
                p.vus = 4;
            }
            if i == n - 1 {
                p.vus = 0;
            }
        }
        let k = render_summary(&s);
        assert_eq!(k["metrics"]["vus"], json!({"value": 4, "min": 3, "max": 5}));
        assert_eq!(
            k["metrics"]["vus_max"],
            json!({"value": 5, "min": 5, "max": 5})
        );
        // Scenarios at once: the samples of the same second add up.
        let mut s = testdata::load("failed");
        s.run.parallel = true;
        for sc in &mut s.scenarios {
            sc.started_after_s = 0.0;
            sc.timeseries.points.truncate(3);
            for p in &mut sc.timeseries.points {
                p.vus = if sc.name == "auth" { 2 } else { 3 };
            }
        }
        let k = render_summary(&s);
        assert_eq!(k["metrics"]["vus"], json!({"value": 5, "min": 5, "max": 5}));
        let both = s.scenarios[0].vus_max + s.scenarios[1].vus_max;
        assert_eq!(k["metrics"]["vus_max"]["value"], json!(both));
    }
}
