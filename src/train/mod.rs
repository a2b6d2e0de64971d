//! One training run: label noise, the GPU trainer, evaluation on the log grid, and the run
//! directory (config.toml, metrics.csv, examples.csv, weights.safetensors, summary.json).

mod active;
pub mod config;
pub mod grid;
pub mod metrics;
mod progress;
mod training;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;

use active::{Active, Setup};
pub use config::TrainConfig;
pub use grid::LogGrid;
use metrics::Summary;
use progress::Progress;
use training::{Flow, Training};

use crate::data::{DataSet, CLASSES};
use crate::gpu::{Gpu, Kernels};

/// Steps recorded into one submission: bounds how stale the progress bar gets and how far
/// training runs past a divergence before it is noticed.
pub const STEPS_PER_SUBMIT: usize = 64;

/// The file whose presence marks a finished run.
pub const DONE_MARKER: &str = "summary.json";

pub struct RunOptions {
    pub out: PathBuf,
    pub force: bool,
    /// Draw this run's progress bar (or, in a batch job, print a line per logged step).
    pub progress: bool,
    /// A sweep's bar and this run's first position on it: advanced with the training steps,
    /// and the per-step lines are left out.
    pub parent: Option<(ProgressBar, u64)>,
}

/// Every file a run writes: `--force` removes them all, so that nothing of the previous run
/// (a coherence.csv of a run with `--coherence`, say) is left beside the new one.
pub const RUN_FILES: [&str; 6] = [
    "config.toml",
    "metrics.csv",
    "examples.csv",
    "coherence.csv",
    "weights.safetensors",
    DONE_MARKER,
];

/// Whether `dir` holds a finished run: its summary.json exists and is whole (a summary cut
/// off by a crash or a full disk does not count).
pub fn is_finished(dir: &Path) -> bool {
    std::fs::read(dir.join(DONE_MARKER))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.get("final_metrics").is_some())
}

/// Refuses to overwrite a finished run unless `force`; creates the folder.
pub fn prepare_out_dir(out: &Path, force: bool) -> Result<()> {
    if out.is_file() {
        bail!(
            "--out {}: is a file, not a folder; choose a folder for the run",
            out.display()
        );
    }
    if is_finished(out) && !force {
        bail!(
            "{}: holds a finished run ({} exists); pass --force to overwrite it or choose another --out",
            out.display(),
            DONE_MARKER
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    if force {
        // nothing of the previous run may be taken for part of the new one
        for f in RUN_FILES {
            match std::fs::remove_file(out.join(f)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("removing {}", out.join(f).display()))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Trains, evaluates on the log grid and writes the run directory. Returns the summary.
pub fn run(
    gpu: &Gpu,
    kernels: &Kernels,
    data: &DataSet,
    cfg: &TrainConfig,
    opts: &RunOptions,
) -> Result<Summary> {
    let mut out = run_many(
        gpu,
        kernels,
        data,
        std::slice::from_ref(cfg),
        std::slice::from_ref(&opts.out),
        opts,
    )?;
    out.remove(0)
}

/// Each run's own error, when every one of several runs has failed.
fn every_error(runs: Vec<Active>) -> Vec<Result<Summary>> {
    runs.into_iter()
        .map(|r| Err(r.failed.expect("every run failed")))
        .collect()
}

/// Checks the runs' settings (without the data); runs trained together must be able to.
fn check_together(cfgs: &[TrainConfig]) -> Result<()> {
    if cfgs.len() > 1 {
        let key = cfgs[0].concurrency_key();
        if key.is_none() || cfgs.iter().any(|c| c.concurrency_key() != key) {
            bail!("runs trained together must share every setting but --noise, --rule and --seed, and must not measure coherence");
        }
    }
    for c in cfgs {
        c.validate()?;
    }
    Ok(())
}

/// Trains `cfgs` together, every kernel serving all of them at once (they must share
/// [`TrainConfig::concurrency_key`]), each written to its folder in `outs` exactly as if
/// it had run alone (the numbers are bit-identical). `opts.out` is not used. Returns each
/// run's summary or error; the outer error is one that stopped them all.
pub fn run_many(
    gpu: &Gpu,
    kernels: &Kernels,
    data: &DataSet,
    cfgs: &[TrainConfig],
    outs: &[PathBuf],
    opts: &RunOptions,
) -> Result<Vec<Result<Summary>>> {
    let t0 = Instant::now();
    let Some(cfg) = cfgs.first() else {
        return Ok(Vec::new());
    };
    assert_eq!(cfgs.len(), outs.len(), "a folder per run");
    check_together(cfgs)?;
    let data = &*data.subsets(cfg.train_subset, cfg.test_subset)?;
    for c in cfgs {
        c.validate_for(data.train.n)?;
    }
    let widths = cfg.arch.widths(data.input_dim(), CLASSES)?;
    crate::gpu::trainer::check_widths(gpu, &widths, cfgs.len())?;
    let setup = Setup {
        gpu,
        kernels,
        data,
        widths: &widths,
    };

    // each run's folder and config.toml, one run after the other
    let mut runs = Vec::new();
    for (c, out) in cfgs.iter().zip(outs) {
        runs.push(Active::start(&setup, c, out, opts.force)?);
    }
    let trainer = training::build_trainer(&setup, cfg, &runs)?;
    let progress = Progress::new(opts, cfg.steps, cfgs.len());
    let mut t = Training::new(&setup, &trainer, runs, progress, t0);

    let mut at = None;
    while let Some(target) = t.next_stop(at) {
        if t.train_to(target)? == Flow::AllFailed {
            return Ok(every_error(t.runs));
        }
        t.measure_coherence()?;
        if t.is_logged(target) && t.evaluate()? == Flow::AllFailed {
            return Ok(every_error(t.runs));
        }
        at = Some(target);
    }
    t.finish()
}
