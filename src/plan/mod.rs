//! The plan: loading, validation and the validated model.
//!
//! `load` reads the file (bounded), parses it into a positioned YAML tree, and `validate` turns
//! the tree into a [`model::Plan`], collecting every problem with its file, line, column and YAML
//! path. Nothing downstream sees YAML.

pub(crate) mod describe;
pub mod duration;
pub mod model;
pub mod schedule;
pub mod segment;
pub mod template;
pub mod validate;
pub mod yaml;

pub use model::Plan;
pub use validate::{is_secret_env_name, load, load_bytes, LoadOptions, PlanError};
