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
use crate::gpu::trainer::{Evaluation, TrainerSpec};
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
    selected: &[bool],
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
        pristine_acc: metrics::masked_acc(&ev.train_correct, selected, false),
        corrupt_acc: metrics::masked_acc(&ev.train_correct, selected, true),
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
    let t0 = Instant::now();
    cfg.validate()?;
    let subset;
    let data = match cfg.train_subset {
        Some(n) if n < data.train.n => {
            subset = DataSet {
                source: format!("{} (first {n} training examples)", data.source),
                train: data.train.head(n),
                test: data.test.clone(),
            };
            &subset
        }
        Some(n) if n > data.train.n => bail!(
            "--train-subset {n}: the training set has only {} examples",
            data.train.n
        ),
        _ => data,
    };
    cfg.validate_for(data.train.n)?;
    let widths = cfg.arch.widths(data.input_dim(), CLASSES)?;
    prepare_out_dir(&opts.out, opts.force)?;
    let out = |name: &str| opts.out.join(name);

    let saved = config::SavedConfig {
        winsor_version: env!("CARGO_PKG_VERSION").into(),
        arch: cfg.arch.spec.clone(),
        widths: widths.clone(),
        init: cfg.init,
        noise_percent: cfg.noise,
        rule: cfg.rule.to_string(),
        select: cfg.select.to_string(),
        lr: cfg.lr,
        batch: cfg.batch,
        steps: cfg.steps,
        seed: cfg.seed,
        log_grid: cfg.log_grid.to_string(),
        eval_chunk: cfg.eval_chunk,
        train_subset: cfg.train_subset,
        coherence: cfg.coherence.as_ref().map(config::SavedCoherence::from),
        data: data.source.clone(),
        n_train: data.train.n,
        n_test: data.test.n,
        adapter: gpu.adapter_name(),
        adapter_driver: format!("{} {}", gpu.info.driver, gpu.info.driver_info),
    };
    write_atomic(&out("config.toml"), toml::to_string(&saved)?.as_bytes())?;

    let noise = LabelNoise::new(&data.train.labels, cfg.noise / 100.0, cfg.seed);
    let init = Params::init(&widths, cfg.init, cfg.seed);
    let trainer = GpuTrainer::new(
        gpu,
        kernels,
        data,
        &noise.labels,
        &init,
        cfg.rule,
        TrainerSpec {
            batch: cfg.batch,
            select: cfg.select,
            lr: cfg.lr as f32,
            eval_chunk: cfg.eval_chunk,
            steps_per_submit: STEPS_PER_SUBMIT,
            coherence: cfg.coherence.is_some(),
        },
    )?;
    let mut order = BatchOrder::new(data.train.n, cfg.batch, cfg.seed);
    let grid = cfg.log_grid.steps(cfg.steps);
    let mut coherence = cfg
        .coherence
        .clone()
        .map(|c| Coherence::new(c, &noise.selected, &widths, cfg.batch, cfg.seed));
    // where training stops: every logged step, and every step up to --coherence-first
    let mut stops: Vec<u64> = grid.clone();
    if let Some(c) = &coherence {
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

    let mut rows: Vec<Row> = Vec::new();
    let mut learnt = Learnt::new(data.train.n);
    let mut last_batch: Option<(f32, u32)> = None;
    let (mut train_s, mut eval_s) = (0.0f64, 0.0f64);
    let mut step = 0u64;
    for &target in &stops {
        while step < target {
            // many submissions per call, so that they overlap; the index lists are capped at
            // about 16 MB
            let span = (target - step).min((4_000_000 / cfg.batch).max(1) as u64);
            let batches: Vec<Vec<u32>> = (0..span).map(|_| order.next_batch().to_vec()).collect();
            let t = Instant::now();
            trainer.train_with(&batches, |done, stats| {
                let first = step + 1 + (done - stats.len()) as u64;
                for (i, &(loss, correct)) in stats.iter().enumerate() {
                    if !loss.is_finite() {
                        bail!(
                            "training diverged at step {}: the minibatch loss is {loss}; lower --lr (now {}) or check the data",
                            first + i as u64,
                            cfg.lr
                        );
                    }
                    last_batch = Some((loss, correct));
                }
                bar.set_position(step + done as u64);
                if let Some((sweep, offset)) = &opts.parent {
                    sweep.set_position(offset + step + done as u64);
                }
                if let Some((l, c)) = last_batch {
                    bar.set_message(format!(
                        "batch loss {l:.4} acc {:.3}",
                        c as f64 / cfg.batch as f64
                    ));
                }
                Ok(())
            })?;
            train_s += t.elapsed().as_secs_f64();
            step += span;
        }
        if let Some(c) = &mut coherence {
            let t = Instant::now();
            bar.set_message(format!("measuring coherence at step {step}"));
            let per = trainer.coherence()?;
            let params = trainer.params()?;
            let row = c.measure(step, &per, &params, &data.train.pixels, &noise.labels);
            let line = format!(
                "step {step:>7}  coherence: f_p {:.4} f_c {:.4} ({:.1} s)",
                row[1],
                row[2],
                t.elapsed().as_secs_f64()
            );
            write_atomic(&out("coherence.csv"), c.csv().as_bytes())?;
            coherence_s += t.elapsed().as_secs_f64();
            if opts.progress && bar.is_hidden() {
                eprintln!("{line}");
            } else {
                bar.println(line);
            }
        }
        if grid.binary_search(&target).is_err() {
            continue;
        }
        let t = Instant::now();
        let ev = trainer.evaluate()?;
        eval_s += t.elapsed().as_secs_f64();
        let r = row(step, &ev, last_batch, cfg.batch, &noise.selected, cfg.noise);
        if !r.train_loss.is_finite() {
            bail!(
                "training diverged at step {step}: after that update the training-set loss is {}; lower --lr (now {})",
                r.train_loss,
                cfg.lr
            );
        }
        learnt.update(step, &ev.train_correct);
        let line = format!(
            "step {step:>7}  train acc {:.4} loss {:.4}  test acc {:.4} loss {:.4}",
            r.train_acc, r.train_loss, r.test_acc, r.test_loss
        );
        if opts.progress && bar.is_hidden() {
            // not a terminal (a batch job's log): the bar draws nothing, so print the line
            eprintln!("{line}");
        } else {
            bar.println(line);
        }
        rows.push(r);
        // rewritten at every logged step so an interrupted run keeps what it measured
        write_atomic(&out("metrics.csv"), metrics::metrics_csv(&rows).as_bytes())?;
    }
    bar.finish_and_clear();

    let params = trainer.params()?;
    write_atomic(&out("weights.safetensors"), &params.to_safetensors()?)?;
    write_atomic(
        &out("examples.csv"),
        learnt
            .csv(&data.train.labels, &noise.labels, &noise.selected)
            .as_bytes(),
    )?;
    let summary = Summary {
        final_metrics: rows.last().expect("grid has step 0").clone(),
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
        adapter: gpu.adapter_name(),
        winsor_version: env!("CARGO_PKG_VERSION").into(),
    };
    write_atomic(
        &out(DONE_MARKER),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    Ok(summary)
}
