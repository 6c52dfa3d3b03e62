//! yaml (to be written)
