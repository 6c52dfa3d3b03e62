//! Durations and think ranges: no panic; what parses is within the maximum and formats back.
#![no_main]

use kaizen_loadtest::plan::duration::{format_duration, parse_duration, parse_duration_range, MAX_DURATION};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Ok(d) = parse_duration(s) {
        assert!(d <= MAX_DURATION);
        assert_eq!(parse_duration(&format_duration(d)).expect("a formatted duration parses"), d);
    }
    let _ = parse_duration_range(s);
});
