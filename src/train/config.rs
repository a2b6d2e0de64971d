//! Every setting of a training run, checked before any work starts, and saved as config.toml.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::grid::LogGrid;
use crate::analysis::coherence::CoherenceConfig;
use crate::analysis::similarity::SimilarityConfig;
use crate::data::{Corrupt, Order};
use crate::gpu::KernelPlan;
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
    /// `--order`: how minibatches walk the training set.
    pub order: Order,
    pub log_grid: LogGrid,
    /// Rows per evaluation chunk on the GPU.
    pub eval_chunk: usize,
    /// `--coherence`: what to measure, if anything.
    pub coherence: Option<CoherenceConfig>,
    /// `--similarity N`: the probe set's gradient similarity matrix, if asked for.
    pub similarity: Option<SimilarityConfig>,
    /// Train on the first N training examples only.
    pub train_subset: Option<usize>,
    /// Evaluate test accuracy and loss on the first N test examples only.
    pub test_subset: Option<usize>,
    /// Which examples count as corrupt in the metrics and coherence statistics.
    pub corrupt: Corrupt,
    /// `--data`: the data folder given (None: the built-in MNIST). Recorded only; the data
    /// itself is passed to the run.
    pub data: Option<PathBuf>,
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
            order: Order::Shuffle,
            log_grid: LogGrid::Paper,
            eval_chunk: 10000,
            coherence: None,
            similarity: None,
            train_subset: None,
            test_subset: None,
            corrupt: Corrupt::Changed,
            data: None,
        }
    }
}

