//! One run of [`super::run_many`] while it trains: its folder, label noise, minibatch order and
//! measurements, from config.toml to summary.json.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::checkpoint::{Checkpoint, CoherenceState, SimilarityState, Spent, CHECKPOINT};
use super::config::{RunRecord, SavedConfig, TrainConfig};
use super::metrics::{self, Learnt, Row, Summary};
use super::progress::Progress;
use super::{prepare_out_dir, DONE_MARKER};
use crate::analysis::coherence::Coherence;
use crate::analysis::similarity::{Probe, Similarity};
use crate::data::{BatchOrder, DataSet, LabelNoise, CLASSES};
use crate::gpu::trainer::Evaluation;
use crate::gpu::{Gpu, Kernels};
use crate::model::Params;
use crate::output::write_atomic;

/// What every run of one [`super::run_many`] call shares.
pub(super) struct Setup<'a> {
    pub gpu: &'a Gpu,
    pub kernels: &'a Kernels,
    /// Already cut to the runs' subsets.
    pub data: &'a DataSet,
    pub widths: &'a [usize],
}

/// Seconds spent so far, for summary.json (a resumed run's include its earlier attempts').
pub(super) struct Times {
    /// When [`super::run_many`] was called.
    pub t0: std::time::Instant,
    /// Wall seconds of the earlier attempts of a resumed run.
    pub wall_before_s: f64,
    pub train_s: f64,
    pub eval_s: f64,
    pub coherence_s: f64,
}

impl Times {
    pub fn wall_s(&self) -> f64 {
        self.wall_before_s + self.t0.elapsed().as_secs_f64()
    }

    /// What a checkpoint keeps.
    pub fn spent(&self) -> Spent {
        Spent {
            wall_s: self.wall_s(),
            train_s: self.train_s,
            eval_s: self.eval_s,
            coherence_s: self.coherence_s,
        }
    }
}

pub(super) struct Active<'c> {
    pub cfg: &'c TrainConfig,
    pub out: PathBuf,
    pub noise: LabelNoise,
    pub order: BatchOrder,
    pub coherence: Option<Coherence>,
    pub similarity: Option<Similarity>,
    rows: Vec<Row>,
    learnt: Learnt,
    /// The latest minibatch's loss and correct count.
    pub last_batch: Option<(f32, u32)>,
    /// Set when the run fails (it diverged); the others go on.
    pub failed: Option<anyhow::Error>,
}

impl<'c> Active<'c> {
    /// Prepares the run's folder (see [`prepare_out_dir`]), draws its label noise and, when
    /// the folder holds a checkpoint of this same run, returns it (the caller puts it back
    /// with [`Self::restore`]); otherwise writes the run's config.toml.
    pub(super) fn start(
        s: &Setup,
        c: &'c TrainConfig,
        out: &Path,
        force: bool,
        record: &RunRecord,
    ) -> Result<(Self, Option<Checkpoint>)> {
        let saved = SavedConfig {
            train: c.flags()?,
            run: record.clone(),
            kernels: s.kernels.plan,
        };
        let resume = prepare_out_dir(out, &saved, force)?;
        if resume.is_none() {
            write_atomic(&out.join("config.toml"), saved.to_toml()?.as_bytes())?;
        }
        let data = s.data;
        let noise = LabelNoise::new(&data.train.labels, c.noise / 100.0, c.seed);
        let coherence = c
            .coherence
            .clone()
            .map(|k| Coherence::new(k, noise.corrupt(c.corrupt), s.widths, c.batch, c.seed));
        let similarity = match &c.similarity {
            None => None,
            Some(sc) => {
                let corrupt = noise.corrupt(c.corrupt);
                let probe = Probe::draw(sc.n, &data.train.labels, &noise.labels, corrupt, c.seed)?;
                write_atomic(&out.join("similarity_probe.csv"), probe.csv().as_bytes())?;
                Some(Similarity::new(sc, probe, c.seed))
            }
        };
        let run = Active {
            cfg: c,
            out: out.to_path_buf(),
            noise,
            order: BatchOrder::with_order(data.train.n, c.batch, c.seed, c.order, c.steps),
            coherence,
            similarity,
            rows: Vec::new(),
            learnt: Learnt::new(data.train.n),
            last_batch: None,
            failed: None,
        };
        Ok((run, resume))
    }

