//! Kernel `sgd`: shaders/sgd.wgsl; CPU twin `reference::sgd` (src/reference/kernels/sgd.rs);
//! test `sgd_update` in tests/kernels/sgd.rs.

use super::dispatch::{groups_1d, Dispatch, Work};
use super::pipeline::{Kernel, Kind, ShaderVariant};
use super::slice::Slice;
use crate::gpu::context::Gpu;
use crate::gpu::plan::ShaderChecks;

const SOURCE: &str = include_str!("../../../shaders/sgd.wgsl");

/// Every shader this kernel compiles, for tests/shaders.rs.
pub fn variants() -> Vec<ShaderVariant> {
    vec![ShaderVariant::new::<SgdParams>(
        "sgd".into(),
        SOURCE.into(),
        &[],
    )]
}

uniform_struct! {
    /// The shader's `Params`.
    pub struct SgdParams {
        count: u32,
        lr: f32,
        _pad: [u32; 2],
    }
}

/// w -= lr * g over the flat parameter buffer.
pub struct Sgd(Kernel);

impl Sgd {
    pub fn new(gpu: &Gpu, checks: ShaderChecks) -> Self {
        use Kind::*;
        Sgd(Kernel::new(
            gpu,
            checks,
            "sgd",
            SOURCE,
            &[ReadWrite, Read, Uniform],
            &[],
        ))
    }

    pub fn bind<'a>(
        &self,
        gpu: &Gpu,
        w: impl Into<Slice<'a>>,
        g: impl Into<Slice<'a>>,
        count: u32,
        lr: f32,
    ) -> Dispatch {
        self.0
            .bind(
                gpu,
                &[w.into(), g.into()],
                &SgdParams {
                    count,
                    lr,
                    _pad: [0; 2],
                },
                None,
                groups_1d(count as u64, 256),
            )
            // w read and written, g read
            .with_work(Work::Bytes(count as f64 * 12.0))
    }
}
