//! Kernel `batch_stats`: shaders/batch_stats.wgsl; CPU twin `reference::batch_stats` (src/reference/kernels/batch_stats.rs);
//! test `batch_stats_reduces_in_order` in tests/kernels/batch_stats.rs.

use super::dispatch::Dispatch;
use super::pipeline::{Kernel, Kind, ShaderVariant};
use super::slice::Slice;
use crate::gpu::context::Gpu;
use crate::gpu::plan::ShaderChecks;

const SOURCE: &str = concat!(
    include_str!("../../../shaders/common/step.wgsl"),
    include_str!("../../../shaders/batch_stats.wgsl")
);

/// Every shader this kernel compiles, for tests/shaders.rs.
pub fn variants() -> Vec<ShaderVariant> {
    vec![ShaderVariant::new::<RowsParams>(
        "batch_stats".into(),
        SOURCE.into(),
        &[],
    )]
}

uniform_struct! {
    /// The shader's `Params`.
    pub struct RowsParams {
        rows: u32,
        _pad: [u32; 3],
    }
}

/// Reduces a training step's per-row loss and correctness into its stats slot.
pub struct BatchStats(Kernel);

impl BatchStats {
    pub fn new(gpu: &Gpu, checks: ShaderChecks) -> Self {
        use Kind::*;
        BatchStats(Kernel::new(
            gpu,
            checks,
            "batch_stats",
            SOURCE,
            &[Read, Read, ReadWrite, Uniform, StepUniform],
            &[],
        ))
    }

    pub fn bind<'a>(
        &self,
        gpu: &Gpu,
        loss: impl Into<Slice<'a>>,
        correct: impl Into<Slice<'a>>,
        stats: impl Into<Slice<'a>>,
        step: &wgpu::Buffer,
        rows: u32,
    ) -> Dispatch {
        self.0.bind(
            gpu,
            &[loss.into(), correct.into(), stats.into()],
            &RowsParams { rows, _pad: [0; 3] },
            Some(step),
            [1, 1, 1],
        )
    }
}
