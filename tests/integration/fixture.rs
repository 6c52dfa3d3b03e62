//! Integration tests of the reference API (to be written).
