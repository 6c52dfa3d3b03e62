//! The plan: loading, validation and the validated model.

pub mod duration;
pub mod model;
pub mod validate;
