//! Kernel `similarity`: shaders/similarity.wgsl; CPU twin `reference::similarity`
//! (src/reference/kernels/similarity.rs); test `similarity_matches_reference` in
//! tests/kernels/similarity.rs.

use super::dispatch::{Dispatch, Work};
use super::pipeline::{Kernel, Kind, ShaderVariant};
use super::slice::Slice;
use crate::gpu::context::Gpu;
use crate::gpu::plan::ShaderChecks;

const SOURCE: &str = include_str!("../../../shaders/similarity.wgsl");

/// Every shader this kernel compiles, for tests/shaders.rs.
pub fn variants() -> Vec<ShaderVariant> {
    vec![ShaderVariant::new::<SimilarityParams>(
        "similarity".into(),
        SOURCE.into(),
        &[],
    )]
}

uniform_struct! {
    /// The shader's `Params`.
    pub struct SimilarityParams {
        n: u32,
        accumulate: u32,
        _pad: [u32; 2],
    }
}

/// One layer's share of the per-example gradient inner products of `n` examples from the
/// Gram matrices of its errors and inputs: K[n, m] (+)= GD[n, m] (GA[n, m] + 1), each pair
/// read at or above the diagonal, so K is symmetric (n x n, row-major).
pub struct Similarity(Kernel);

/// One layer's operands: the Gram matrices `gd` = D D^T of its errors and `ga` = A A^T of
/// its inputs (n x n each, `Matmul::gram`), and K.
#[derive(Clone, Copy)]
pub struct SimilarityLayer<'a> {
    pub gd: Slice<'a>,
    pub ga: Slice<'a>,
    pub k: Slice<'a>,
    pub n: u32,
    /// Add to K (every layer after the first).
    pub accumulate: bool,
}

impl Similarity {
    pub fn new(gpu: &Gpu, checks: ShaderChecks) -> Self {
        use Kind::*;
        Similarity(Kernel::new(
            gpu,
            checks,
            "similarity",
            SOURCE,
            &[Read, Read, ReadWrite, Uniform],
            &[],
        ))
    }

    pub fn bind(&self, gpu: &Gpu, l: SimilarityLayer<'_>) -> Dispatch {
        // 64 columns per workgroup, one row per workgroup row: n up to the 65535 groups
        // a dimension allows
        let n = l.n.max(1);
        self.0
            .bind(
                gpu,
                &[l.gd, l.ga, l.k],
                &SimilarityParams {
                    n: l.n,
                    accumulate: l.accumulate as u32,
                    _pad: [0; 2],
                },
                None,
                [n.div_ceil(64), n, 1],
            )
            // GD and GA read, K read (after the first layer) and written: memory-bound
            .with_work(Work::Bytes(
                (3 + l.accumulate as u32) as f64 * 4.0 * l.n as f64 * l.n as f64,
            ))
    }
}
