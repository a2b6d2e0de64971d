//! winsor: coherent-gradients experiments on the GPU.
//!
//! Trains MLPs on MNIST-format data with per-example gradients and coordinate-wise robust
//! aggregation (winsorization first) entirely in WGSL compute shaders, and checks every
//! shader against an f64 CPU reference.

pub mod analysis;
pub mod bench;
pub mod data;
pub mod gpu;
pub mod model;
pub mod output;
pub mod privacy;
pub mod profile;
pub mod reference;
pub mod report;
pub mod rng;
pub mod rule;
pub mod sortnet;
pub mod sweep;
pub mod train;
