//! One file per WGSL kernel, named like its shader (shaders/X.wgsl is dispatched by X.rs,
//! its twin is src/reference/kernels/X.rs, its test tests/kernels/X.rs; the families
//! matmul/ and select/ are folders in all four places): its parameter struct, its pipelines
//! and a `bind` that turns buffers into a ready-to-record [`Dispatch`]. Each file's first
//! line names its shader, its CPU twin and its test.
//!
//! This file holds what every kernel shares: bindable slices, the dispatch, pipeline
//! creation with the prepended run strides (shaders/common/runs.wgsl), the per-step uniform
//! (shaders/common/step.wgsl), and the uniform-struct contracts that tests/shaders.rs checks
//! against the WGSL, field by field.

#[macro_use]
mod contract;

pub mod asserted;
pub mod batch_stats;
pub mod bias_grad;
pub mod catalog;
pub mod gather;
pub mod matmul;
pub(crate) mod mirror;
pub mod row_dot;
pub mod select;
pub mod sgd;
pub mod similarity;
pub mod softmax_xent;
pub mod temporal;

pub use batch_stats::BatchStats;
pub use bias_grad::{BiasGrad, BiasSum};
pub use gather::{Gather, GatherFrom, GatherSlices};
pub use matmul::{Epilogue, Matmul, MatmulParams};
pub use matmul::{Product, SparseMatmul};
pub use row_dot::RowDot;
pub use sgd::Sgd;
pub use similarity::{Similarity, SimilarityLayer};
pub use softmax_xent::{SoftmaxXent, XentSlices};
pub use temporal::TemporalCombine;

pub mod compiled;
pub mod dispatch;
pub mod pipeline;
pub mod slice;
pub mod step;

pub use compiled::{compiled_shaders, write_compiled_shaders};
pub use contract::{Contract, Field};
pub use dispatch::{groups_1d, record_all, Dispatch, Work};
pub use pipeline::{with_prelude, RunStrides, ShaderVariant};
pub use slice::Slice;
pub use step::{step_buffer, step_bytes, StepInfo, STEP_STRIDE};

use super::plan::KernelPlan;
pub use super::plan::MatmulVariant;

use super::context::Gpu;

/// Workgroup memory each fixed-size kernel declares, checked against the device limit at
/// start-up because wgpu 30 does not check it (the sort kernel sizes its own tile).
pub const WORKGROUP_BYTES: [(&str, u32); 2] = [("matmul", 8192), ("batch_stats", 2048)];

/// The pipelines a kernel plan needs, compiled once per device: the fixed kernels, and the
/// matrix products of the variants the plan names. The selection kernels are specialised per
/// rule and batch size, so trainers build their own ([`select`]).
pub struct Kernels {
    /// The plan every trainer built with these kernels follows.
    pub plan: KernelPlan,
    pub gather: Gather,
    /// One per variant the plan uses.
    matmuls: Vec<Matmul>,
    /// With `plan.sparse_inputs`: the first layer's forward product over non-zero inputs.
    pub sparse: Option<SparseMatmul>,
    pub softmax: SoftmaxXent,
    pub batch_stats: BatchStats,
    pub bias_grad: BiasGrad,
    pub sgd: Sgd,
    pub row_dot: RowDot,
}

impl Kernels {
    pub fn new(gpu: &Gpu, plan: KernelPlan) -> anyhow::Result<Self> {
        plan.validate()?;
        let max = gpu.limits.max_compute_workgroup_storage_size;
        for (name, bytes) in WORKGROUP_BYTES {
            if bytes > max {
                anyhow::bail!(
                    "kernel {name} needs {bytes} bytes of workgroup memory but adapter {} offers {max}",
                    gpu.info.name
                );
            }
        }
        let checks = plan.shader_checks;
        let mut matmuls: Vec<Matmul> = Vec::new();
        for v in [plan.matmul.forward, plan.matmul.backward, plan.matmul.grad] {
            if !matmuls.iter().any(|m| m.variant == v) {
                matmuls.push(Matmul::new(gpu, checks, plan.operands, v));
            }
        }
        Ok(Kernels {
            plan,
            gather: Gather::new(gpu, checks),
            matmuls,
            sparse: plan
                .sparse_inputs
                .then(|| SparseMatmul::new(gpu, checks, plan.operands)),
            softmax: SoftmaxXent::new(gpu, checks),
            batch_stats: BatchStats::new(gpu, checks),
            bias_grad: BiasGrad::new(gpu, checks),
            sgd: Sgd::new(gpu, checks),
            row_dot: RowDot::new(gpu, checks),
        })
    }

    /// The kernels of the plan the adapter calls for ([`KernelPlan::for_adapter`]).
    pub fn for_adapter(gpu: &Gpu) -> anyhow::Result<Self> {
        Self::new(gpu, KernelPlan::for_adapter(&gpu.info))
    }

    fn matmul(&self, v: MatmulVariant) -> &Matmul {
        self.matmuls
            .iter()
            .find(|m| m.variant == v)
            .expect("Kernels::new builds every variant its plan names")
    }

    /// The forward product z = a W^T + b.
    pub fn forward(&self) -> &Matmul {
        self.matmul(self.plan.matmul.forward)
    }

    /// The backward product (errors of the layer below, masked by relu').
    pub fn backward(&self) -> &Matmul {
        self.matmul(self.plan.matmul.backward)
    }

    /// The summed-gradient product d^T a.
    pub fn grad(&self) -> &Matmul {
        self.matmul(self.plan.matmul.grad)
    }
}
