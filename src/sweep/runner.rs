//! Runs a sweep's batches of cells, each batch in one [`train::run_many`] call, with the
//! sweep's progress bar and a line per run that finishes or fails.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};

use super::{auto_concurrent, batches, Prepared, SweepOptions};
use crate::data::DataSet;
use crate::gpu::{Gpu, Kernels};
use crate::train::metrics::Summary;
use crate::train::{self, stop, CheckpointEvery, RunOptions, TrainConfig};

pub(super) struct Runner<'a> {
    gpu: &'a Gpu,
    kernels: &'a Kernels,
    /// The sweep's folder.
    out: &'a Path,
    load: &'a dyn Fn(Option<&Path>) -> Result<DataSet>,
    /// Runs trained together (None: [`auto_concurrent`]).
    concurrent: Option<usize>,
    /// Counts run-steps: each run's steps, one after the other.
    bar: ProgressBar,
    /// Runs to do in this sweep.
    n_todo: usize,
    /// Each data folder's data, loaded once.
    data: HashMap<Option<PathBuf>, DataSet>,
    /// Runs started so far, for the bar's message.
    started: usize,
    /// The bar's position at the next batch: the run-steps of the batches before it.
    offset: u64,
    /// Runs finished.
    pub done: usize,
    /// The name and error of each run that failed.
    pub failed: Vec<(String, String)>,
    checkpoint: CheckpointEvery,
    /// Set when a signal stopped a batch (its runs are checkpointed): no more batches run.
    pub interrupted: Option<anyhow::Error>,
}

impl<'a> Runner<'a> {
    /// A runner for the cells `todo`, with a bar drawn only with `opts.progress`.
    pub(super) fn new(
        gpu: &'a Gpu,
        kernels: &'a Kernels,
        out: &'a Path,
        load: &'a dyn Fn(Option<&Path>) -> Result<DataSet>,
        todo: &[Prepared],
        opts: SweepOptions,
    ) -> Self {
        let SweepOptions {
            progress,
            concurrent,
            checkpoint,
            ..
        } = opts;
        let total: u64 = todo.iter().map(|p| p.config.steps).sum();
        let bar = if progress {
            ProgressBar::new(total)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} run-steps  {per_sec}  eta {eta}  {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Runner {
            gpu,
            kernels,
            out,
            load,
            concurrent,
            bar,
            n_todo: todo.len(),
            data: HashMap::new(),
            started: 0,
            offset: 0,
            done: 0,
            failed: Vec::new(),
            checkpoint,
            interrupted: None,
        }
    }

    /// Prints a line above the bar (on stderr where there is no bar).
    fn say(&self, line: String) {
        if self.bar.is_hidden() {
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Runs a group of cells that can train together (see [`batches::groups`]), in batches
    /// of at most `concurrent` runs.
    pub(super) fn run_group(&mut self, group: &[&Prepared]) {
        let first = group[0];
        let loaded = self.load_data(&first.data);
        let per_batch = self.per_batch(first, &loaded);
        for batch in batches::split(group, per_batch) {
            if self.interrupted.is_some() {
                return;
            }
            self.run_batch(batch, first, &loaded);
        }
    }

    /// Loads a data folder unless it is loaded already (one that failed is tried again by
    /// the next group that needs it).
    fn load_data(&mut self, folder: &Option<PathBuf>) -> Result<()> {
        if !self.data.contains_key(folder) {
            self.data
                .insert(folder.clone(), (self.load)(folder.as_deref())?);
        }
        Ok(())
    }

    /// Runs trained together in `first`'s group: `--concurrent`, else as many as fit the
    /// device; one at a time when the data failed to load.
    fn per_batch(&self, first: &Prepared, loaded: &Result<()>) -> usize {
        match (loaded, self.concurrent) {
            (Err(_), _) => 1,
            (Ok(()), Some(r)) => r.max(1),
            (Ok(()), None) => {
                let d = &self.data[&first.data];
                let widths = first
                    .config
                    .arch
                    .widths(d.input_dim(), crate::data::CLASSES)
                    .unwrap_or_default();
                auto_concurrent(
                    self.gpu,
                    self.kernels,
                    &widths,
                    first.config.batch,
                    d.train.n,
                )
            }
        }
    }

    /// Trains `batch` (cells of `first`'s group) together and reports each run.
    fn run_batch(&mut self, batch: &[&Prepared], first: &Prepared, loaded: &Result<()>) {
        let names: Vec<&str> = batch.iter().map(|p| p.cell.name.as_str()).collect();
        self.bar.set_message(if batch.len() == 1 {
            format!("run {}/{} {}", self.started + 1, self.n_todo, names[0])
        } else {
            format!(
                "runs {}-{}/{} together",
                self.started + 1,
                self.started + batch.len(),
                self.n_todo
            )
        });
        self.started += batch.len();
        let t = Instant::now();
        let results = match loaded {
            Err(e) => Err(anyhow::anyhow!("{e:#}")),
            Ok(()) => self.train(batch, &self.data[&first.data]),
        };
        self.offset += batch.iter().map(|p| p.config.steps).sum::<u64>();
        self.bar.set_position(self.offset);
        // an error that stopped the whole batch is every run's error, but a signal stops
        // the sweep (every run of the batch is checkpointed)
        let results: Vec<Result<Summary>> = match results {
            Ok(r) => r,
            Err(e) if stop::exit_code_of(&e).is_some() => {
                self.interrupted = Some(e);
                return;
            }
            Err(e) => batch
                .iter()
                .map(|_| Err(anyhow::anyhow!("{e:#}")))
                .collect(),
        };
        for (p, result) in batch.iter().zip(results) {
            self.report(p, result, t, batch.len());
        }
    }

    /// One [`train::run_many`] call for `batch`, each run in its folder under the sweep's,
    /// advancing the sweep's bar from the batch's first position.
    fn train(&self, batch: &[&Prepared], data: &DataSet) -> Result<Vec<Result<Summary>>> {
        let cfgs: Vec<TrainConfig> = batch.iter().map(|p| p.config.clone()).collect();
        let outs: Vec<PathBuf> = batch.iter().map(|p| self.out.join(&p.cell.name)).collect();
        train::run_many(
            self.gpu,
            self.kernels,
            data,
            &cfgs,
            &outs,
            &RunOptions {
                out: self.out.to_path_buf(),
                // an unfinished run resumes from its checkpoint, or starts again from step
                // 0 when it has none; one with other settings is refused (an edited plan)
                force: false,
                progress: false,
                parent: Some((self.bar.clone(), self.offset)),
                checkpoint: self.checkpoint,
            },
        )
    }

    /// The line for one run of a batch of `together` that started at `t`, and its count.
    fn report(&mut self, p: &Prepared, result: Result<Summary>, t: Instant, together: usize) {
        match result {
            Ok(s) => {
                self.done += 1;
                let f = &s.final_metrics;
                self.say(format!(
                    "done    {} in {:.1} s{}: train acc {:.4} test acc {:.4} overfit {:.4}",
                    p.cell.name,
                    t.elapsed().as_secs_f64(),
                    if together > 1 {
                        format!(" ({together} together)")
                    } else {
                        String::new()
                    },
                    f.train_acc,
                    f.test_acc,
                    f.overfit
                ));
            }
            Err(e) => {
                self.say(format!("FAILED  {}: {e:#}", p.cell.name));
                self.failed.push((p.cell.name.clone(), format!("{e:#}")));
            }
        }
    }

    /// Clears the bar.
    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
