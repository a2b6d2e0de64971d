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

    #[allow(clippy::too_many_arguments)]
    pub fn bind<'a>(
        &self,
        gpu: &Gpu,
        d: impl Into<Slice<'a>>,
        g: Slice<'_>,
        rows: u32,
        width: u32,
        off: u32,
        scale: f32,
        accumulate: bool,
    ) -> Dispatch {
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
