//! `winsor sweep`: the runs of a plan (or a preset), each in its own run directory under the
//! sweep's folder. A finished run (its summary.json, written last and atomically) is skipped,
//! so a sweep that was killed resumes where it stopped; an unfinished one goes on from its
//! checkpoint (or from the start if it has none). `--shard i/n` (or a Slurm job array) runs a fixed share of the cells, so many
//! machines can fill one folder. A run that fails is reported and the others go on.

mod batches;
pub mod command;
pub mod plan;
mod runner;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub use plan::{Cell, Plan, Shard};
use runner::Runner;

use crate::data::DataSet;
use crate::gpu::trainer::max_runs;
use crate::gpu::{Gpu, Kernels};
use crate::output::write_atomic;
use crate::train::args::parse_cell;
use crate::train::{is_finished, CheckpointEvery, TrainConfig};

/// A cell made ready to run: its settings as a training configuration and its data folder
/// (None: the built-in MNIST).
pub struct Prepared {
    pub cell: Cell,
    pub config: TrainConfig,
    pub data: Option<PathBuf>,
}

impl Prepared {
    /// Every cell of `plan`, each parsed exactly as `winsor train` parses its command line
    /// ([`crate::train::args::parse_cell`]) and checked, so that a typo in any cell fails
    /// before the first run starts.
    pub fn all(plan: &Plan) -> Result<Vec<Prepared>> {
        plan.cells()
            .into_iter()
            .map(|cell| {
                let args = parse_cell(cell.args())
                    .with_context(|| format!("sweep {} run {}", plan.name, cell.name))?;
                let config = args
                    .config()
                    .with_context(|| format!("sweep {} run {}", plan.name, cell.name))?;
                Ok(Prepared {
                    cell,
                    config,
                    data: args.data,
                })
            })
            .collect()
    }
}

/// What a sweep did, for the caller's last line and exit status.
pub struct Outcome {
    pub cells: usize,
    pub mine: usize,
    pub skipped: usize,
    pub done: usize,
    pub failed: Vec<(String, String)>,
}

/// Writes the plan into `out` as sweep.toml, or checks that the folder holds this same plan
/// (a resumed sweep must not mix runs of two different plans).
pub fn claim_folder(plan: &Plan, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let path = out.join("sweep.toml");
    let text = plan.to_toml();
    if path.exists() {
        let old = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let old_plan = Plan::parse(&old, &path)?;
        let new_plan = Plan::parse(&text, &path)?;
        if old_plan.cells() != new_plan.cells() {
            bail!(
                "{} holds the runs of a different plan (see {}); give another --out, or remove that folder",
                out.display(),
                path.display()
            );
        }
        return Ok(());
    }
    write_atomic(&path, text.as_bytes())
}

/// Runs trained together when `--concurrent` is not given: as many as fit the device
/// ([`max_runs`]), but at most the plan's `auto_concurrent_max` (8 on the cpu plan, where
/// the cores are busy with one run already and more runs only save per-dispatch costs:
/// BENCHMARKS.md, 5 runs give 1.07-1.16x the run-steps/s of one, 25 no more; 64 on the gpu
/// plan, not measured yet).
pub fn auto_concurrent(
    gpu: &Gpu,
    kernels: &Kernels,
    widths: &[usize],
    batch: usize,
    n_train: usize,
) -> usize {
    max_runs(gpu, widths, batch, n_train).min(kernels.plan.auto_concurrent_max)
}

/// How a sweep runs its cells.
#[derive(Debug, Clone, Copy, Default)]
pub struct SweepOptions {
    /// This job's share of the cells (None: all of them).
    pub shard: Option<Shard>,
    /// Draw the sweep's progress bar.
    pub progress: bool,
    /// Runs trained together in the same dispatches (None: [`auto_concurrent`]).
    pub concurrent: Option<usize>,
    /// When each run writes its checkpoint.
    pub checkpoint: CheckpointEvery,
}

/// Runs this shard's unfinished cells on `gpu`, as `opts` says. `load` reads a data folder
/// (each distinct one once). A signal stops the sweep with [`crate::train::stop::Interrupted`]
/// once the runs it was training are checkpointed.
pub fn run(
    gpu: &Gpu,
    kernels: &Kernels,
    plan: &Plan,
    cells: Vec<Prepared>,
    out: &Path,
    load: &dyn Fn(Option<&Path>) -> Result<DataSet>,
    opts: SweepOptions,
) -> Result<Outcome> {
    let shard = opts.shard;
    claim_folder(plan, out)?;
    let n_cells = cells.len();
    let mine: Vec<Prepared> = cells
        .into_iter()
        .enumerate()
        .filter(|(i, _)| shard.is_none_or(|s| s.owns(*i)))
        .map(|(_, c)| c)
        .collect();
    let n_mine = mine.len();
    let (finished, todo): (Vec<Prepared>, Vec<Prepared>) = mine
        .into_iter()
        .partition(|p| is_finished(&out.join(&p.cell.name)));
    let shard_note = shard.map_or(String::new(), |s| {
        format!(", shard {}/{}: {n_mine} of them", s.index, s.count)
    });
    eprintln!(
        "sweep {}: {n_cells} runs{shard_note}; {} finished already, {} to run -> {}",
        plan.name,
        finished.len(),
        todo.len(),
        out.display()
    );
    let alone = todo
        .iter()
        .filter(|p| p.config.concurrency_key().is_none())
        .count();
    if alone > 0 && opts.concurrent != Some(1) {
        eprintln!(
            "sweep {}: {alone} of the runs measure --coherence or --similarity, so each trains alone: their passes over the training set or the probe are one run's, not shared",
            plan.name
        );
    }

    let mut runner = Runner::new(gpu, kernels, out, load, &todo, opts);
    for group in &batches::groups(&todo, out) {
        runner.run_group(group);
        if runner.interrupted.is_some() {
            break;
        }
    }
    runner.finish();
    if let Some(e) = runner.interrupted {
        return Err(e);
    }
    Ok(Outcome {
        cells: n_cells,
        mine: n_mine,
        skipped: finished.len(),
        done: runner.done,
        failed: runner.failed,
    })
}
