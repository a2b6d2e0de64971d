//! Every WGSL kernel against its f64 CPU twin in `winsor::reference` (named in the first
//! line of its file in src/gpu/kernels/), on seeded random inputs of awkward sizes (not
//! multiples of the workgroup or tile sizes).
//!
//! Tolerances are the standard worst-case bounds for f32 arithmetic with unit roundoff
//! u = 2^-24: a sum of n products is within (n + 2) u sum|a_k b_k| of the exact value (matmul,
//! bias gradient, batch loss, row dot products); the winsorized mean of B products is within
//! 4 u sum_e |v_e| (product rounding plus the f32 sum; picking a neighbouring order statistic
//! because of product rounding moves the clip value by at most one rounding too).
//!
//! One module per kernel, named like its shader (and like its dispatch in src/gpu/kernels/
//! and its twin in src/reference/kernels/); a family (matmul/, select/) has one module.

#[path = "../common/mod.rs"]
mod common;

mod batch_stats;
mod bias_grad;
mod gather;
mod matmul;
mod row_dot;
mod select;
mod sgd;
mod similarity;
mod softmax_xent;
mod temporal;

/// This binary's device: unvalidated unless `WINSOR_VALIDATE` says otherwise. It is the
/// longest test binary (about 20 minutes unvalidated on a 2-core lavapipe machine, 2026-12-06)
/// and compiles hundreds of shader variants (every clip count, unit count and orientation),
/// each of whose SPIR-V the layer checks at creation; a validated run had not finished after
/// 25 minutes (with builds beside it). The end-to-end, coherence, limits and resume tests run
/// every kernel of a training step under the layer instead.
fn gpu() -> &'static (Gpu, Kernels) {
    common::gpu_unless(Validation::Off)
}

use common::*;
use winsor::gpu::kernels::{
    BiasSum, Epilogue, GatherFrom, GatherSlices, Matmul, MatmulParams, MatmulVariant, Product,
    Similarity, SimilarityLayer, Slice, SparseMatmul, XentSlices,
};
use winsor::gpu::plan::{Operands, ShaderChecks, Units};
use winsor::gpu::select::{LayerOperands, Selection, PARTIAL_KMAX, SORT_PMAX};
use winsor::gpu::{run, trainer::pack_bytes, Gpu, KernelPlan, Kernels, Validation};
use winsor::reference::{self, MatmulEpilogue, MatmulLayout};
use winsor::rule::{Rule, Select};

fn abs64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x.abs() as f64).collect()
}

#[test]
fn gpu_errors_become_errors_not_panics() {
    let _serial = serial();
    // a device of its own: the error would otherwise be reported to the other tests
    let adapter = std::env::var("WINSOR_ADAPTER").ok();
    winsor::gpu::validation::warnings_are_errors();
    let g = winsor::gpu::Gpu::with_options(
        adapter.as_deref(),
        winsor::gpu::LimitsChoice::Adapter,
        common::validation_unless(Validation::Off),
    )
    .unwrap();
    let b = g.storage("b", 16);
    let mut enc = g.device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(&b, 0, &b, 0, 16); // one buffer as source and destination: invalid
    g.queue.submit([enc.finish()]);
    let e = g.wait().expect_err("the invalid copy must be reported");
    assert!(format!("{e:#}").contains("GPU reported an error"), "{e:#}");
}
