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
}
