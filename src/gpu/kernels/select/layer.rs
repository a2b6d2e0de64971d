//! What a selection kernel aggregates: one layer's operands.

use crate::gpu::kernels::slice::Slice;

/// One layer's operands for a selection kernel. Each slice holds `runs` runs (its
/// `Slice::run` stride, a multiple of 16 bytes).
#[derive(Clone, Copy)]
pub struct LayerOperands<'a> {
    /// The layer's output errors, rows x fan_out.
    pub d: Slice<'a>,
    /// The layer's inputs, rows x fan_in.
    pub a: Slice<'a>,
    /// The layer's gradient segment (weights, then biases), or with `update` its parameters.
    pub g: Slice<'a>,
    pub fan_out: u32,
    pub fan_in: u32,
    /// Most inputs are zero (the first layer's pixels): the partial path then reads only
    /// the examples where they are not, through a list of non-zero input groups.
    pub sparse_inputs: bool,
    pub runs: u32,
    /// None: the update is stored in `g`. Some(lr): `g` holds the parameters, and the SGD
    /// step w - lr * update is applied to them in place (the step's separate SGD dispatch is
    /// then not needed).
    pub update: Option<f32>,
}
