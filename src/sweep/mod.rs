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

/// Runs this shard's unfinished cells one after the other on `gpu`. `load` reads a data
/// folder (each distinct one once).
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

    let mut data: HashMap<Option<PathBuf>, DataSet> = HashMap::new();
    let mut failed = Vec::new();
    let mut done = 0usize;
    let mut offset = 0u64;
    for (k, p) in todo.iter().enumerate() {
        bar.set_message(format!("run {}/{} {}", k + 1, todo.len(), p.cell.name));
        let t = Instant::now();
        let result = (|| -> Result<train::metrics::Summary> {
            if !data.contains_key(&p.data) {
                data.insert(p.data.clone(), load(p.data.as_deref())?);
            }
            let d = &data[&p.data];
            train::run(
                gpu,
                kernels,
                d,
                &p.config,
                &RunOptions {
                    out: out.join(&p.cell.name),
                    force: true,
                    progress: false,
                    parent: Some((bar.clone(), offset)),
                },
            )
        })();
        offset += p.config.steps;
        bar.set_position(offset);
        match result {
            Ok(s) => {
                done += 1;
                let f = &s.final_metrics;
                say(format!(
                    "done    {} in {:.1} s: train acc {:.4} test acc {:.4} overfit {:.4}",
                    p.cell.name,
                    t.elapsed().as_secs_f64(),
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
    bar.finish_and_clear();
    Ok(Outcome {
        cells: n_cells,
        mine: n_mine,
        skipped: finished.len(),
        done,
        failed,
    })
}
