//! plan::duration (to be written)
