//! Shared test helpers: the GPU (failing, never skipping, without an adapter), seeded random
//! data, and tolerance checks.
#![allow(dead_code)]

use std::sync::OnceLock;

use winsor::gpu::{Gpu, Kernels};
use winsor::rng::{Rng, Stream};

/// The test device. Without an adapter this panics with instructions to install lavapipe:
/// a GPU test must fail, not silently pass, on a machine that cannot run it.
pub fn gpu() -> &'static (Gpu, Kernels) {
    static GPU: OnceLock<(Gpu, Kernels)> = OnceLock::new();
    GPU.get_or_init(|| {
        let gpu = Gpu::new(std::env::var("WINSOR_ADAPTER").ok().as_deref())
            .unwrap_or_else(|e| panic!("{e:#}"));
        let kernels = Kernels::new(&gpu).unwrap_or_else(|e| panic!("{e:#}"));
        (gpu, kernels)
    })
}

pub fn rng(seed: u64) -> Rng {
    Rng::new(seed, Stream::Test)
}

/// Uniform values in [-scale, scale).
pub fn uniform(r: &mut Rng, n: usize, scale: f64) -> Vec<f32> {
    (0..n)
        .map(|_| ((2.0 * r.uniform() - 1.0) * scale) as f32)
        .collect()
}

pub fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Asserts |got - want| <= tol[i] for every element, reporting the worst offender.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], tol: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0usize, 0.0f64);
    for i in 0..got.len() {
        let err = (got[i] as f64 - want[i]).abs();
        assert!(
            err <= tol[i],
            "{what}[{i}]: gpu {} vs reference {} (error {err:e} > tolerance {:e})",
            got[i],
            want[i],
            tol[i]
        );
        if err > worst.1 {
            worst = (i, err);
        }
    }
}

/// Unit roundoff of f32.
pub const U: f64 = 1.0 / 16777216.0; // 2^-24
