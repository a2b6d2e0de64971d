//! The training loop of [`super::run_many`]: train every run to the next stop point, measure
//! coherence there, evaluate at logged steps, and at the end write each run's results.

use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::active::{Active, Setup, Times};
use super::checkpoint::{Spent, CHECKPOINT};
use super::config::TrainConfig;
use super::grid::LogGrid;
use super::metrics::Summary;
use super::progress::Progress;
use super::stop::{self, Interrupted};
use super::{CheckpointEvery, CHECKPOINT_INTERVAL};
use crate::gpu::trainer::{RunInit, TrainerSpec};
use crate::gpu::GpuTrainer;
use crate::model::Params;
use crate::output::write_atomic;

/// Whether the loop goes on after a stage, or stops because every one of several runs has
/// failed (each one's error is then returned).
#[derive(PartialEq, Eq)]
pub(super) enum Flow {
    Go,
    AllFailed,
}

/// The trainer for `runs`, every kernel serving all of them at once; the settings they share
/// are `cfg`'s.
pub(super) fn build_trainer<'g>(
    s: &Setup<'g>,
    cfg: &TrainConfig,
    runs: &[Active],
) -> Result<GpuTrainer<'g>> {
    let inits: Vec<Params> = runs
        .iter()
        .map(|r| Params::init(s.widths, r.cfg.init, r.cfg.seed))
        .collect();
    let run_inits: Vec<RunInit> = runs
        .iter()
        .zip(&inits)
        .map(|(r, init)| RunInit {
            labels: &r.noise.labels,
            init,
            rule: r.cfg.rule,
        })
        .collect();
    GpuTrainer::new_runs(
        s.gpu,
        s.kernels,
        s.data,
        &run_inits,
        TrainerSpec {
            batch: cfg.batch,
            select: cfg.select,
            lr: cfg.lr as f32,
            eval_chunk: cfg.eval_chunk,
            steps_per_submit: super::STEPS_PER_SUBMIT,
            coherence: cfg.coherence.is_some(),
        },
    )
}

pub(super) struct Training<'a, 'g> {
    setup: &'a Setup<'a>,
    /// The first run's settings: those all runs share.
    cfg: &'a TrainConfig,
    trainer: &'a GpuTrainer<'g>,
    pub runs: Vec<Active<'a>>,
    progress: Progress<'a>,
    /// The logged steps.
    grid: LogGrid,
    /// Steps every run has trained.
    step: u64,
    times: Times,
    checkpoint_every: CheckpointEvery,
    last_checkpoint: Instant,
    /// Steps per [`GpuTrainer::train_with`] call: about [`SPAN_SECONDS`] of training, so
    /// that a signal or the checkpoint clock is seen soon.
    span: u64,
}

/// About how long one call of the trainer runs.
const SPAN_SECONDS: f64 = 2.0;

impl<'a, 'g> Training<'a, 'g> {
    /// Training from `start` (0, or a checkpoint's step, with the seconds spent before).
    pub(super) fn new(
        setup: &'a Setup<'a>,
        trainer: &'a GpuTrainer<'g>,
        runs: Vec<Active<'a>>,
        progress: Progress<'a>,
        t0: Instant,
        (start, spent): (u64, Spent),
        checkpoint_every: CheckpointEvery,
    ) -> Self {
        let cfg = runs[0].cfg;
        trainer.set_steps_done(start);
        progress.at_step(start);
        Training {
            setup,
            cfg,
            trainer,
            runs,
            progress,
            grid: cfg.log_grid,
            step: start,
            times: Times {
                t0,
                wall_before_s: spent.wall_s,
                train_s: spent.train_s,
                eval_s: spent.eval_s,
                coherence_s: spent.coherence_s,
            },
            checkpoint_every,
            last_checkpoint: Instant::now(),
            span: trainer.slots as u64,
        }
    }

    /// Whether a checkpoint is written after the stop at `step` (see [`CheckpointEvery`]);
    /// never at step 0, where there is nothing to save, nor at the last step, where the
    /// run's results are written instead.
    pub(super) fn checkpoint_due(&self, step: u64) -> bool {
        step > 0
            && step < self.cfg.steps
            && match self.checkpoint_every {
                CheckpointEvery::Logged => step >= 100 && self.is_logged(step),
                CheckpointEvery::Steps(n) => n > 0 && step.is_multiple_of(n),
            }
    }

