//! One training run: label noise, the GPU trainer, evaluation on the log grid, and the run
//! directory (config.toml, metrics.csv, examples.csv, weights.safetensors, summary.json).

mod active;
pub mod args;
pub mod checkpoint;
pub mod command;
pub mod config;
pub mod grid;
pub mod metrics;
mod progress;
pub mod stop;
mod training;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::ProgressBar;

use active::{Active, Setup};
use checkpoint::Spent;
pub use checkpoint::{Checkpoint, CHECKPOINT};
use config::RunRecord;
pub use config::{SavedConfig, TrainConfig};
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
    pub checkpoint: CheckpointEvery,
}

/// Every file a run writes: `--force` removes them all, so that nothing of the previous run
/// (a coherence.csv of a run with `--coherence`, say) is left beside the new one.
pub const RUN_FILES: [&str; 10] = [
    "config.toml",
    "metrics.csv",
    "examples.csv",
    "coherence.csv",
    "similarity.csv",
    "similarity_classes.csv",
    "similarity_probe.csv",
    "weights.safetensors",
    CHECKPOINT,
    DONE_MARKER,
];

/// When a run writes its checkpoint, besides on SIGINT or SIGTERM and at least every
/// [`CHECKPOINT_INTERVAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckpointEvery {
    /// At each logged step past the first 100 steps (the default).
    #[default]
    Logged,
    /// At every multiple of this many steps (0: only on the clock and on signals).
    Steps(u64),
}

/// The longest a run trains without writing a checkpoint.
pub const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Whether `dir` holds a finished run: its summary.json exists and is whole (a summary cut
/// off by a crash or a full disk does not count).
pub fn is_finished(dir: &Path) -> bool {
    std::fs::read(dir.join(DONE_MARKER))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .is_some_and(|v| v.get("final_metrics").is_some())
}

/// Removes the files of a previous run from `dir`.
fn clear_run_files(dir: &Path) -> Result<()> {
    for f in RUN_FILES {
        match std::fs::remove_file(dir.join(f)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", dir.join(f).display()))
            }
            _ => {}
        }
    }
    // --similarity-save's matrices: only the files it names, then the folder if empty
    let saved = crate::analysis::similarity_matrix::list(dir)?;
    for (_, path) in &saved {
        std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    }
    if !saved.is_empty() {
        let _ = std::fs::remove_dir(dir.join("similarity"));
    }
    Ok(())
}

