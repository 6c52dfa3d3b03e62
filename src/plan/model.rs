//! plan::model (to be written)
