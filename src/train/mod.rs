//! One training run: label noise, the GPU trainer, evaluation on the log grid, and the run
//! directory (config.toml, metrics.csv, examples.csv, weights.safetensors, summary.json).

pub mod config;
pub mod grid;
pub mod metrics;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

pub use config::TrainConfig;
pub use grid::LogGrid;
use metrics::{Learnt, Row, Summary};

use crate::analysis::coherence::Coherence;
use crate::data::{BatchOrder, DataSet, LabelNoise, CLASSES};
use crate::gpu::trainer::{Evaluation, RunInit, TrainerSpec};
use crate::gpu::{Gpu, GpuTrainer, Kernels};
use crate::model::Params;
use crate::output::write_atomic;

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

/// Refuses to overwrite a finished run unless `force`; creates the folder.
pub fn prepare_out_dir(out: &Path, force: bool) -> Result<()> {
    if out.join(DONE_MARKER).exists() && !force {
        bail!(
            "{}: holds a finished run ({} exists); pass --force to overwrite it or choose another --out",
            out.display(),
            DONE_MARKER
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    if force {
        // A stale marker must not make a half-written new run look finished.
        let _ = std::fs::remove_file(out.join(DONE_MARKER));
    }
    Ok(())
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

/// One run of [`run_many`] while it trains.
struct Active<'c> {
    cfg: &'c TrainConfig,
    out: PathBuf,
    noise: LabelNoise,
    order: BatchOrder,
    coherence: Option<Coherence>,
    rows: Vec<Row>,
    learnt: Learnt,
    last_batch: Option<(f32, u32)>,
    /// Set when the run fails (it diverged); the others go on.
    failed: Option<anyhow::Error>,
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
    if cfgs.len() > 1 {
        let key = cfg.concurrency_key();
        if key.is_none() || cfgs.iter().any(|c| c.concurrency_key() != key) {
            bail!("runs trained together must share every setting but --noise, --rule and --seed, and must not measure coherence");
        }
    }
    for c in cfgs {
        c.validate()?;
    }
    let data = &*data.subsets(cfg.train_subset, cfg.test_subset)?;
    for c in cfgs {
        c.validate_for(data.train.n)?;
    }
    let widths = cfg.arch.widths(data.input_dim(), CLASSES)?;
    let concurrent = cfgs.len();

    let mut runs: Vec<Active> = Vec::new();
    for (c, out) in cfgs.iter().zip(outs) {
        prepare_out_dir(out, opts.force)?;
        let saved = config::SavedConfig {
            winsor_version: env!("CARGO_PKG_VERSION").into(),
            arch: c.arch.spec.clone(),
            widths: widths.clone(),
            init: c.init,
            noise_percent: c.noise,
            rule: c.rule.to_string(),
            select: c.select.to_string(),
            lr: c.lr,
            batch: c.batch,
            steps: c.steps,
            seed: c.seed,
            log_grid: c.log_grid.to_string(),
            eval_chunk: c.eval_chunk,
            train_subset: c.train_subset,
            test_subset: c.test_subset,
            corrupt: c.corrupt,
            coherence: c.coherence.as_ref().map(config::SavedCoherence::from),
            data: data.source.clone(),
            n_train: data.train.n,
            n_test: data.test.n,
            adapter: gpu.adapter_name(),
            adapter_driver: format!("{} {}", gpu.info.driver, gpu.info.driver_info),
        };
        write_atomic(
            &out.join("config.toml"),
            toml::to_string(&saved)?.as_bytes(),
        )?;
        let noise = LabelNoise::new(&data.train.labels, c.noise / 100.0, c.seed);
        let coherence = c
            .coherence
            .clone()
            .map(|k| Coherence::new(k, noise.corrupt(c.corrupt), &widths, c.batch, c.seed));
        runs.push(Active {
            cfg: c,
            out: out.clone(),
            noise,
            order: BatchOrder::new(data.train.n, c.batch, c.seed),
            coherence,
            rows: Vec::new(),
            learnt: Learnt::new(data.train.n),
            last_batch: None,
            failed: None,
        });
    }

    let inits: Vec<Params> = cfgs
        .iter()
        .map(|c| Params::init(&widths, c.init, c.seed))
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
    let trainer = GpuTrainer::new_runs(
        gpu,
        kernels,
        data,
        &run_inits,
        TrainerSpec {
            batch: cfg.batch,
            select: cfg.select,
            lr: cfg.lr as f32,
            eval_chunk: cfg.eval_chunk,
            steps_per_submit: STEPS_PER_SUBMIT,
            coherence: cfg.coherence.is_some(),
        },
    )?;
    let grid = cfg.log_grid.steps(cfg.steps);
    // where training stops: every logged step, and every step up to --coherence-first
    let mut stops: Vec<u64> = grid.clone();
    if let Some(c) = &runs[0].coherence {
        stops.extend(0..=c.config().first.min(cfg.steps));
    }
    stops.sort_unstable();
    stops.dedup();
    let mut coherence_s = 0.0f64;

    let bar = if opts.progress {
        ProgressBar::new(cfg.steps)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} steps  {per_sec}  eta {eta}  {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let say = |line: String| {
        if opts.progress && bar.is_hidden() {
            // not a terminal (a batch job's log): the bar draws nothing, so print the line
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
    };
    // names a run in lines about one of several
    let who = |r: &Active| {
        if concurrent > 1 {
            format!("{}: ", r.out.display())
        } else {
            String::new()
        }
    };

    let (mut train_s, mut eval_s) = (0.0f64, 0.0f64);
    let mut step = 0u64;
    for &target in &stops {
        while step < target {
            // many submissions per call, so that they overlap; the index lists are capped at
            // about 16 MB
            let per_step = cfg.batch * concurrent;
            let span = (target - step).min((4_000_000 / per_step).max(1) as u64);
            let batches: Vec<Vec<u32>> = (0..span)
                .map(|_| {
                    runs.iter_mut()
                        .flat_map(|r| r.order.next_batch().to_vec())
                        .collect()
                })
                .collect();
            let t = Instant::now();
            let trained = trainer.train_with(&batches, |done, stats| {
                let n_steps = stats.len() / concurrent;
                let first = step + 1 + (done - n_steps) as u64;
                for (i, per_run) in stats.chunks(concurrent).enumerate() {
                    for (r, &(loss, correct)) in runs.iter_mut().zip(per_run) {
                        if r.failed.is_some() {
                            continue;
                        }
                        if !loss.is_finite() {
                            r.failed = Some(anyhow::anyhow!(
                                "training diverged at step {}: the minibatch loss is {loss}; lower --lr (now {}) or check the data",
                                first + i as u64,
                                r.cfg.lr
                            ));
                            continue;
                        }
                        r.last_batch = Some((loss, correct));
                    }
                }
                if let Some(r) = runs.iter().find(|r| r.failed.is_some()) {
                    if concurrent == 1 || runs.iter().all(|r| r.failed.is_some()) {
                        // stops training; with several runs, each one's error is returned below
                        bail!("{:#}", r.failed.as_ref().expect("failed"));
                    }
                }
                bar.set_position(step + done as u64);
                if let Some((sweep, offset)) = &opts.parent {
                    sweep.set_position(offset + (step + done as u64) * concurrent as u64);
                }
                if let Some((l, c)) = runs[0].last_batch {
                    bar.set_message(format!(
                        "batch loss {l:.4} acc {:.3}",
                        c as f64 / cfg.batch as f64
                    ));
                }
                Ok(())
            });
            if concurrent > 1 && runs.iter().all(|r| r.failed.is_some()) {
                return Ok(every_error(runs));
            }
            trained?;
            train_s += t.elapsed().as_secs_f64();
            step += span;
        }
        let r0 = &mut runs[0];
        if let Some(c) = &mut r0.coherence {
            let t = Instant::now();
            bar.set_message(format!("measuring coherence at step {step}"));
            let per = trainer.coherence()?;
            let params = trainer.params()?;
            let row = c.measure(step, &per, &params, &data.train.pixels, &r0.noise.labels);
            let line = format!(
                "step {step:>7}  coherence: f_p {:.4} f_c {:.4} ({:.1} s)",
                row[1],
                row[2],
                t.elapsed().as_secs_f64()
            );
            write_atomic(&r0.out.join("coherence.csv"), c.csv().as_bytes())?;
            coherence_s += t.elapsed().as_secs_f64();
            say(line);
        }
        if grid.binary_search(&target).is_err() {
            continue;
        }
        let t = Instant::now();
        let evals = trainer.evaluate_runs()?;
        eval_s += t.elapsed().as_secs_f64();
        for (r, ev) in runs.iter_mut().zip(&evals) {
            if r.failed.is_some() {
                continue;
            }
            let c = r.cfg;
            let corrupt = r.noise.corrupt(c.corrupt);
            let row = row(step, ev, r.last_batch, c.batch, corrupt, c.noise);
            if !row.train_loss.is_finite() {
                r.failed = Some(anyhow::anyhow!(
                    "training diverged at step {step}: after that update the training-set loss is {}; lower --lr (now {})",
                    row.train_loss,
                    c.lr
                ));
                continue;
            }
            r.learnt.update(step, &ev.train_correct);
            say(format!(
                "{}step {step:>7}  train acc {:.4} loss {:.4}  test acc {:.4} loss {:.4}",
                who(r),
                row.train_acc,
                row.train_loss,
                row.test_acc,
                row.test_loss
            ));
            r.rows.push(row);
            // rewritten at every logged step so an interrupted run keeps what it measured
            write_atomic(
                &r.out.join("metrics.csv"),
                metrics::metrics_csv(&r.rows).as_bytes(),
            )?;
        }
        if concurrent > 1 && runs.iter().all(|r| r.failed.is_some()) {
            return Ok(every_error(runs));
        }
        if let Some(r) = runs.iter().find(|r| r.failed.is_some()) {
            if concurrent == 1 {
                bail!("{:#}", r.failed.as_ref().expect("failed"));
            }
        }
    }
    bar.finish_and_clear();

    let mut results = Vec::new();
    for (i, r) in runs.into_iter().enumerate() {
        if let Some(e) = r.failed {
            results.push(Err(e));
            continue;
        }
        let params = trainer.params_of(i)?;
        write_atomic(
            &r.out.join("weights.safetensors"),
            &params.to_safetensors()?,
        )?;
        write_atomic(
            &r.out.join("examples.csv"),
            r.learnt
                .csv(
                    &data.train.labels,
                    &r.noise.labels,
                    r.noise.corrupt(r.cfg.corrupt),
                    &r.noise.selected,
                )
                .as_bytes(),
        )?;
        let summary = Summary {
            final_metrics: r.rows.last().expect("grid has step 0").clone(),
            steps: cfg.steps,
            wall_s: t0.elapsed().as_secs_f64(),
            train_s,
            eval_s,
            coherence_s,
            steps_per_s: if train_s > 0.0 {
                cfg.steps as f64 / train_s
            } else {
                0.0
            },
            concurrent,
            adapter: gpu.adapter_name(),
            winsor_version: env!("CARGO_PKG_VERSION").into(),
        };
        write_atomic(
            &r.out.join(DONE_MARKER),
            serde_json::to_string_pretty(&summary)?.as_bytes(),
        )?;
        results.push(Ok(summary));
    }
    Ok(results)
}
