//! The histograms every latency lives in: HDR histograms of microseconds with one resolution and
//! one ceiling, so that any two merge exactly, and their text form in the JSON summary.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use hdrhistogram::Histogram;

pub type Hist = Histogram<u64>;

/// Lowest and highest trackable values, in microseconds: 1 µs to 1 h. Zero is recorded as zero
/// (a reused connection's `http_req_connecting`, `http_req_tls_handshaking` of plain HTTP, as
/// k6 shows them); a value past the top is clamped to it.
pub const HIST_LOW: u64 = 1;
pub const HIST_HIGH: u64 = 3_600_000_000;
pub const HIST_SIGFIG: u8 = 3;

/// An empty histogram of the recorder's resolution. It grows with the largest value recorded
/// (16 kB up to 2 ms, 48 kB up to 32 ms, 180 kB at the 1-hour top): sized for the whole range
/// up front, every histogram costs 180 kB written at creation, and a worker thread creating
/// the nine of a new request series held up the responses in hand by a millisecond or more.
pub fn new_hist() -> Hist {
    let mut h = Histogram::new_with_bounds(HIST_LOW, 2 * HIST_LOW, HIST_SIGFIG)
        .expect("valid fixed bounds");
    h.auto(true);
    h
}

/// Records `micros` into `h`, clamped to [`HIST_HIGH`].
#[inline]
pub fn record_hist(h: &mut Hist, micros: u64) {
    // Cannot fail: the histogram grows to at most HIST_HIGH, far within usize.
    let _ = h.record(micros.min(HIST_HIGH));
}

/// Why a serialized histogram could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum HistDecodeError {
    #[error("histogram is not valid base64")]
    Base64(#[source] base64::DecodeError),
    #[error("histogram is not a valid HDR V2 (deflate) encoding")]
    Hdr(#[source] hdrhistogram::serialization::DeserializeError),
    #[error("histogram holds values outside 1 µs..1 h")]
    Bounds(#[source] hdrhistogram::AdditionError),
}

/// Serializes a histogram for the summary's raw data ([`super::schema::RawData`]): HDR V2 with deflate, then standard base64 (the
/// encoding HdrHistogram's other implementations read too).
pub fn encode_hist(h: &Hist) -> String {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .expect("serializing into a Vec cannot fail");
    BASE64.encode(buf)
}

/// Reads a histogram written by [`encode_hist`]. The result always has the recorder's
/// resolution and ceiling, so it merges with any other histogram of the run with `add`.
pub fn decode_hist(s: &str) -> Result<Hist, HistDecodeError> {
    let bytes = BASE64.decode(s.trim()).map_err(HistDecodeError::Base64)?;
    let read: Hist = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(HistDecodeError::Hdr)?;
    if read.max() > HIST_HIGH {
        return Err(HistDecodeError::Bounds(
            hdrhistogram::AdditionError::OtherAddendValueExceedsRange,
        ));
    }
    let mut out = new_hist();
    out.add(&read).map_err(HistDecodeError::Bounds)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_survive_encoding() {
        let mut h = new_hist();
        for v in (1..5000u64).map(|i| i * 37) {
            h.record(v).unwrap();
        }
        h.record(3_000_000_000).unwrap();
        let s = encode_hist(&h);
        assert!(s.is_ascii());
        let back = decode_hist(&s).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.value_at_quantile(0.95), h.value_at_quantile(0.95));
        assert_eq!(decode_hist(&encode_hist(&new_hist())).unwrap().len(), 0);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            decode_hist("%%%"),
            Err(HistDecodeError::Base64(_))
        ));
        assert!(matches!(decode_hist("AAAA"), Err(HistDecodeError::Hdr(_))));
        // A histogram from elsewhere with values past the 1-hour ceiling is refused, not grown to.
        let mut wide = Hist::new_with_bounds(1, u64::MAX / 4, 3).unwrap();
        wide.record(10 * HIST_HIGH).unwrap();
        assert!(matches!(
            decode_hist(&encode_hist(&wide)),
            Err(HistDecodeError::Bounds(_))
        ));
    }
}
