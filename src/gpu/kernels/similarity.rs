//! Kernel `similarity`: shaders/similarity.wgsl; CPU twin `reference::similarity`
//! (src/reference/kernels/similarity.rs); test `similarity_matches_reference` in
//! tests/kernels/similarity.rs.

use super::dispatch::{Dispatch, Work};
use super::pipeline::{Kernel, Kind, ShaderVariant};
use super::slice::Slice;
use crate::gpu::context::Gpu;
use crate::gpu::plan::ShaderChecks;

const SOURCE: &str = include_str!("../../../shaders/similarity.wgsl");

/// The declaration of operand `name` (binding `binding`, row width `p.width`) and its
/// reader `ld_<lower>(row, q)`: columns 4q..4q+3 of a row, as one vec4 load when `vec4` (the
/// width a multiple of 4), else as four clamped scalar loads with the columns past the width
/// read as 0.
fn operand(name: &str, binding: u32, width: &str, vec4: bool) -> String {
    let lower = name.to_lowercase();
    if vec4 {
        format!(
            "@group(0) @binding({binding}) var<storage, read> {name}: array<vec4<f32>>;
fn ld_{lower}(row: u32, q: u32) -> vec4<f32> {{
    return {name}[row * (p.{width} / 4u) + q];
}}"
        )
    } else {
        format!(
            "@group(0) @binding({binding}) var<storage, read> {name}: array<f32>;
fn ld_{lower}(row: u32, q: u32) -> vec4<f32> {{
    let b = row * p.{width} + q * 4u;
    let last = row * p.{width} + p.{width} - 1u;
    let v = vec4<f32>({name}[b], {name}[min(b + 1u, last)], {name}[min(b + 2u, last)], {name}[min(b + 3u, last)]);
    let left = p.{width} - q * 4u;
    return select(vec4<f32>(0.0), v, vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(left));
}}"
        )
    }
}

/// The shader for errors read as vec4 (`vec_d`) or not, and inputs likewise (`vec_a`).
fn source(vec_d: bool, vec_a: bool) -> String {
    SOURCE
        .replace("/*D*/", &operand("D", 0, "fo", vec_d))
        .replace("/*A*/", &operand("A", 1, "fi", vec_a))
}

/// Every shader this kernel compiles, for tests/shaders.rs.
pub fn variants() -> Vec<ShaderVariant> {
    [(false, false), (false, true), (true, false), (true, true)]
        .into_iter()
        .map(|(d, a)| {
            ShaderVariant::new::<SimilarityParams>(
                format!("similarity vec_d {d} vec_a {a}"),
                source(d, a),
                &[],
            )
        })
        .collect()
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
/// K[n, m] (+)= (d_n . d_m)(a_n . a_m + 1), K symmetric (n x n, row-major). One pipeline
/// per pair of (errors, inputs) read as vec4 or not, indexed by vec_d * 2 + vec_a.
pub struct Similarity([Kernel; 4]);

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
        Similarity([0, 1, 2, 3].map(|i| {
            Kernel::new(
                gpu,
                checks,
                "similarity",
                &source(i >= 2, i % 2 == 1),
                &[Read, Read, ReadWrite, Uniform],
                &[],
            )
        }))
    }

    pub fn bind(&self, gpu: &Gpu, l: SimilarityLayer<'_>) -> Dispatch {
        // 4 x 4 pairs per invocation, 8 x 8 invocations per workgroup
        let blocks = l.n.div_ceil(4).max(1);
        let groups = blocks.div_ceil(8);
        let pairs = l.n as f64 * (l.n as f64 + 1.0) / 2.0;
        let (vec_d, vec_a) = (l.fo.is_multiple_of(4), l.fi.is_multiple_of(4));
        let (d, a) = (
            if vec_d { l.d.whole_vec4s() } else { l.d },
            if vec_a { l.a.whole_vec4s() } else { l.a },
        );
        self.0[vec_d as usize * 2 + vec_a as usize]
            .bind(
                gpu,
                &[d, a, l.k],
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
