//! Property tests (issue 7, item 3): the parsers that read user input never panic, whatever the
//! input, and what they accept means what it says. 256 cases each, so the suite stays fast; the
//! `fuzz/` crate runs the same entry points for as long as one likes (docs/fuzzing.md).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use kaizen_loadtest::plan::duration::{
    format_duration, parse_duration, parse_duration_range, MAX_DURATION,
};
use kaizen_loadtest::plan::template::{self, RenderCtx, Scope, VarRef};
use kaizen_loadtest::plan::yaml::{self, Limits};
use kaizen_loadtest::plan::LoadOptions;
use kaizen_loadtest::rules::threshold::{parse_condition, parse_metric_key};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text that looks like what the parser reads, more often than uniform noise would.
fn near(alphabet: &'static str, max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(
            proptest::sample::select(alphabet.chars().collect::<Vec<_>>()),
            0..max
        )
        .prop_map(|v| v.into_iter().collect()),
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn threshold_conditions_parse_or_fail_cleanly(s in near("avgminmedaxp()0123456789.<>=!rtcounvle -eE+_", 24)) {
        if let Ok(c) = parse_condition(&s) {
            // What was accepted means the same written back.
            let again = parse_condition(&c.to_string()).unwrap();
            prop_assert_eq!((again.aggregation, again.operator), (c.aggregation, c.operator));
            prop_assert!(again.limit == c.limit || (again.limit.is_nan() && c.limit.is_nan()));
        }
    }

    #[test]
    fn threshold_keys_parse_or_fail_cleanly(s in near("http_req_duration{}:,name=login status 200-", 40)) {
        if let Ok(k) = parse_metric_key(&s) {
            prop_assert_eq!(parse_metric_key(&k.to_string()).unwrap(), k);
        }
    }

    #[test]
    fn well_formed_conditions_always_parse(
        agg in proptest::sample::select(vec!["avg", "min", "max", "med", "p(95)", "p(99.9)", "rate", "count", "value"]),
        op in proptest::sample::select(vec!["<", "<=", ">", ">=", "==", "===", "!="]),
        limit in -1e9f64..1e9,
    ) {
        let s = format!("{agg}{op}{limit}");
        let c = parse_condition(&s).unwrap();
        prop_assert_eq!(c.limit, limit);
    }

    #[test]
    fn durations_parse_or_fail_cleanly(s in near("0123456789.hmsund+-", 20)) {
        if let Ok(d) = parse_duration(&s) {
            prop_assert!(d <= MAX_DURATION);
        }
        let _ = parse_duration_range(&s);
        let _ = parse_duration_range(&format!("{s}..{s}"));
    }

    #[test]
    fn formatted_durations_parse_back(nanos in 0u64..MAX_DURATION.as_nanos() as u64) {
        let d = Duration::from_nanos(nanos);
        prop_assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
    }

    #[test]
    fn templates_compile_or_fail_cleanly_and_render(src in near("{}{{ }}vars.atokenusers.emailrandom_string 3uuid vu#/if\"\\", 40), cap in any::<String>()) {
        if let Ok(t) = template::compile(&src, &Vars) {
            let mut ctx = Ctx::new(&cap);
            let out = t.render_string(&mut ctx);
            if !src.contains("{{") {
                prop_assert_eq!(out, src);
            }
        }
    }

    #[test]
    fn json_bodies_stay_json_whatever_is_captured(cap in any::<String>(), feed in any::<String>()) {
        let body = serde_json::json!({ "a": "{{token}}", "b": ["x{{token}}y", "{{users.email}}", 1], "c": { "d": "{{vu}}" } });
        let t = template::compile_json(&body, &Vars).unwrap();
        let mut ctx = Ctx::new(&cap);
        ctx.feed = feed.clone();
        let mut out = Vec::new();
        t.render(&mut ctx, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        prop_assert_eq!(v["a"].as_str().unwrap(), cap.as_str());
        prop_assert_eq!(v["b"][0].as_str().unwrap(), format!("x{cap}y"));
        prop_assert_eq!(v["b"][1].as_str().unwrap(), feed.as_str());
    }

    #[test]
    fn a_captured_json_value_round_trips_through_a_json_body(value in json_value()) {
        // What a capture keeps (a JSON string's content as text, any other value as its JSON
        // text), written back by a whole-value template, is the value serde_json read.
        let (text, is_json) = match &value {
            serde_json::Value::String(s) => (s.clone(), false),
            other => (other.to_string(), true),
        };
        let body = serde_json::json!({ "v": "{{token}}", "s": "{{string token}}", "j": "{{json token}}", "t": "<{{token}}>" });
        let t = template::compile_json(&body, &Vars).unwrap();
        let mut ctx = Ctx::new(&text);
        ctx.json = is_json;
        let mut out = Vec::new();
        t.render(&mut ctx, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        prop_assert_eq!(&v["v"], &value);
        prop_assert_eq!(v["s"].as_str().unwrap(), text.as_str());
        prop_assert_eq!(v["t"].as_str().unwrap(), format!("<{text}>"));
        // `json` parses text that is itself JSON: a string stays one unless it spells JSON.
        let parsed = serde_json::from_str::<serde_json::Value>(&text).ok();
        let want_j = if is_json { value.clone() } else { parsed.unwrap_or(value.clone()) };
        prop_assert_eq!(&v["j"], &want_j);
    }

    #[test]
    fn yaml_of_any_bytes_parses_or_fails_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = yaml::parse(&bytes, &Limits::default());
    }

    #[test]
    fn mutated_plans_load_or_fail_cleanly(edits in proptest::collection::vec((any::<prop::sample::Index>(), edit()), 1..6)) {
        let mut bytes = FULL_PLAN.as_bytes().to_vec();
        for (at, e) in edits {
            let i = at.index(bytes.len() + 1);
            match e {
                Edit::Delete(n) => { bytes.drain(i..(i + n).min(bytes.len())); }
                Edit::Insert(s) => { bytes.splice(i..i, s.into_iter()); }
            }
        }
        let t0 = Instant::now();
        let result = load_bytes(&bytes);
        prop_assert!(t0.elapsed() < Duration::from_secs(2), "took {:?}", t0.elapsed());
        if let Err(e) = result {
            prop_assert!(!e.is_empty());
        }
    }
}

