//! Threshold conditions and metric keys: no panic; what parses, parses again from its display.
#![no_main]

use kaizen_loadtest::rules::threshold::{parse_condition, parse_metric_key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Ok(c) = parse_condition(s) {
        let again = parse_condition(&c.to_string()).expect("a displayed condition parses");
        assert_eq!((again.aggregation, again.operator), (c.aggregation, c.operator));
    }
    if let Ok(k) = parse_metric_key(s) {
        assert_eq!(parse_metric_key(&k.to_string()).expect("a displayed key parses"), k);
    }
});
