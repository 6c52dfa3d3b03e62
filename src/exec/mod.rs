//! The load engine.

pub mod schedule;
