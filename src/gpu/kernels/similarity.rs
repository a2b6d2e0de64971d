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
        fo: u32,
        fi: u32,
        accumulate: u32,
    }
}

/// One layer's share of the per-example gradient inner products of `n` examples:
/// K[n, m] (+)= (d_n . d_m)(a_n . a_m + 1), K symmetric (n x n, row-major).
pub struct Similarity(Kernel);

/// One layer's operands: its errors `d` (n x fo) and inputs `a` (n x fi), and K.
#[derive(Clone, Copy)]
pub struct SimilarityLayer<'a> {
    pub d: Slice<'a>,
    pub a: Slice<'a>,
    pub k: Slice<'a>,
    pub n: u32,
    pub fo: u32,
    pub fi: u32,
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
        // 4 x 4 pairs per invocation, 8 x 8 invocations per workgroup
        let blocks = l.n.div_ceil(4).max(1);
        let groups = blocks.div_ceil(8);
        let pairs = l.n as f64 * (l.n as f64 + 1.0) / 2.0;
        self.0
            .bind(
                gpu,
                &[l.d, l.a, l.k],
                &SimilarityParams {
                    n: l.n,
                    fo: l.fo,
                    fi: l.fi,
                    accumulate: l.accumulate as u32,
                },
                None,
                [groups, groups, 1],
            )
            // two dot products per pair at or above the diagonal
            .with_work(Work::Flops(pairs * 2.0 * (l.fo + l.fi) as f64))
    }
}
