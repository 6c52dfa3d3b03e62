//! thresholds (to be written)