    /// Goes on from checkpoint `c`: its measurements so far, the minibatch order replayed to
    /// its step, and metrics.csv and coherence.csv as they were at that step (a later
    /// attempt may have logged more before it was killed). The weights are the trainer's.
    pub(super) fn restore(&mut self, c: Checkpoint) -> Result<()> {
        if c.learnt.first.len() != self.learnt.first.len() {
            bail!(
                "{}: the checkpoint is of a run on {} training examples, this one has {}; pass --force to start again",
                self.out.display(),
                c.learnt.first.len(),
                self.learnt.first.len()
            );
        }
        self.order.skip(c.step);
        self.rows = c.rows;
        self.learnt = c.learnt;
        match (&mut self.coherence, c.coherence) {
            (None, None) => {}
            (Some(coh), Some(state)) => {
                coh.restore(state.cum, state.rows)?;
                write_atomic(&self.out.join("coherence.csv"), coh.csv().as_bytes())?;
            }
            _ => bail!(
                "{}: the checkpoint's coherence state does not match --coherence; pass --force to start again",
                self.out.display()
            ),
        }
        match (&mut self.similarity, c.similarity) {
            (None, None) => {}
            (Some(s), Some(state)) => {
                s.restore(state.rows, state.class_rows)?;
                self.write_similarity()?;
            }
            _ => bail!(
                "{}: the checkpoint's similarity state does not match --similarity; pass --force to start again",
                self.out.display()
            ),
        }
        self.write_metrics()
    }

    /// Rewrites similarity.csv and similarity_classes.csv with every row so far.
    pub(super) fn write_similarity(&self) -> Result<()> {
        if let Some(s) = &self.similarity {
            write_atomic(&self.out.join("similarity.csv"), s.csv().as_bytes())?;
            write_atomic(
                &self.out.join("similarity_classes.csv"),
                s.classes_csv().as_bytes(),
            )?;
        }
        Ok(())
    }

    /// Rewrites metrics.csv with every row so far.
    fn write_metrics(&self) -> Result<()> {
        write_atomic(
            &self.out.join("metrics.csv"),
            metrics::metrics_csv(&self.rows).as_bytes(),
        )
    }

    /// This run's checkpoint at `step`, with the trainer's `params` and `history`.
    pub(super) fn checkpoint(
        &self,
        step: u64,
        params: Params,
        history: Option<Vec<f32>>,
        spent: Spent,
    ) -> Checkpoint {
        Checkpoint {
            step,
            params,
            history,
            rows: self.rows.clone(),
            learnt: self.learnt.clone(),
            coherence: self.coherence.as_ref().map(|c| {
                let (cum, rows) = c.state();
                CoherenceState {
                    cum: cum.to_vec(),
                    rows: rows.to_vec(),
                }
            }),
            similarity: self.similarity.as_ref().map(|s| {
                let (rows, class_rows) = s.state();
                SimilarityState {
                    rows: rows.to_vec(),
                    class_rows: class_rows.to_vec(),
                }
            }),
            spent,
        }
    }

    /// Takes in the loss and correct count of the run's minibatch at `step`; a loss that is
    /// not finite fails the run.
    pub(super) fn record_batch(&mut self, step: u64, (loss, correct): (f32, u32)) {
        if self.failed.is_some() {
            return;
        }
        if !loss.is_finite() {
            self.failed = Some(anyhow::anyhow!(
                "training diverged at step {step}: the minibatch loss is {loss}; lower --lr (now {}) or check the data",
                self.cfg.lr
            ));
            return;
        }
        self.last_batch = Some((loss, correct));
    }

