//! Kernel `softmax_xent`: shaders/softmax_xent.wgsl; CPU twin `reference::softmax_xent` (src/reference/kernels/softmax_xent.rs);
//! test `softmax_xent_matches_reference` in tests/kernels/softmax_xent.rs.

use super::dispatch::{groups_1d, Dispatch, Work};
use super::pipeline::{Kernel, Kind, ShaderVariant};
use super::slice::Slice;
use crate::gpu::context::Gpu;
use crate::gpu::plan::ShaderChecks;

const SOURCE: &str = include_str!("../../../shaders/softmax_xent.wgsl");

/// Every shader this kernel compiles, for tests/shaders.rs.
pub fn variants() -> Vec<ShaderVariant> {
    vec![ShaderVariant::new::<SoftmaxParams>(
        "softmax_xent".into(),
        SOURCE.into(),
        &[],
    )]
}

uniform_struct! {
    /// The shader's `Params`.
    pub struct SoftmaxParams {
        rows: u32,
        classes: u32,
        base: u32,
        mode: u32,
    }
}

/// What softmax cross-entropy reads (the logits and the rows' labels) and writes (in
/// training the error `d`; each row's loss and correctness at `base + row`).
#[derive(Clone, Copy)]
pub struct XentSlices<'a> {
    pub logits: Slice<'a>,
    pub row_labels: Slice<'a>,
    pub d: Slice<'a>,
    pub loss: Slice<'a>,
    pub correct: Slice<'a>,
}

/// Softmax cross-entropy: per-row loss and correctness, and in training the error d.
pub struct SoftmaxXent(Kernel);

impl SoftmaxXent {
    pub fn new(gpu: &Gpu, checks: ShaderChecks) -> Self {
        use Kind::*;
        SoftmaxXent(Kernel::new(
            gpu,
            checks,
            "softmax_xent",
            SOURCE,
            &[Read, Read, ReadWrite, ReadWrite, ReadWrite, Uniform],
            &[],
        ))
    }

    /// `train`: the error is written to `d`; otherwise `d` is untouched (pass any buffer that
    /// is not bound elsewhere in the dispatch).
    pub fn bind(
        &self,
        gpu: &Gpu,
        io: XentSlices<'_>,
        train: bool,
        rows: u32,
        classes: u32,
        base: u32,
    ) -> Dispatch {
        let mode = if train { 0 } else { 1 };
        self.0
            .bind(
                gpu,
                &[io.logits, io.row_labels, io.d, io.loss, io.correct],
                &SoftmaxParams {
                    rows,
                    classes,
                    base,
                    mode,
                },
                None,
                groups_1d(rows as u64, 64),
            )
            // the logits read, the errors written
            .with_work(Work::Bytes(rows as f64 * classes as f64 * 8.0))
    }
}
