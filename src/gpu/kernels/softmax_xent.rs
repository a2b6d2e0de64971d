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
    #[allow(clippy::too_many_arguments)]
    pub fn bind<'a>(
        &self,
        gpu: &Gpu,
        logits: impl Into<Slice<'a>>,
        row_labels: impl Into<Slice<'a>>,
        d: impl Into<Slice<'a>>,
        train: bool,
        loss_out: impl Into<Slice<'a>>,
        correct_out: impl Into<Slice<'a>>,
        rows: u32,
        classes: u32,
        base: u32,
    ) -> Dispatch {
        let mode = if train { 0 } else { 1 };
        self.0
            .bind(
                gpu,
                &[
                    logits.into(),
                    row_labels.into(),
                    d.into(),
                    loss_out.into(),
                    correct_out.into(),
                ],
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
