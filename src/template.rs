//! template (to be written)
