//! Kernels `nonzero_blocks` and `matmul_sparse`: shaders/matmul/nonzero_blocks.wgsl and
//! matmul_sparse.wgsl; CPU twin `reference::matmul` (the same product: skipping zeros
//! changes no sum); test `matmul_skipping_zero_inputs_is_bit_identical` in tests/kernels/matmul.rs.

use super::matmul::{cpu_block, Epilogue, MatmulParams, Product};
use crate::gpu::context::Gpu;
use crate::gpu::kernels::dispatch::Dispatch;
use crate::gpu::kernels::pipeline::{Kernel, Kind, ShaderVariant};
use crate::gpu::kernels::slice::Slice;
use crate::gpu::plan::{Operands, ShaderChecks};

fn product_source(operands: Operands) -> String {
    cpu_block(
        concat!(
            include_str!("../../../../shaders/matmul/matmul_params.wgsl"),
            include_str!("../../../../shaders/matmul/matmul_sparse.wgsl"),
            include_str!("../../../../shaders/matmul/matmul_cpu_block.wgsl")
        ),
        operands,
        8,
    )
}

fn list_source() -> String {
    concat!(
        include_str!("../../../../shaders/matmul/matmul_params.wgsl"),
        include_str!("../../../../shaders/matmul/nonzero_blocks.wgsl")
    )
    .to_string()
}

/// Every shader this kernel compiles, for tests/shaders.rs.
pub fn variants() -> Vec<ShaderVariant> {
    let mut out = vec![ShaderVariant::new::<MatmulParams>(
        "nonzero_blocks".into(),
        list_source(),
        &[],
    )];
    for operands in [Operands::Buffers, Operands::Textures] {
        for e in [Epilogue::BiasRelu, Epilogue::Bias] {
            out.push(ShaderVariant::new::<MatmulParams>(
                format!("matmul_sparse {operands:?} {e:?}"),
                product_source(operands),
                &[("MODE", e as u32 as f64)],
            ));
        }
    }
    out
}

/// The forward product for inputs that are mostly zero (the first layer's pixels): a list of
/// the non-zero groups of 4 columns of each block of 8 rows of A (nonzero_blocks.wgsl), then
/// the product over those only (matmul_sparse.wgsl), bit-identical to [`super::Matmul`].
pub struct SparseMatmul {
    products: [Kernel; 2],
    list: Kernel,
}

impl SparseMatmul {
    pub fn new(gpu: &Gpu, checks: ShaderChecks, operands: Operands) -> Self {
        use Kind::*;
        let source = product_source(operands);
        let ab = Kind::operand(operands);
        SparseMatmul {
            products: [Epilogue::BiasRelu, Epilogue::Bias].map(|e| {
                Kernel::new(
                    gpu,
                    checks,
                    "matmul_sparse",
                    &source,
                    &[ab, ab, Read, ReadWrite, Uniform, Read],
                    &[("MODE", e as u32 as f64)],
                )
            }),
            list: Kernel::new(
                gpu,
                checks,
                "nonzero_blocks",
                &list_source(),
                &[Read, ReadWrite, Uniform],
                &[],
            ),
        }
    }

    /// The listing and the product for `runs` runs, or None where it does not apply
    /// (operands not contiguous in k by fours, or an epilogue other than the forward ones),
    /// and the caller uses [`super::Matmul::bind`].
    /// (`op.aux` is not read.)
    pub fn bind(&self, gpu: &Gpu, op: Product<'_>, runs: u32) -> Option<[Dispatch; 2]> {
        let Product {
            epilogue,
            a,
            b,
            c,
            p,
            ..
        } = op;
        if !p.vec4_along_k() || !matches!(epilogue, Epilogue::BiasRelu | Epilogue::Bias) || p.m == 0
        {
            return None;
        }
        let n_blocks = p.m.div_ceil(8);
        // one list per run
        let list_bytes = ((n_blocks as u64) * (1 + p.k as u64 / 4) * 4).next_multiple_of(256);
        let list = gpu.storage("nonzero blocks", list_bytes * runs as u64);
        let list = Slice::runs(&list, list_bytes);
        let listing = self
            .list
            .bind(gpu, &[a, list], &p, None, [n_blocks.div_ceil(64), 1, 1])
            .across(runs);
        let product = self.products[epilogue as usize]
            .bind(
                gpu,
                &[a.whole_vec4s(), b.whole_vec4s(), b, c, list],
                &p,
                None,
                [p.n.div_ceil(256), n_blocks, 1],
            )
            .across(runs)
            .with_work(p.flops());
        Some([listing, product])
    }
}
