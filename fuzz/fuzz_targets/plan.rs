//! Plans: any bytes through the YAML parser and validation, as `run` loads a file. Errors, never
//! a panic; bounded by the parser's limits on size, depth and nodes.
#![no_main]

use std::path::Path;

use kaizen_loadtest::plan::{self, LoadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let opts = LoadOptions { env_lookup: &|_| None, strict_env: true };
    // Beside the valid fixtures, so `full.yaml`-like CSV paths resolve (seed the corpus with them).
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/plans/valid/fuzz.yaml");
    if let Err(e) = plan::load_bytes(bytes, &file, &opts) {
        assert!(!e.to_string().is_empty());
    }
});
