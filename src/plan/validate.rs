//! plan::validate (to be written)