    /// Writes every live run's checkpoint at the current step (a run that failed keeps its
    /// last one).
    pub(super) fn checkpoint(&mut self) -> Result<()> {
        let spent = self.times.spent();
        for (i, r) in self.runs.iter().enumerate() {
            if r.failed.is_some() {
                continue;
            }
            let params = self.trainer.params_of(i)?;
            let history = self.trainer.history_of(i)?;
            r.checkpoint(self.step, params, history, spent)
                .save(&r.out)?;
        }
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Checkpoints and stops (with [`Interrupted`]) if a signal has come; checkpoints if the
    /// last one is [`CHECKPOINT_INTERVAL`] old. Called only where every stop point up to
    /// the current step has been measured, so that a resumed run measures nothing twice.
    pub(super) fn checkpoint_or_stop(&mut self) -> Result<()> {
        if let Some(signal) = stop::requested() {
            self.checkpoint()?;
            self.progress.finish();
            let dirs: Vec<String> = self
                .runs
                .iter()
                .filter(|r| r.failed.is_none())
                .map(|r| r.out.join(CHECKPOINT).display().to_string())
                .collect();
            return Err(Interrupted {
                signal,
                step: self.step,
                saved: format!(
                    "saved {}; give the same command again to resume from step {}",
                    dirs.join(", "),
                    self.step
                ),
            }
            .into());
        }
        if self.last_checkpoint.elapsed() >= CHECKPOINT_INTERVAL {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Where training stops next after `after` (None: the start): the next logged step, or
    /// sooner the next step up to --coherence-first.
    pub(super) fn next_stop(&self, after: Option<u64>) -> Option<u64> {
        let total = self.cfg.steps;
        let logged = self.grid.next(after, total);
        let measured = self.runs[0].coherence.as_ref().and_then(|c| {
            let s = after.map_or(0, |a| a + 1);
            (s <= c.config().first.min(total)).then_some(s)
        });
        let every = match self.checkpoint_every {
            CheckpointEvery::Steps(n) if n > 0 => {
                let next = after.map_or(0, |a| (a / n + 1).saturating_mul(n));
                (next <= total).then_some(next)
            }
            _ => None,
        };
        logged.into_iter().chain(measured).chain(every).min()
    }

    pub(super) fn is_logged(&self, step: u64) -> bool {
        self.grid.contains(step, self.cfg.steps)
    }

    /// Trains every run up to step `target`, in spans of about [`SPAN_SECONDS`], looking
    /// for a signal and the checkpoint clock before each.
    pub(super) fn train_to(&mut self, target: u64) -> Result<Flow> {
        let concurrent = self.runs.len();
        while self.step < target {
            self.checkpoint_or_stop()?;
            // the index lists of one call are capped at about 16 MB
            let per_step = self.cfg.batch * concurrent;
            let cap = (4_000_000 / per_step).max(1) as u64;
            let span = (target - self.step).min(cap).min(self.span);
            let batches: Vec<Vec<u32>> = (0..span)
                .map(|_| {
                    self.runs
                        .iter_mut()
                        .flat_map(|r| r.order.next_batch().to_vec())
                        .collect()
                })
                .collect();
            let t = Instant::now();
            let trainer = self.trainer;
            let trained = trainer.train_with(&batches, |done, stats| self.on_stats(done, stats));
            if concurrent > 1 && self.all_failed() {
                return Ok(Flow::AllFailed);
            }
            trained?;
            let secs = t.elapsed().as_secs_f64();
            self.times.train_s += secs;
            self.step += span;
            let rate = span as f64 / secs.max(1e-6);
            self.span = ((rate * SPAN_SECONDS) as u64).clamp(trainer.slots as u64, cap);
        }
        Ok(Flow::Go)
    }

    /// Takes in the minibatch statistics of the steps after `self.step` that the trainer has
    /// `done` (in the order of the steps, each step's runs in order) and moves the bars. An
    /// error stops training.
    fn on_stats(&mut self, done: usize, stats: &[(f32, u32)]) -> Result<()> {
        let concurrent = self.runs.len();
        let n_steps = stats.len() / concurrent;
        let first = self.step + 1 + (done - n_steps) as u64;
        for (i, per_run) in stats.chunks(concurrent).enumerate() {
            for (r, &batch) in self.runs.iter_mut().zip(per_run) {
                r.record_batch(first + i as u64, batch);
            }
        }
        if let Some(e) = self.stopping_error() {
            // stops training; with several runs, each one's error is returned by `run_many`
            bail!("{e:#}");
        }
        self.progress.at_step(self.step + done as u64);
        if let Some((l, c)) = self.runs[0].last_batch {
            self.progress.message(format!(
                "batch loss {l:.4} acc {:.3}",
                c as f64 / self.cfg.batch as f64
            ));
        }
        Ok(())
    }

    fn all_failed(&self) -> bool {
        self.runs.iter().all(|r| r.failed.is_some())
    }

    /// The error that stops training: the run's own when there is one run; with several,
    /// only once every one has failed (a diverged run fails alone).
    fn stopping_error(&self) -> Option<&anyhow::Error> {
        let r = self.runs.iter().find(|r| r.failed.is_some())?;
        if self.runs.len() == 1 || self.all_failed() {
            r.failed.as_ref()
        } else {
            None
        }
    }

    /// Measures the first run's coherence at the current step, if it measures coherence
    /// (runs that do train alone), and rewrites coherence.csv. Returns whether it measured.
    pub(super) fn measure_coherence(&mut self) -> Result<bool> {
        let (step, trainer, data) = (self.step, self.trainer, self.setup.data);
        let r0 = &mut self.runs[0];
        let Some(c) = &mut r0.coherence else {
            return Ok(false);
        };
        let t = Instant::now();
        self.progress
            .message(format!("measuring coherence at step {step}"));
        let per = trainer.coherence()?;
        let params = trainer.params()?;
        let row = c.measure(step, &per, &params, &data.train.pixels, &r0.noise.labels);
        let line = format!(
            "step {step:>7}  coherence: f_p {:.4} f_c {:.4} ({:.1} s)",
            row[1],
            row[2],
            t.elapsed().as_secs_f64()
        );
        // rewritten at every measurement, like metrics.csv
        write_atomic(&r0.out.join("coherence.csv"), c.csv().as_bytes())?;
        self.times.coherence_s += t.elapsed().as_secs_f64();
        self.progress.say(line);
        Ok(true)
    }

    /// Measures the first run's similarity matrix at the current step, if it measures one
    /// (runs that do train alone), and rewrites similarity.csv and similarity_classes.csv.
    pub(super) fn measure_similarity(&mut self) -> Result<()> {
        let (step, trainer) = (self.step, self.trainer);
        let r0 = &mut self.runs[0];
        let Some(s) = &mut r0.similarity else {
            return Ok(());
        };
        let t = Instant::now();
        self.progress
            .message(format!("measuring similarity at step {step}"));
        let k = trainer.similarity()?;
        let gpu_s = t.elapsed().as_secs_f64();
        let row = s.measure(step, &k);
        let col = |name: &str| {
            crate::analysis::similarity::COLUMNS
                .iter()
                .position(|c| *c == name)
                .map_or(f64::NAN, |i| row[i])
        };
        // in ms: a GPU measures in well under one (docs/gpu-model.md), lavapipe in hundreds
        let line = format!(
            "step {step:>7}  similarity: cos pristine {:.4} corrupt {:.4} between {:.4} ({:.1} ms: GPU pass and readback {:.1} ms)",
            col("cos_pp"),
            col("cos_cc"),
            col("cos_pc"),
            t.elapsed().as_secs_f64() * 1e3,
            gpu_s * 1e3
        );
        r0.write_similarity()?;
        if let (Some(s), true) = (
            &r0.similarity,
            r0.cfg.similarity.as_ref().is_some_and(|c| c.save),
        ) {
            let m = &crate::analysis::similarity_matrix::to_safetensors(&s.probe, step, &k)?;
            let path = r0
                .out
                .join(crate::analysis::similarity_matrix::file_name(step));
            let dir = path.parent().expect("a file in a folder");
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            write_atomic(&path, m)?;
        }
        self.progress.say(line);
        Ok(())
    }

    /// Evaluates every run at the current (logged) step and rewrites their metrics.csv.
    pub(super) fn evaluate(&mut self) -> Result<Flow> {
        let t = Instant::now();
        let evals = self.trainer.evaluate_runs()?;
        self.times.eval_s += t.elapsed().as_secs_f64();
        for (r, ev) in self.runs.iter_mut().zip(&evals) {
            r.log(self.step, ev, &self.progress)?;
        }
        if self.runs.len() > 1 && self.all_failed() {
            return Ok(Flow::AllFailed);
        }
        if let Some(e) = self.stopping_error() {
            bail!("{e:#}");
        }
        Ok(Flow::Go)
    }

    /// Clears the bar and writes each run's weights, examples.csv and summary.json; a run
    /// that failed gives its error.
    pub(super) fn finish(self) -> Result<Vec<Result<Summary>>> {
        self.progress.finish();
        let concurrent = self.runs.len();
        let mut results = Vec::new();
        for (i, r) in self.runs.into_iter().enumerate() {
            if let Some(e) = r.failed {
                results.push(Err(e));
                continue;
            }
            let params = self.trainer.params_of(i)?;
            let summary = r.finish(self.setup, &params, &self.times, self.cfg.steps, concurrent)?;
            results.push(Ok(summary));
        }
        Ok(results)
    }
}
