//! The end-of-run console summary: being written.

use crate::metrics::summary::Summary;

/// The k6-like end-of-run summary for the terminal.
pub fn console(_s: &Summary) -> String {
    String::new()
}
