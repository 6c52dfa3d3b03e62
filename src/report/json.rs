//! The JSON summary (`*_summary.json`): the [`Summary`] itself, pretty-printed. It is the source
//! of truth `report`, `merge` and `compare` read back; its shape is documented by
//! `schemas/summary.schema.json`.

use super::Reporter;
use crate::metrics::summary::Summary;

pub(crate) struct Json;

impl Reporter for Json {
    fn render(&self, s: &Summary) -> anyhow::Result<Vec<u8>> {
        let mut out = serde_json::to_vec_pretty(s)?;
        out.push(b'\n');
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata;

    #[test]
    fn re_rendering_a_saved_summary_gives_the_same_bytes() {
        for name in testdata::NAMES {
            let saved = std::fs::read(testdata::path(name)).unwrap();
            let again = Json.render(&testdata::load(name)).unwrap();
            assert!(
                saved == again,
                "{name}: re-rendered JSON differs from the file"
            );
        }
    }

    #[test]
    fn any_float_survives_a_round_trip_through_the_file() {
        // serde_json's default float parser can be one ulp off; `report` and `merge` need
        // exactly the numbers that were written (the crate enables `float_roundtrip`).
        let mut s = testdata::load("passed");
        s.scenarios[0].rps = 8889.0 / 360.0;
        s.run.duration_s = 0.1 + 0.2;
        s.scenarios[0].timeseries.points[0].p95 = Some(1.0 / 3.0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let bytes = Json.render(&s).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let back = crate::report::read_summary(&path).unwrap();
        assert_eq!(back, s);
        assert!(Json.render(&back).unwrap() == bytes);
    }
}
