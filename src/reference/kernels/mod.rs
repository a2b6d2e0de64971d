//! The CPU twin of every WGSL kernel: what the kernel computes, in f64, written for clarity
//! rather than speed. One file per kernel, named like its shader (a family such as
//! shaders/matmul/ or shaders/select/ has one twin, since its kernels compute the same
//! function); the kernel's test in tests/kernels/ compares the two on seeded random inputs.
//!
//! The twins take the kernels' inputs as f64 (or the integers the kernels read) and return
//! what the kernels write; buffer offsets, runs and dispatch shapes are the kernels' business
//! and are left out, except where they change which values are read (the matrix product's
//! strides and offsets).
// Index loops mirror the formulas (a[i * a_rs + q * a_cs]) and are kept for readability.
#![allow(clippy::needless_range_loop)]

pub mod batch_stats;
pub mod bias_grad;
pub mod gather;
pub mod matmul;
pub mod row_dot;
pub mod select;
pub mod sgd;
pub mod similarity;
pub mod softmax_xent;
pub mod temporal;

pub use batch_stats::batch_stats;
pub use bias_grad::bias_grad;
pub use gather::gather;
pub use matmul::{gram, matmul, MatmulEpilogue, MatmulLayout};
pub use row_dot::row_dot;
pub use select::{aggregate_values, per_example_gradients, select, sign};
pub use sgd::sgd;
pub use similarity::similarity;
pub use softmax_xent::{softmax_xent, Xent};
pub use temporal::temporal;
