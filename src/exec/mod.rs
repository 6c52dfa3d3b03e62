//! The load engine (to be written).
