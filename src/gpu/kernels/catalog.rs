//! Every shader variant the kernels can compile, for tests/shaders.rs: pipelines are built
//! when first used, so a variant no test reaches would otherwise never be compiled.

use super::pipeline::ShaderVariant;

/// All variants of all kernels, with the sources, pipeline constants and parameter structs
/// the device receives.
pub fn all() -> Vec<ShaderVariant> {
    let mut out = Vec::new();
    out.extend(super::gather::variants());
    out.extend(super::matmul::matmul::variants());
    out.extend(super::matmul::matmul_sparse::variants());
    out.extend(super::softmax_xent::variants());
    out.extend(super::batch_stats::variants());
    out.extend(super::bias_grad::variants());
    out.extend(super::sgd::variants());
    out.extend(super::temporal::variants());
    out.extend(super::row_dot::variants());
    out.extend(super::similarity::variants());
    out.extend(super::select::select_partial::variants());
    out.extend(super::select::select_sort::variants());
    out
}
