//! A float sample and Prometheus' staleness marker.

/// The bit pattern Prometheus writes as a staleness marker. It is a NaN, but a specific
/// one: an ordinary NaN value is data, this one means "the series ended here".
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
pub const STALE_NAN: f64 = unsafe_free_from_bits(STALE_NAN_BITS);

const fn unsafe_free_from_bits(b: u64) -> f64 {
    f64::from_bits(b)
}

pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// `samples`, or with `only` just the last (newest) of them: what a read with
/// `SelectHints::newest_only` hands on from a range it had to read whole.
pub fn newest(samples: &[Sample], only: bool) -> &[Sample] {
    match samples.len() {
        n if only && n > 1 => &samples[n - 1..],
        _ => samples,
    }
}

/// One float sample: milliseconds since the Unix epoch and a value.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

impl Sample {
    pub fn new(t: i64, v: f64) -> Self {
        Sample { t, v }
    }
}

impl PartialEq for Sample {
    /// Bit equality, so NaNs and staleness markers compare as stored.
    fn eq(&self, other: &Self) -> bool {
        self.t == other.t && self.v.to_bits() == other.v.to_bits()
    }
}