    /// Takes in the evaluation at logged step `step`: prints its line and rewrites
    /// metrics.csv. A training-set loss that is not finite fails the run instead.
    pub(super) fn log(&mut self, step: u64, ev: &Evaluation, progress: &Progress) -> Result<()> {
        if self.failed.is_some() {
            return Ok(());
        }
        let c = self.cfg;
        let corrupt = self.noise.corrupt(c.corrupt);
        let row = row(step, ev, self.last_batch, c.batch, corrupt, c.noise);
        if !row.train_loss.is_finite() {
            self.failed = Some(anyhow::anyhow!(
                "training diverged at step {step}: after that update the training-set loss is {}; lower --lr (now {})",
                row.train_loss,
                c.lr
            ));
            return Ok(());
        }
        self.learnt.update(step, &ev.train_correct);
        progress.say(format!(
            "{}step {step:>7}  train acc {:.4} loss {:.4}  test acc {:.4} loss {:.4}",
            progress.who(&self.out),
            row.train_acc,
            row.train_loss,
            row.test_acc,
            row.test_loss
        ));
        self.rows.push(row);
        // rewritten at every logged step so an interrupted run keeps what it measured
        self.write_metrics()
    }

    /// Writes weights.safetensors, examples.csv and, last, summary.json (the marker of a
    /// finished run). `steps` and `concurrent` are the batch's, the same for every run.
    pub(super) fn finish(
        self,
        s: &Setup,
        params: &Params,
        times: &Times,
        steps: u64,
        concurrent: usize,
    ) -> Result<Summary> {
        let out = &self.out;
        write_atomic(&out.join("weights.safetensors"), &params.to_safetensors()?)?;
        write_atomic(
            &out.join("examples.csv"),
            self.learnt
                .csv(
                    &s.data.train.labels,
                    &self.noise.labels,
                    self.noise.corrupt(self.cfg.corrupt),
                    &self.noise.selected,
                )
                .as_bytes(),
        )?;
        let summary = Summary {
            final_metrics: self.rows.last().expect("grid has step 0").clone(),
            steps,
            wall_s: times.wall_s(),
            train_s: times.train_s,
            eval_s: times.eval_s,
            coherence_s: times.coherence_s,
            steps_per_s: if times.train_s > 0.0 {
                steps as f64 / times.train_s
            } else {
                0.0
            },
            concurrent,
            adapter: s.gpu.adapter_name(),
            kernels: s.kernels.plan,
            winsor_version: env!("CARGO_PKG_VERSION").into(),
        };
        write_atomic(
            &out.join(DONE_MARKER),
            serde_json::to_string_pretty(&summary)?.as_bytes(),
        )?;
        // the run is whole: nothing is left to resume
        match std::fs::remove_file(out.join(CHECKPOINT)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e)
                    .with_context(|| format!("removing {}", out.join(CHECKPOINT).display()))
            }
            _ => {}
        }
        Ok(summary)
    }
}

/// Metrics of one logged step from the per-example evaluation.
fn row(
    step: u64,
    ev: &Evaluation,
    batch: Option<(f32, u32)>,
    batch_size: usize,
    corrupt: &[bool],
    noise: f64,
) -> Row {
    let acc = |c: &[u32]| c.iter().map(|&x| x as f64).sum::<f64>() / c.len().max(1) as f64;
    let train_acc = acc(&ev.train_correct);
    let test_acc = acc(&ev.test_correct);
    let n = noise / 100.0;
    Row {
        step,
        train_acc,
        train_loss: metrics::mean_f32(&ev.train_loss),
        test_acc,
        test_loss: metrics::mean_f32(&ev.test_loss),
        batch_acc: batch.map(|(_, c)| c as f64 / batch_size as f64),
        batch_loss: batch.map(|(l, _)| l as f64),
        pristine_acc: metrics::masked_acc(&ev.train_correct, corrupt, false),
        corrupt_acc: metrics::masked_acc(&ev.train_correct, corrupt, true),
        overfit: train_acc - (n / CLASSES as f64 + (1.0 - n) * test_acc),
    }
}
