//! Kernel `row_dot`: shaders/row_dot.wgsl; CPU twin `reference::row_dot` (src/reference/kernels/row_dot.rs);
//! test `row_dot_matches_reference` in tests/kernels/row_dot.rs.

use super::dispatch::{groups_1d, Dispatch};
use super::pipeline::{Kernel, Kind, ShaderVariant};
use super::slice::Slice;
use crate::gpu::context::Gpu;
use crate::gpu::plan::ShaderChecks;

const SOURCE: &str = include_str!("../../../shaders/row_dot.wgsl");

/// Every shader this kernel compiles, for tests/shaders.rs.
pub fn variants() -> Vec<ShaderVariant> {
    vec![ShaderVariant::new::<RowDotParams>(
        "row_dot".into(),
        SOURCE.into(),
        &[],
    )]
}

uniform_struct! {
    /// The shader's `Params`.
    pub struct RowDotParams {
        rows: u32,
        width: u32,
        out_base: u32,
        _pad: u32,
    }
}

/// out[out_base + r] = x[r, :] . y[r, :] for `rows` rows of `width` floats (a squared norm
/// when x and y are the same buffer).
pub struct RowDot(Kernel);

impl RowDot {
    pub fn new(gpu: &Gpu, checks: ShaderChecks) -> Self {
        use Kind::*;
        RowDot(Kernel::new(
            gpu,
            checks,
            "row_dot",
            SOURCE,
            &[Read, Read, ReadWrite, Uniform],
            &[],
        ))
    }

    /// out[i] = x[r] . y[r] for i in `out_rows`, r = i - out_rows.start.
    pub fn bind<'a>(
        &self,
        gpu: &Gpu,
        x: impl Into<Slice<'a>>,
        y: impl Into<Slice<'a>>,
        out: impl Into<Slice<'a>>,
        width: u32,
        out_rows: std::ops::Range<u32>,
    ) -> Dispatch {
        let (rows, out_base) = (out_rows.len() as u32, out_rows.start);
        self.0.bind(
            gpu,
            &[x.into(), y.into(), out.into()],
            &RowDotParams {
                rows,
                width,
                out_base,
                _pad: 0,
            },
            None,
            groups_1d(rows as u64, 64),
        )
    }
}
