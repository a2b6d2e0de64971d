//! Kernel `bias_grad`: shaders/bias_grad.wgsl; CPU twin `reference::bias_grad` (src/reference/kernels/bias_grad.rs);
//! test `bias_grad_reduces_in_order_and_accumulates` in tests/kernels/bias_grad.rs.

use super::dispatch::Dispatch;
use super::pipeline::{Kernel, Kind, ShaderVariant};
use super::slice::Slice;
use crate::gpu::context::Gpu;
use crate::gpu::plan::ShaderChecks;

const SOURCE: &str = include_str!("../../../shaders/bias_grad.wgsl");

/// Every shader this kernel compiles, for tests/shaders.rs.
pub fn variants() -> Vec<ShaderVariant> {
    vec![ShaderVariant::new::<BiasGradParams>(
        "bias_grad".into(),
        SOURCE.into(),
        &[],
    )]
}

uniform_struct! {
    /// The shader's `Params`.
    pub struct BiasGradParams {
        rows: u32,
        width: u32,
        off: u32,
        scale: f32,
        accumulate: u32,
        _pad: [u32; 3],
    }
}

/// Which sums [`BiasGrad`] forms: `scale` times the sum over `rows` rows of each of the
/// `width` columns of d, written (or added, with `accumulate`) at `off` in the segment.
#[derive(Clone, Copy, Debug)]
pub struct BiasSum {
    pub rows: u32,
    pub width: u32,
    pub off: u32,
    pub scale: f32,
    pub accumulate: bool,
}

/// Bias gradient `scale * sum_e d[e, j]`, written (or added, with `accumulate`) at `off`
/// inside a layer's gradient segment.
pub struct BiasGrad(Kernel);

impl BiasGrad {
    pub fn new(gpu: &Gpu, checks: ShaderChecks) -> Self {
        use Kind::*;
        BiasGrad(Kernel::new(
            gpu,
            checks,
            "bias_grad",
            SOURCE,
            &[Read, ReadWrite, Uniform],
            &[],
        ))
    }

    pub fn bind<'a>(
        &self,
        gpu: &Gpu,
        d: impl Into<Slice<'a>>,
        g: Slice<'_>,
        sum: BiasSum,
    ) -> Dispatch {
        let BiasSum {
            rows,
            width,
            off,
            scale,
            accumulate,
        } = sum;
        self.0.bind(
            gpu,
            &[d.into(), g],
            &BiasGradParams {
                rows,
                width,
                off,
                scale,
                accumulate: accumulate as u32,
                _pad: [0; 3],
            },
            None,
            [width.div_ceil(64), 1, 1],
        )
    }
}
