//! The JSON summary (`*_summary.json`): the [`Summary`] itself, pretty-printed. It is the source
//! of truth `report`, `merge` and `compare` read back ([`read_summary`]); its shape is
//! documented by `schemas/summary.schema.json`.

use std::fs;
use std::path::{Path, PathBuf};

use super::reporter::Reporter;
use crate::summary::schema::{Summary, SCHEMA_VERSION};

pub(crate) struct Json;

impl Reporter for Json {
    fn render(&self, s: &Summary) -> anyhow::Result<Vec<u8>> {
        let mut out = serde_json::to_vec_pretty(s)?;
        out.push(b'\n');
        Ok(out)
    }
}

/// Why a saved summary could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadSummaryError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("{path} is not valid JSON")]
    Json {
        path: PathBuf,
        #[source]
        error: serde_json::Error,
    },
    #[error("{path} is not a kaizen-loadtest summary: it has no \"schema\" number")]
    NoSchema { path: PathBuf },
    #[error(
        "{path} has summary schema {found}; this version of kaizen-loadtest reads schema {}",
        SCHEMA_VERSION
    )]
    Schema { path: PathBuf, found: u64 },
    #[error("{path} does not match summary schema {}", SCHEMA_VERSION)]
    Shape {
        path: PathBuf,
        #[source]
        error: serde_json::Error,
    },
}

/// Reads a saved JSON summary (schema 1). Another schema version, bad JSON or a different shape
/// is an error naming the file.
pub fn read_summary(path: &Path) -> Result<Summary, ReadSummaryError> {
    let text = fs::read(path).map_err(|error| ReadSummaryError::Io {
        path: path.to_path_buf(),
        error,
    })?;
    parse_summary(&text, path)
}

/// A JSON summary read from bytes (`path` names where they came from, for errors), checked
/// as [`read_summary`] checks a file.
pub fn parse_summary(text: &[u8], path: &Path) -> Result<Summary, ReadSummaryError> {
    let p = || path.to_path_buf();
    let value: serde_json::Value = serde_json::from_slice(text)
        .map_err(|error| ReadSummaryError::Json { path: p(), error })?;
    match value.get("schema").and_then(serde_json::Value::as_u64) {
        None => return Err(ReadSummaryError::NoSchema { path: p() }),
        Some(found) if found != u64::from(SCHEMA_VERSION) => {
            return Err(ReadSummaryError::Schema { path: p(), found })
        }
        Some(_) => {}
    }
    // Parse from the text rather than the `Value`, so that numbers read exactly as written.
    serde_json::from_slice(text).map_err(|error| ReadSummaryError::Shape { path: p(), error })
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
        let back = read_summary(&path).unwrap();
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

    #[test]
    fn read_summary_names_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            fs::write(&p, text).unwrap();
            p
        };
        let msg = |p: &Path| format!("{:#}", anyhow::Error::from(read_summary(p).unwrap_err()));

        let p = write("bad.json", "{ not json");
        assert!(msg(&p).starts_with(&format!("{} is not valid JSON: ", p.display())));

        let p = write("v2.json", r#"{"schema": 2}"#);
        assert_eq!(
            msg(&p),
            format!(
                "{} has summary schema 2; this version of kaizen-loadtest reads schema 1",
                p.display()
            )
        );

        let p = write("other.json", r#"{"metrics": {}}"#);
        assert!(
            msg(&p).contains("is not a kaizen-loadtest summary"),
            "{}",
            msg(&p)
        );

        let p = write("shape.json", r#"{"schema": 1, "tool": {}}"#);
        assert!(
            msg(&p).contains("does not match summary schema 1: missing field"),
            "{}",
            msg(&p)
        );

        let missing = dir.path().join("missing.json");
        assert!(msg(&missing).starts_with(&format!("cannot read {}", missing.display())));
    }

    /// Summaries written before the generator's health was checked say `"status": ""` (the
    /// schema allows it): they read, and re-render byte for byte.
    #[test]
    fn a_summary_from_before_the_health_check_reads_and_renders_the_same() {
        let saved = std::fs::read_to_string(testdata::path("passed")).unwrap();
        let old = saved.replacen(
            "\"health\": {\n    \"status\": \"ok\",",
            "\"health\": {\n    \"status\": \"\",",
            1,
        );
        assert_ne!(old, saved);
        let s = parse_summary(old.as_bytes(), Path::new("old.json")).unwrap();
        assert_eq!(String::from_utf8(Json.render(&s).unwrap()).unwrap(), old);
        // Without a `health` block at all: read as not checked, never as inconclusive.
        let mut v: serde_json::Value = serde_json::from_str(&old).unwrap();
        v.as_object_mut().unwrap().remove("health");
        let s = parse_summary(&serde_json::to_vec(&v).unwrap(), Path::new("older.json")).unwrap();
        assert_eq!(s.health.status.as_str(), "");
        assert!(!s.verdict.inconclusive);
    }
}
