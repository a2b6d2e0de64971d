//! What a trainer is built from: each run's labels, initial parameters and rule
//! ([`RunInit`]), what its runs share ([`TrainerSpec`]), and the per-example quantities
//! its coherence pass returns ([`PerExample`]).

use crate::model::Params;
use crate::rule::{Rule, Select};

/// What one run of a trainer brings: its (possibly noisy) training labels, its initial
/// parameters and its aggregation rule. Everything else in [`TrainerSpec`] is shared.
#[derive(Clone, Copy)]
pub struct RunInit<'a> {
    pub labels: &'a [u8],
    pub init: &'a Params,
    pub rule: Rule,
}

/// What the runs of a trainer share besides the data.
#[derive(Debug, Clone)]
pub struct TrainerSpec {
    pub batch: usize,
    /// Which selection path a selecting rule uses.
    pub select: Select,
    pub lr: f32,
    /// Rows per evaluation dispatch chain.
    pub eval_chunk: usize,
    /// Training steps recorded into one submission (fewer if the indices would not fit).
    pub steps_per_submit: usize,
    /// Also build the passes of [`GpuTrainer::coherence`](crate::gpu::GpuTrainer::coherence).
    pub coherence: bool,
}

/// Per-example quantities over the whole training set, one vector per layer (each
/// `n_train` long), from [`GpuTrainer::coherence`](crate::gpu::GpuTrainer::coherence).
pub struct PerExample {
    /// g_e . G for layer l's weights and biases, G the summed gradient of the training set.
    pub dot: Vec<Vec<f32>>,
    /// ||d_e||^2 of layer l's output errors.
    pub d_sq: Vec<Vec<f32>>,
    /// ||a_e||^2 of layer l's inputs.
    pub a_sq: Vec<Vec<f32>>,
}
