//! Every setting of a training run, checked before any work starts, and saved as config.toml.

use anyhow::{bail, Result};
use serde::Serialize;

use super::grid::LogGrid;
use crate::analysis::coherence::CoherenceConfig;
use crate::data::Corrupt;
use crate::model::{Arch, Init};
use crate::rule::{Rule, Select};

#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub arch: Arch,
    pub init: Init,
    /// Label noise in percent, 0..=100.
    pub noise: f64,
    pub rule: Rule,
    /// Which selection kernel a selecting rule uses (results agree to rounding).
    pub select: Select,
    pub lr: f64,
    pub batch: usize,
    pub steps: u64,
    pub seed: u64,
    pub log_grid: LogGrid,
    /// Rows per evaluation chunk on the GPU.
    pub eval_chunk: usize,
    /// `--coherence`: what to measure, if anything.
    pub coherence: Option<CoherenceConfig>,
    /// Train on the first N training examples only.
    pub train_subset: Option<usize>,
    /// Evaluate test accuracy and loss on the first N test examples only.
    pub test_subset: Option<usize>,
    /// Which examples count as corrupt in the metrics and coherence statistics.
    pub corrupt: Corrupt,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            arch: "3x256".parse().expect("valid"),
            init: Init::Code,
            noise: 0.0,
            rule: Rule::Mean,
            select: Select::Auto,
            lr: 0.1,
            batch: 100,
            steps: 60000,
            seed: 0,
            log_grid: LogGrid::Paper,
            eval_chunk: 10000,
            coherence: None,
            train_subset: None,
            test_subset: None,
            corrupt: Corrupt::Changed,
        }
    }
}

impl TrainConfig {
    /// The settings runs must share to be trained together in the same dispatches
    /// (`--concurrent`): everything but the label noise, the rule and the seed. Runs that
    /// measure coherence go alone (None).
    pub fn concurrency_key(&self) -> Option<String> {
        if self.coherence.is_some() {
            return None;
        }
        Some(format!(
            "{} {:?} {} {} {} {} {} {} {:?} {:?}",
            self.arch.spec,
            self.init,
            self.select,
            self.lr,
            self.batch,
            self.steps,
            self.log_grid,
            self.eval_chunk,
            self.train_subset,
            self.test_subset
        ))
    }

    /// Checks the settings that do not depend on the data.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=100.0).contains(&self.noise) {
            bail!(
                "--noise {}: the label-noise level is a percentage in 0..=100",
                self.noise
            );
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!(
                "--lr {}: the learning rate must be a positive number",
                self.lr
            );
        }
        if self.batch == 0 {
            bail!("--batch 0: a minibatch needs at least one example");
        }
        if self.train_subset == Some(0) {
            bail!("--train-subset 0: train on at least one example");
        }
        if self.test_subset == Some(0) {
            bail!("--test-subset 0: evaluate on at least one test example");
        }
        if self.eval_chunk == 0 {
            bail!("eval chunk 0: must be at least 1");
        }
        Ok(())
    }

    /// Checks the settings against a training set of `n_train` examples.
    pub fn validate_for(&self, n_train: usize) -> Result<()> {
        self.validate()?;
        if self.batch > n_train || !n_train.is_multiple_of(self.batch) {
            let divisors: Vec<String> = [10, 20, 25, 50, 100, 200, 250, 500]
                .iter()
                .filter(|&&d| d <= n_train && n_train.is_multiple_of(d))
                .map(|d| d.to_string())
                .collect();
            bail!(
                "--batch {}: must divide the {n_train} training examples so that every epoch is whole minibatches; try {}",
                self.batch,
                if divisors.is_empty() { "1".into() } else { divisors.join(", ") }
            );
        }
        Ok(())
    }
}

/// What config.toml holds: the settings plus where and with what they ran.
#[derive(Serialize)]
pub struct SavedConfig {
    pub winsor_version: String,
    pub arch: String,
    pub widths: Vec<usize>,
    pub init: Init,
    pub noise_percent: f64,
    pub rule: String,
    pub select: String,
    pub lr: f64,
    pub batch: usize,
    pub steps: u64,
    pub seed: u64,
    pub log_grid: String,
    pub eval_chunk: usize,
    pub train_subset: Option<usize>,
    pub test_subset: Option<usize>,
    /// Which examples the metrics call corrupt: "changed" (label changed, the paper's
    /// definition) or "selected" (selected for the permutation).
    pub corrupt: Corrupt,
    /// `--coherence` settings (absent without the flag).
    pub coherence: Option<SavedCoherence>,
    pub data: String,
    pub n_train: usize,
    pub n_test: usize,
    pub adapter: String,
    pub adapter_driver: String,
    /// The kernel plan the run was trained with, resolved (never "auto").
    pub kernels: crate::gpu::KernelPlan,
}

#[derive(Serialize)]
pub struct SavedCoherence {
    pub first: u64,
    pub null_worlds: usize,
    pub sample_examples: usize,
    pub sample_weights: usize,
    pub minibatches: usize,
}

impl From<&CoherenceConfig> for SavedCoherence {
    fn from(c: &CoherenceConfig) -> Self {
        SavedCoherence {
            first: c.first,
            null_worlds: c.null_worlds,
            sample_examples: c.sample_examples,
            sample_weights: c.sample_weights,
            minibatches: c.minibatches,
        }
    }
}