/// The mutations start from a plan that loads.
#[test]
fn the_unmutated_plan_loads() {
    assert_eq!(load_bytes(FULL_PLAN.as_bytes()), Ok(()));
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(Vec<u8>),
}

/// Deletions, and insertions of what YAML and the plan format give meaning to.
fn edit() -> impl Strategy<Value = Edit> {
    let tokens: Vec<&'static [u8]> = vec![
        b"{",
        b"}",
        b"[",
        b"]",
        b": ",
        b"- ",
        b"\n",
        b"  ",
        b"\t",
        b"\"",
        b"'",
        b"#",
        b"&a ",
        b"*a",
        b"<<: *a",
        b"!!str ",
        b"{{",
        b"}}",
        b"{{vars.nope}}",
        b"{{random_string 100000000}}",
        b"999999h",
        b"10000000",
        b"-1",
        b".inf",
        b"~",
        b"\x00",
        b"\xff",
        "é".as_bytes(),
        b"\r\n",
        b"${X}",
        b"${UNSET_VARIABLE_FOR_PROPTEST}",
        b"p(",
        b"rate<",
    ];
    prop_oneof![
        (1usize..40).prop_map(Edit::Delete),
        proptest::sample::select(tokens).prop_map(|t| Edit::Insert(t.to_vec())),
        proptest::collection::vec(any::<u8>(), 1..8).prop_map(Edit::Insert),
    ]
}

const FULL_PLAN: &str = include_str!("../../fixtures/plans/valid/full.yaml");

/// Loads the plan as `run` does, as if it stood beside `full.yaml` (so its CSV paths resolve).
fn load_bytes(bytes: &[u8]) -> Result<(), String> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/plans/valid/mutated.yaml");
    let opts = LoadOptions {
        env_lookup: &|_| None,
        strict_env: true,
    };
    kaizen_loadtest::plan::load_bytes(bytes, &file, &opts)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `vars.a` and `vars.token` are constants, `token` is capture slot 0, `users.email` a feed column.
struct Vars;
impl Scope for Vars {
    fn resolve(&self, path: &str) -> Result<VarRef, String> {
        match path {
            "vars.a" => Ok(VarRef::Const(Arc::from("A\"\\"))),
            "vars.token" => Ok(VarRef::Const(Arc::from("t0k"))),
            "token" => Ok(VarRef::Capture(0)),
            "users.email" => Ok(VarRef::Feed { feed: 0, column: 0 }),
            other => Err(format!("unknown variable {other:?}")),
        }
    }
}

struct Ctx {
    cap: String,
    /// The capture is JSON text (a number, boolean, null, object or array).
    json: bool,
    feed: String,
    rng: SmallRng,
}

/// Any JSON value serde_json reads: scalars (finite numbers, integers and floats), strings
/// with anything in them, nested arrays and objects.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
        near("0123456789.-e{}[]\"truefalsnul ", 12).prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

impl Ctx {
    fn new(cap: &str) -> Ctx {
        Ctx {
            cap: cap.to_string(),
            json: false,
            feed: String::new(),
            rng: SmallRng::seed_from_u64(7),
        }
    }
}

impl RenderCtx for Ctx {
    fn capture(&self, slot: usize) -> Option<&str> {
        (slot == 0).then_some(self.cap.as_str())
    }
    fn capture_is_json(&self, slot: usize) -> bool {
        slot == 0 && self.json
    }
    fn feed(&self, _feed: usize, _column: usize) -> Option<&str> {
        Some(&self.feed)
    }
    fn vu(&self) -> u64 {
        1
    }
    fn iteration(&self) -> u64 {
        0
    }
    fn scenario(&self) -> &str {
        "s"
    }
    fn env(&self) -> &str {
        "e"
    }
    fn rng(&mut self) -> &mut SmallRng {
        &mut self.rng
    }
}
