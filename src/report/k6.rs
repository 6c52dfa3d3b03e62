//! The k6 `--summary-export` JSON (`*_k6.json`): being written.

use super::Reporter;
use crate::metrics::summary::Summary;

pub(crate) struct K6;

impl Reporter for K6 {
    fn render(&self, _s: &Summary) -> anyhow::Result<Vec<u8>> {
        anyhow::bail!("the k6 export is not written yet")
    }
}
