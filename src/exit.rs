//! exit (to be written)
