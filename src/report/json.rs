//! The JSON summary (`*_summary.json`): the [`Summary`] itself, pretty-printed. It is the source
//! of truth `report`, `merge` and `compare` read back; its shape is documented by
//! `schemas/summary.schema.json`.

use super::Reporter;
use crate::summary::schema::Summary;

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

    /// Every property of the published schema says what it is, and every object of ours is
    /// closed (`additionalProperties: false`) unless it is a map.
    #[test]
    fn the_schema_documents_every_field() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/summary.schema.json");
        let schema: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let defs = &schema["$defs"];
        let described = |v: &serde_json::Value| {
            v.get("description").is_some()
                || v.get("$ref").and_then(|r| r.as_str()).is_some_and(|r| {
                    defs[r.trim_start_matches("#/$defs/")]
                        .get("description")
                        .is_some()
                })
        };
        let mut objects = vec![("".to_string(), &schema)];
        objects.extend(
            defs.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v)),
        );
        let mut checked = 0;
        for (name, o) in objects {
            let Some(props) = o.get("properties").and_then(|p| p.as_object()) else {
                continue;
            };
            assert_eq!(o["additionalProperties"], false, "{name} is not closed");
            let required: Vec<&str> = o["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            for (field, spec) in props {
                assert!(described(spec), "{name}.{field} has no description");
                assert!(
                    required.contains(&field.as_str()),
                    "{name}.{field} is not required"
                );
                checked += 1;
            }
        }
        assert!(checked > 100, "{checked}");
    }
}