/// Makes `out` ready for the run `saved` describes, and returns the checkpoint to resume
/// from, if any:
/// - a finished run there is refused unless `force`;
/// - an unfinished run with other settings is refused unless `force`, naming each one;
/// - an unfinished run with the same settings resumes from its checkpoint, or starts again
///   from step 0 if it has none;
/// - `force` removes every file of the previous run first.
pub fn prepare_out_dir(out: &Path, saved: &SavedConfig, force: bool) -> Result<Option<Checkpoint>> {
    if out.is_file() {
        bail!(
            "--out {}: is a file, not a folder; choose a folder for the run",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    if force {
        clear_run_files(out)?;
        return Ok(None);
    }
    if is_finished(out) {
        bail!(
            "{}: holds a finished run ({} exists); pass --force to overwrite it or choose another --out",
            out.display(),
            DONE_MARKER
        );
    }
    let config = out.join("config.toml");
    if config.exists() {
        let fix = "pass --force to discard it and start this run, or choose another --out";
        match SavedConfig::read(&config) {
            Err(e) => bail!("{e:#}; {}: holds an unfinished run whose settings cannot be read; {fix}", out.display()),
            Ok(None) => bail!(
                "{}: holds an unfinished run of an older winsor (its config.toml has no [train] table), which cannot be resumed; {fix}",
                out.display()
            ),
            Ok(Some(there)) => {
                let diff = there.differences(saved);
                if !diff.is_empty() {
                    bail!(
                        "{}: holds an unfinished run with other settings:\n  {}\n{fix}",
                        out.display(),
                        diff.join("\n  ")
                    );
                }
            }
        }
        if let Some(c) = Checkpoint::load(out)? {
            return Ok(Some(c));
        }
    }
    // nothing to resume: no file of an earlier attempt may survive into this run
    clear_run_files(out)?;
    Ok(None)
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
    let full_data = data;
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
    let record = RunRecord {
        command: config::command_line(),
        winsor_version: env!("CARGO_PKG_VERSION").into(),
        commit: env!("WINSOR_BUILD_COMMIT").into(),
        data_source: full_data.source.clone(),
        data_sha256: full_data.sha256(),
        n_train: data.train.n,
        n_test: data.test.n,
        widths: widths.clone(),
        adapter: gpu.adapter_name(),
        adapter_driver: format!("{} {}", gpu.info.driver, gpu.info.driver_info),
    };

    // each run's folder and config.toml (or checkpoint), one run after the other
    let mut runs = Vec::new();
    let mut resumed = Vec::new();
    for (c, out) in cfgs.iter().zip(outs) {
        let (run, checkpoint) = Active::start(&setup, c, out, opts.force, &record)?;
        runs.push(run);
        resumed.push(checkpoint);
    }
    let start = resume_point(&resumed, outs)?;
    let mut trainer = training::build_trainer(&setup, cfg, &runs)?;
    if let Some(s) = &runs[0].similarity {
        let probe: Vec<u32> = s.probe.index.iter().map(|&e| e as u32).collect();
        trainer.add_similarity(kernels, &probe)?;
    }
    let trainer = trainer;
    let progress = Progress::new(opts, cfg.steps, cfgs.len());
    if let Some(s) = cfg.similarity.as_ref().filter(|s| s.save) {
        progress.say(similarity_save_size(cfg, s.n));
    }
    for (i, (run, checkpoint)) in runs.iter_mut().zip(resumed).enumerate() {
        if let Some(c) = checkpoint {
            trainer.restore_run(i, &c.params, c.history.as_deref())?;
            progress.say(format!(
                "{}: resuming from its checkpoint at step {} of {}",
                run.out.display(),
                c.step,
                cfg.steps
            ));
            run.restore(c)?;
        }
    }
    let mut t = Training::new(
        &setup,
        &trainer,
        runs,
        progress,
        t0,
        start.unwrap_or_default(),
        opts.checkpoint,
    );

    // a checkpoint's step has been measured already (even step 0: a signal can come
    // before the first update)
    let mut at = start.map(|s| s.0);
    while let Some(target) = t.next_stop(at) {
        if t.train_to(target)? == Flow::AllFailed {
            return Ok(every_error(t.runs));
        }
        let coherence = t.measure_coherence()?;
        if coherence || t.is_logged(target) {
            t.measure_similarity()?;
        }
        if t.is_logged(target) && t.evaluate()? == Flow::AllFailed {
            return Ok(every_error(t.runs));
        }
        if t.checkpoint_due(target) {
            t.checkpoint()?;
        }
        t.checkpoint_or_stop()?;
        at = Some(target);
    }
    t.finish()
}

/// The step the runs go on from and the seconds they spent before (None: they start
/// afresh). Every run trained together must start from the same point (a sweep groups runs
/// by their checkpoints' steps).
fn resume_point(resumed: &[Option<Checkpoint>], outs: &[PathBuf]) -> Result<Option<(u64, Spent)>> {
    let step = |c: &Option<Checkpoint>| c.as_ref().map(|c| c.step);
    let from = |s: Option<u64>| s.map_or("the start".to_string(), |s| format!("step {s}"));
    if let Some(i) = resumed.iter().position(|c| step(c) != step(&resumed[0])) {
        bail!(
            "runs trained together must go on from the same point: {} from {}, {} from {}; train them separately",
            outs[0].display(),
            from(step(&resumed[0])),
            outs[i].display(),
            from(step(&resumed[i]))
        );
    }
    Ok(resumed[0].as_ref().map(|c| (c.step, c.spent)))
}

/// What `--similarity-save` will write over the whole run, told before it starts: one
/// matrix per logged step and per step `--coherence` measures.
fn similarity_save_size(cfg: &TrainConfig, n: usize) -> String {
    let first = cfg.coherence.as_ref().map_or(0, |c| c.first.min(cfg.steps));
    let extra =
        |s: u64| s <= first && cfg.coherence.is_some() && !cfg.log_grid.contains(s, cfg.steps);
    // counted, not listed; a schedule past ten million matrices is reported as such
    const MOST: usize = 10_000_000;
    let logged = cfg.log_grid.steps(cfg.steps).take(MOST).count();
    let count = logged as u64 + (0..=first.min(MOST as u64)).filter(|&s| extra(s)).count() as u64;
    let each = crate::analysis::similarity_matrix::bytes_per_matrix(n);
    format!(
        "--similarity-save: {count}{} matrices of {n} x {n} (f32), {:.1} MB each, {:.1} MB in all, under similarity/",
        if logged == MOST { " or more" } else { "" },
        each as f64 / 1e6,
        (each * count) as f64 / 1e6
    )
}
