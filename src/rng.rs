//! A portable seeded random source.
//!
//! Everything random in winsor (label noise, minibatch order, initial weights) goes through
//! this type, and every derived value (floats, bounded integers, normals, shuffles) is computed
//! here from raw ChaCha8 words. A seed therefore means the same thing across versions of the
//! `rand` crate, whose own distributions and shuffles are allowed to change between releases.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Independent streams derived from one user seed, so that, for example, changing the
/// initialisation does not change the label noise.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    LabelNoise = 1,
    Init = 2,
    Batches = 3,
    Coherence = 4,
    /// The probe set of `--similarity`.
    Similarity = 5,
    Test = 99,
}

pub struct Rng {
    inner: ChaCha8Rng,
}

impl Rng {
    pub fn new(seed: u64, stream: Stream) -> Self {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(stream as u64);
        Self { inner }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in 0..n (n > 0), by rejection so that it is exactly unbiased.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// Standard normal by the Box-Muller transform (one value per call, simple over fast).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1], so ln is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            xs.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::new(7, Stream::Init);
        let mut b = Rng::new(7, Stream::Init);
        let mut c = Rng::new(7, Stream::Batches);
        let xa: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn below_and_uniform_are_in_range() {
        let mut r = Rng::new(1, Stream::Test);
        for n in 1..50u64 {
            for _ in 0..20 {
                assert!(r.below(n) < n);
                let u = r.uniform();
                assert!((0.0..1.0).contains(&u));
            }
        }
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut r = Rng::new(3, Stream::Test);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut r = Rng::new(5, Stream::Test);
        let mut xs: Vec<u32> = (0..1000).collect();
        r.shuffle(&mut xs);
        assert_ne!(xs, (0..1000).collect::<Vec<_>>());
        xs.sort();
        assert_eq!(xs, (0..1000).collect::<Vec<_>>());
    }
}
