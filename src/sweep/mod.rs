//! `winsor sweep`: the runs of a plan (or a preset), each in its own run directory under the
//! sweep's folder. A finished run (its summary.json, written last and atomically) is skipped,
//! so a sweep that was killed resumes where it stopped; an unfinished one is redone from the
//! start. `--shard i/n` (or a Slurm job array) runs a fixed share of the cells, so many
//! machines can fill one folder. A run that fails is reported and the others go on.

pub mod plan;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

pub use plan::{Cell, Plan, Shard};

use crate::data::DataSet;
use crate::gpu::trainer::max_runs;
use crate::gpu::{Gpu, Kernels};
use crate::output::write_atomic;
use crate::train::{self, RunOptions, TrainConfig, DONE_MARKER};

/// A cell made ready to run: its settings as a training configuration and its data folder
/// (None: the built-in MNIST).
pub struct Prepared {
    pub cell: Cell,
    pub config: TrainConfig,
    pub data: Option<PathBuf>,
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
/// ([`max_runs`]), but at most 8 on a CPU adapter, where the cores are busy with one run
/// already and more runs only save per-dispatch costs (BENCHMARKS.md: 5 runs give 1.07-1.16x
/// the run-steps/s of one, 25 no more), and at most 64 on a GPU (not measured yet).
pub fn auto_concurrent(gpu: &Gpu, widths: &[usize], batch: usize, n_train: usize) -> usize {
    let cap = if gpu.info.device_type == wgpu::DeviceType::Cpu {
        8
    } else {
        64
    };
    max_runs(gpu, widths, batch, n_train).min(cap)
}

/// Runs this shard's unfinished cells on `gpu`, `concurrent` at a time in the same
/// dispatches (None: [`auto_concurrent`]). `load` reads a data folder (each distinct one
/// once).
#[allow(clippy::too_many_arguments)]
pub fn run(
    gpu: &Gpu,
    kernels: &Kernels,
    plan: &Plan,
    cells: Vec<Prepared>,
    out: &Path,
    shard: Option<Shard>,
    load: &dyn Fn(Option<&Path>) -> Result<DataSet>,
    progress: bool,
    concurrent: Option<usize>,
) -> Result<Outcome> {
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
        .partition(|p| out.join(&p.cell.name).join(DONE_MARKER).exists());
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
    let say = |line: String| {
        if bar.is_hidden() {
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };

    // Cells that share every setting but noise, rule and seed train together, `concurrent`
    // at a time; within such a group, cells with the same rule sit side by side, since
    // they share the aggregation dispatches.
    let mut groups: Vec<Vec<&Prepared>> = Vec::new();
    for p in &todo {
        let key = (p.data.clone(), p.config.concurrency_key());
        match groups
            .iter_mut()
            .find(|g| key.1.is_some() && (g[0].data.clone(), g[0].config.concurrency_key()) == key)
        {
            Some(g) => g.push(p),
            None => groups.push(vec![p]),
        }
    }
    for g in &mut groups {
        g.sort_by_key(|p| p.config.rule.to_string());
    }

    let mut data: HashMap<Option<PathBuf>, DataSet> = HashMap::new();
    let mut failed = Vec::new();
    let mut done = 0usize;
    let mut offset = 0u64;
    let mut started = 0usize;
    for group in &groups {
        let first = group[0];
        let loaded = (|| -> Result<()> {
            if !data.contains_key(&first.data) {
                data.insert(first.data.clone(), load(first.data.as_deref())?);
            }
            Ok(())
        })();
        let per_batch = match (&loaded, concurrent) {
            (Err(_), _) => 1,
            (Ok(()), Some(r)) => r.max(1),
            (Ok(()), None) => {
                let d = &data[&first.data];
                let widths = first
                    .config
                    .arch
                    .widths(d.input_dim(), crate::data::CLASSES)
                    .unwrap_or_default();
                auto_concurrent(gpu, &widths, first.config.batch, d.train.n)
            }
        };
        // as few batches as `per_batch` allows, of near-equal sizes (25 cells at most 8 at a
        // time: 7, 6, 6, 6 rather than 8, 8, 8, 1)
        let n_batches = group.len().div_ceil(per_batch);
        let (base, extra) = (group.len() / n_batches, group.len() % n_batches);
        let mut rest = &group[..];
        for k in 0..n_batches {
            let (batch, tail) = rest.split_at(base + usize::from(k < extra));
            rest = tail;
            let names: Vec<&str> = batch.iter().map(|p| p.cell.name.as_str()).collect();
            bar.set_message(if batch.len() == 1 {
                format!("run {}/{} {}", started + 1, todo.len(), names[0])
            } else {
                format!(
                    "runs {}-{}/{} together",
                    started + 1,
                    started + batch.len(),
                    todo.len()
                )
            });
            started += batch.len();
            let t = Instant::now();
            let results = match &loaded {
                Err(e) => Err(anyhow::anyhow!("{e:#}")),
                Ok(()) => {
                    let cfgs: Vec<TrainConfig> = batch.iter().map(|p| p.config.clone()).collect();
                    let outs: Vec<PathBuf> = batch.iter().map(|p| out.join(&p.cell.name)).collect();
                    train::run_many(
                        gpu,
                        kernels,
                        &data[&first.data],
                        &cfgs,
                        &outs,
                        &RunOptions {
                            out: out.to_path_buf(),
                            force: true,
                            progress: false,
                            parent: Some((bar.clone(), offset)),
                        },
                    )
                }
            };
            offset += batch.iter().map(|p| p.config.steps).sum::<u64>();
            bar.set_position(offset);
            // an error that stopped the whole batch is every run's error
            let results: Vec<Result<train::metrics::Summary>> = match results {
                Ok(r) => r,
                Err(e) => batch
                    .iter()
                    .map(|_| Err(anyhow::anyhow!("{e:#}")))
                    .collect(),
            };
            for (p, result) in batch.iter().zip(results) {
                match result {
                    Ok(s) => {
                        done += 1;
                        let f = &s.final_metrics;
                        say(format!(
                            "done    {} in {:.1} s{}: train acc {:.4} test acc {:.4} overfit {:.4}",
                            p.cell.name,
                            t.elapsed().as_secs_f64(),
                            if batch.len() > 1 {
                                format!(" ({} together)", batch.len())
                            } else {
                                String::new()
                            },
                            f.train_acc,
                            f.test_acc,
                            f.overfit
                        ));
                    }
                    Err(e) => {
                        say(format!("FAILED  {}: {e:#}", p.cell.name));
                        failed.push((p.cell.name.clone(), format!("{e:#}")));
                    }
                }
            }
        }
    }
    bar.finish_and_clear();
    Ok(Outcome {
        cells: n_cells,
        mine: n_mine,
        skipped: finished.len(),
        done,
        failed,
    })
}
