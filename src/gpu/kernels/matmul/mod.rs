//! The matrix-product family: matmul.rs (the product of every layer, forward, backward and
//! summed gradient: shaders/matmul/matmul.wgsl tiled, and the CPU variant's matmul_cpu.wgsl and
//! its vec4 layouts matmul_k4, matmul_n4 and matmul_mn4) and matmul_sparse.rs (the first
//! layer's forward product over non-zero inputs, with nonzero_blocks.wgsl). Both compute
//! `reference::matmul`; their tests are in tests/kernels/matmul.rs.

// named like its shader, shaders/matmul/matmul.wgsl (one name in four places)
#[allow(clippy::module_inception)]
pub mod matmul;
pub mod matmul_sparse;

pub use matmul::{Epilogue, Matmul, MatmulParams, Product};
pub use matmul_sparse::SparseMatmul;
