//! A tiny fixed-size log-linear latency histogram (32 sub-buckets per power of two,
//! so a recorded value is off by at most ~3%). Recording is a few integer ops and
//! one array increment: cheap enough for the load generator's hot loop.

use std::time::Duration;

const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS; // 32
const LINEAR: u64 = 2 * SUB; // values below 64 ns get one bucket each
const MAX_EXP: u32 = 40; // ~18 minutes in ns; larger values are clamped
const BUCKETS: usize = (LINEAR + (MAX_EXP as u64 - SUB_BITS as u64) * SUB) as usize;

#[derive(Clone)]
pub struct Hist {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Hist {
    fn default() -> Self {
        Self::new()
    }
}

impl Hist {
    pub fn new() -> Self {
        Hist {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < LINEAR {
            return v as usize;
        }
        let exp = 63 - v.leading_zeros(); // >= 6
        if exp > MAX_EXP {
            return BUCKETS - 1;
        }
        let top = v >> (exp - SUB_BITS); // in [32, 64)
        (LINEAR + (exp as u64 - SUB_BITS as u64 - 1) * SUB + (top - SUB)) as usize
    }

    /// Lower bound (ns) of the values that land in bucket `i`, plus half a bucket.
    fn value_of(i: usize) -> u64 {
        let i = i as u64;
        if i < LINEAR {
            return i;
        }
        let j = i - LINEAR;
        let exp = j / SUB + SUB_BITS as u64 + 1;
        let top = j % SUB + SUB;
        let lo = top << (exp - SUB_BITS as u64);
        let width = 1u64 << (exp - SUB_BITS as u64);
        lo + width / 2
    }

    #[inline]
    pub fn record(&mut self, d: Duration) {
        let ns = d.as_nanos().min(u64::MAX as u128) as u64;
        self.counts[Self::index(ns)] += 1;
        self.total += 1;
    }

    pub fn merge(&mut self, other: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += *b;
        }
        self.total += other.total;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The q-quantile (0..=1) in microseconds, or NaN if empty.
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.total == 0 {
            return f64::NAN;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::value_of(i) as f64 / 1000.0;
            }
        }
        f64::NAN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_within_3_percent() {
        for v in [
            0u64,
            1,
            63,
            64,
            65,
            100,
            1_000,
            12_345,
            1_000_000,
            987_654_321,
        ] {
            let back = Hist::value_of(Hist::index(v));
            let err = (back as f64 - v as f64).abs() / (v.max(1) as f64);
            assert!(err <= 0.032, "v={v} back={back}");
        }
        assert!(Hist::index(u64::MAX) < BUCKETS);
    }

    #[test]
    fn quantiles() {
        let mut h = Hist::new();
        for us in 1..=100u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile_us(0.5);
        let p99 = h.quantile_us(0.99);
        assert!((p50 - 50.0).abs() < 2.0, "{p50}");
        assert!((p99 - 99.0).abs() < 3.5, "{p99}");
    }
}
