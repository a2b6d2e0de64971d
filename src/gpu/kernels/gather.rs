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

/// What the gather reads and writes: the resident data set's pixels (packed u8) and labels,
/// and the minibatch's input rows and labels.
#[derive(Clone, Copy)]
pub struct GatherSlices<'a> {
    pub pixels: Slice<'a>,
    pub labels: Slice<'a>,
    pub x: Slice<'a>,
    pub row_labels: Slice<'a>,
}

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

    /// `rows` rows of `dim` pixels from `from` into `io.x` and `io.row_labels`.
    pub fn bind(
        &self,
        gpu: &Gpu,
        io: GatherSlices<'_>,
        from: GatherFrom<'_>,
        rows: u32,
        dim: u32,
    ) -> Dispatch {
        let GatherSlices {
            pixels,
            labels,
            x,
            row_labels,
        } = io;
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
                &[pixels, labels, indices, x, row_labels],
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