impl TrainConfig {
    /// The settings runs must share to be trained together in the same dispatches
    /// (`--concurrent`): everything but the label noise, the rule and the seed. Runs that
    /// measure coherence go alone (None).
    pub fn concurrency_key(&self) -> Option<String> {
        if self.coherence.is_some() || self.similarity.is_some() {
            return None;
        }
        Some(format!(
            "{} {:?} {} {} {} {} {} {} {} {:?} {:?}",
            self.arch.spec,
            self.init,
            self.select,
            self.lr,
            self.batch,
            self.steps,
            self.order,
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

    /// Checks the settings against `data` (the subsets exist, the batch divides the
    /// training examples) and returns the run's (training, test) example counts.
    pub fn sizes(&self, data: &crate::data::DataSet) -> Result<(usize, usize)> {
        let subset = data.subsets(self.train_subset, self.test_subset)?;
        self.validate_for(subset.train.n)?;
        Ok((subset.train.n, subset.test.n))
    }

    /// Checks the settings against a training set of `n_train` examples.
    pub fn validate_for(&self, n_train: usize) -> Result<()> {
        self.validate()?;
        if let Some(s) = self.similarity.as_ref().filter(|s| s.n > n_train) {
            bail!(
                "--similarity {}: the training set has only {n_train} examples; use --similarity {n_train} or less",
                s.n
            );
        }
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
        self.order
            .check(n_train, self.batch, self.steps)
            .map_err(anyhow::Error::msg)?;
        Ok(())
    }
}

/// What config.toml holds. `[train]`: the run's settings by `winsor train`'s own flag names,
/// so that `winsor train --config` and `winsor sweep` read it back; `[run]`: where and with
/// what it ran; `[kernels]`: the resolved kernel plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedConfig {
    pub train: toml::Table,
    pub run: RunRecord,
    pub kernels: KernelPlan,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RunRecord {
    /// The command line that started the run (for a sweep's run, the sweep's).
    pub command: String,
    pub winsor_version: String,
    /// `git describe` of the build, or "unknown" outside git.
    pub commit: String,
    /// "mnist (built-in)", the folder, or "cifar10 (DIR)".
    pub data_source: String,
    /// [`crate::data::DataSet::sha256`] of the whole set (before any subset).
    pub data_sha256: String,
    pub n_train: usize,
    pub n_test: usize,
    pub widths: Vec<usize>,
    pub adapter: String,
    pub adapter_driver: String,
}

/// The name a clap value enum has on the command line.
fn flag_value(v: &impl clap::ValueEnum) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

impl TrainConfig {
    /// The settings as `winsor train` flags (long names, without the dashes), in the order
    /// of `--help`; optional ones only when set.
    pub fn flags(&self) -> Result<toml::Table> {
        use toml::Value as V;
        let int = |flag: &str, v: u64| -> Result<V> {
            i64::try_from(v).map(V::Integer).map_err(|_| {
                anyhow::anyhow!(
                    "--{flag} {v}: too large to record in config.toml (at most {})",
                    i64::MAX
                )
            })
        };
        let mut t = toml::Table::new();
        let mut set = |k: &str, v: V| {
            t.insert(k.to_string(), v);
        };
        set("arch", V::String(self.arch.spec.clone()));
        set("init", V::String(flag_value(&self.init)));
        set("noise", V::Float(self.noise));
        set("rule", V::String(self.rule.to_string()));
        set("select", V::String(self.select.to_string()));
        set("lr", V::Float(self.lr));
        set("batch", int("batch", self.batch as u64)?);
        set("steps", int("steps", self.steps)?);
        set("seed", int("seed", self.seed)?);
        // only when set, so that every earlier run's config.toml (and a sweep's comparison
        // with it on resume) stays as it was
        if self.order != Order::Shuffle {
            set("order", V::String(self.order.to_string()));
        }
        set("log-grid", V::String(self.log_grid.to_string()));
        if let Some(d) = &self.data {
            let text = d.to_str().with_context(|| {
                format!(
                    "--data {}: the path is not UTF-8, which config.toml cannot hold",
                    d.display()
                )
            })?;
            set("data", V::String(text.to_string()));
        }
        set("eval-chunk", int("eval-chunk", self.eval_chunk as u64)?);
        if let Some(c) = &self.coherence {
            set("coherence", V::Boolean(true));
            set("coherence-first", int("coherence-first", c.first)?);
            set("null-worlds", int("null-worlds", c.null_worlds as u64)?);
            set(
                "coherence-minibatches",
                int("coherence-minibatches", c.minibatches as u64)?,
            );
        }
        if let Some(s) = &self.similarity {
            set("similarity", int("similarity", s.n as u64)?);
            set(
                "similarity-null-worlds",
                int("similarity-null-worlds", s.null_worlds as u64)?,
            );
            if s.save {
                set("similarity-save", V::Boolean(true));
            }
        }
        if let Some(n) = self.train_subset {
            set("train-subset", int("train-subset", n as u64)?);
        }
        if let Some(n) = self.test_subset {
            set("test-subset", int("test-subset", n as u64)?);
        }
        set("corrupt", V::String(flag_value(&self.corrupt)));
        Ok(t)
    }
}

impl SavedConfig {
    pub fn to_toml(&self) -> Result<String> {
        Ok(format!(
            "# A winsor run. Re-run it exactly with: winsor train --config <this file> --out DIR\n\
             # [train] is the settings (winsor train's flags); [run] and [kernels] say where and how it ran.\n{}",
            toml::to_string(self)?
        ))
    }

    /// Reads a config.toml; None for one an older winsor wrote (settings at the top level).
    pub fn read(path: &Path) -> Result<Option<SavedConfig>> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let t: toml::Table =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if !t.contains_key("train") {
            return Ok(None);
        }
        t.try_into()
            .map(Some)
            .with_context(|| format!("{}: not a winsor run's config.toml", path.display()))
    }

    /// What differs between this (a folder's) run and `now`, one line per setting, for the
    /// message that refuses to mix them. The command line, version and commit do not count.
    pub fn differences(&self, now: &SavedConfig) -> Vec<String> {
        let mut out = Vec::new();
        let show = |v: Option<&toml::Value>| v.map_or("unset".to_string(), |v| v.to_string());
        let mut keys: Vec<&String> = self.train.keys().collect();
        keys.extend(now.train.keys().filter(|k| !self.train.contains_key(*k)));
        for k in keys {
            let (a, b) = (self.train.get(k), now.train.get(k));
            if a != b {
                out.push(format!("--{k}: {} there, {} now", show(a), show(b)));
            }
        }
        let (r, n) = (&self.run, &now.run);
        if r.data_sha256 != n.data_sha256 {
            out.push(format!(
                "the data: {} (SHA-256 {}) there, {} (SHA-256 {}) now",
                r.data_source, r.data_sha256, n.data_source, n.data_sha256
            ));
        }
        if r.adapter != n.adapter {
            out.push(format!(
                "the adapter: {} there, {} now",
                r.adapter, n.adapter
            ));
        }
        if self.kernels != now.kernels {
            out.push(format!(
                "the kernel plan: {} there, {} now",
                self.kernels.describe(),
                now.kernels.describe()
            ));
        }
        out
    }
}

/// The process's command line, quoted for a POSIX shell where needed.
pub fn command_line() -> String {
    std::env::args()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
            if plain {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_use_the_command_line_names() {
        let c = TrainConfig {
            rule: Rule::Winsor(4.0),
            noise: 25.0,
            train_subset: Some(300),
            coherence: Some(CoherenceConfig::default()),
            ..Default::default()
        };
        let t = c.flags().unwrap();
        assert_eq!(t["rule"].as_str(), Some("winsor:4"));
        assert_eq!(t["log-grid"].as_str(), Some("paper"));
        assert_eq!(t["init"].as_str(), Some("code"));
        assert_eq!(t["corrupt"].as_str(), Some("changed"));
        assert_eq!(t["train-subset"].as_integer(), Some(300));
        assert_eq!(t["coherence"].as_bool(), Some(true));
        assert!(!t.contains_key("test-subset"));
        let e = TrainConfig {
            steps: u64::MAX,
            ..Default::default()
        }
        .flags()
        .unwrap_err();
        assert!(format!("{e}").contains("--steps"), "{e}");
    }
}
