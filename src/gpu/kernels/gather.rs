//! Kernel `gather`: shaders/gather.wgsl; CPU twin `reference::gather` (src/reference/kernels/gather.rs);
//! test `gather_reads_selected_examples_and_labels` in tests/kernels/gather.rs.

use super::dispatch::{Dispatch, Work};
use super::pipeline::{Kernel, Kind, ShaderVariant};
use super::slice::Slice;
use crate::gpu::context::Gpu;
use crate::gpu::plan::ShaderChecks;

const SOURCE: &str = concat!(
    include_str!("../../../shaders/common/step.wgsl"),
    include_str!("../../../shaders/gather.wgsl")
);

/// Every shader this kernel compiles, for tests/shaders.rs.
pub fn variants() -> Vec<ShaderVariant> {
    vec![ShaderVariant::new::<GatherParams>(
        "gather".into(),
        SOURCE.into(),
        &[],
    )]
}

uniform_struct! {
    /// The shader's `Params`.
    pub struct GatherParams {
        rows: u32,
        dim: u32,
        base: u32,
        mode: u32,
    }
}

/// Copies examples of the resident u8 data set into f32 input rows and their labels.
pub struct Gather(Kernel);

/// Where the gather takes its examples from.
pub enum GatherFrom<'a> {
    /// Row r is example `indices[step.index_base + base + r]` (training minibatches, `base`
    /// being the first row of a chunk).
    Indices {
        indices: Slice<'a>,
        step: &'a wgpu::Buffer,
        base: u32,
    },
    /// Row r is example `base + r` (evaluation chunks); `step` is any step buffer.
    Range { base: u32, step: &'a wgpu::Buffer },
}

impl Gather {
    pub fn new(gpu: &Gpu, checks: ShaderChecks) -> Self {
        use Kind::*;
        Gather(Kernel::new(
            gpu,
            checks,
            "gather",
            SOURCE,
            &[Read, Read, Read, ReadWrite, ReadWrite, Uniform, StepUniform],
            &[],
        ))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn bind<'a>(
        &self,
        gpu: &Gpu,
        pixels: impl Into<Slice<'a>>,
        labels: impl Into<Slice<'a>>,
        from: GatherFrom<'_>,
        x: impl Into<Slice<'a>>,
        row_labels: impl Into<Slice<'a>>,
        rows: u32,
        dim: u32,
    ) -> Dispatch {
        let labels = labels.into();
        let x = x.into();
        let (indices, step, base, mode) = match from {
            GatherFrom::Indices {
                indices,
                step,
                base,
            } => (indices, step, base, 0),
            GatherFrom::Range { base, step } => (labels, step, base, 1),
        };
        self.0
            .bind(
                gpu,
                &[pixels.into(), labels, indices, x, row_labels.into()],
                &GatherParams {
                    rows,
                    dim,
                    base,
                    mode,
                },
                Some(step),
                // four pixels per invocation, 64 invocations per workgroup
                [dim.div_ceil(4 * 64), rows, 1],
            )
            // a byte read and a float written per pixel
            .with_work(Work::Bytes(rows as f64 * dim as f64 * 5.0))
    }
}
