//! `winsor profile`: per-kernel GPU times of training steps from timestamp queries
//! (wgpu-profiler), with each kernel's achieved rate, and a Chrome trace. Without timestamp
//! support it says so and reports whole-step wall time only.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;

use crate::data::{BatchOrder, DataSet, LabelNoise, CLASSES};
use crate::gpu::kernels::Work;
use crate::gpu::trainer::{Timed, TrainerSpec};
use crate::gpu::{Gpu, GpuTrainer, Kernels};
use crate::model::Params;
use crate::train::args::TrainArgs;
use crate::train::{TrainConfig, STEPS_PER_SUBMIT};

/// One kernel's share of the profiled steps.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelRow {
    pub name: &'static str,
    pub dispatches: usize,
    /// Summed GPU time, seconds.
    pub total_s: f64,
    /// Summed work (all the same kind for one kernel name).
    pub work: Work,
}

impl KernelRow {
    /// The achieved rate with its unit, if the kernel's work is counted.
    pub fn rate(&self) -> Option<(f64, &'static str)> {
        if self.total_s <= 0.0 {
            return None;
        }
        match self.work {
            Work::None => None,
            Work::Flops(x) => Some((x / self.total_s / 1e9, "GFLOP/s")),
            Work::Coords(x) => Some((x / self.total_s / 1e6, "Mcoords/s")),
            Work::Bytes(x) => Some((x / self.total_s / 1e9, "GB/s")),
        }
    }
}

fn add(a: Work, b: Work) -> Work {
    match (a, b) {
        (Work::None, w) | (w, Work::None) => w,
        (Work::Flops(x), Work::Flops(y)) => Work::Flops(x + y),
        (Work::Coords(x), Work::Coords(y)) => Work::Coords(x + y),
        (Work::Bytes(x), Work::Bytes(y)) => Work::Bytes(x + y),
        // a name never mixes kinds; keep the first
        (w, _) => w,
    }
}

/// Sums the dispatches of every step by kernel name, in order of first appearance.
pub fn by_kernel(steps: &[Vec<Timed>]) -> Vec<KernelRow> {
    let mut rows: Vec<KernelRow> = Vec::new();
    for (name, work, t) in steps.iter().flatten() {
        let dt = (t.end - t.start).max(0.0);
        match rows.iter_mut().find(|r| r.name == *name) {
            Some(r) => {
                r.dispatches += 1;
                r.total_s += dt;
                r.work = add(r.work, *work);
            }
            None => rows.push(KernelRow {
                name,
                dispatches: 1,
                total_s: dt,
                work: *work,
            }),
        }
    }
    rows
}

/// The markdown table of [`by_kernel`]'s rows for `steps` steps on `device`.
pub fn table(rows: &[KernelRow], steps: usize, device: &str) -> String {
    use std::fmt::Write;
    let all: f64 = rows.iter().map(|r| r.total_s).sum();
    let mut s = String::new();
    writeln!(
        s,
        "| kernel | dispatches | total ms | us per dispatch | share of step | achieved rate | device |"
    )
    .unwrap();
    writeln!(s, "|---|---|---|---|---|---|---|").unwrap();
    for r in rows {
        let rate = r
            .rate()
            .map_or("-".to_string(), |(v, unit)| format!("{v:.2} {unit}"));
        writeln!(
            s,
            "| {} | {} | {:.3} | {:.1} | {:.1}% | {rate} | {device} |",
            r.name,
            r.dispatches,
            r.total_s * 1e3,
            r.total_s * 1e6 / r.dispatches as f64,
            100.0 * r.total_s / all.max(f64::MIN_POSITIVE),
        )
        .unwrap();
    }
    writeln!(
        s,
        "| all kernels | {} | {:.3} | | 100% | {:.3} ms per step | {device} |",
        rows.iter().map(|r| r.dispatches).sum::<usize>(),
        all * 1e3,
        all * 1e3 / steps.max(1) as f64
    )
    .unwrap();
    s
}

/// Profiles `steps` training steps of `cfg` after `warmup` untimed ones and prints the
/// table; writes a Chrome trace to `trace` if given.
pub fn run(
    gpu: &Gpu,
    kernels: &Kernels,
    data: &DataSet,
    cfg: &TrainConfig,
    warmup: usize,
    steps: usize,
    trace: Option<&Path>,
) -> Result<()> {
    cfg.validate()?;
    let data = &*data.train_subset(cfg.train_subset)?;
    cfg.validate_for(data.train.n)?;
    let widths = cfg.arch.widths(data.input_dim(), CLASSES)?;
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
            coherence: false,
        },
    )?;
    let mut order = BatchOrder::with_order(data.train.n, cfg.batch, cfg.seed, cfg.order, cfg.steps);
    let mut batches =
        |n: usize| -> Vec<Vec<u32>> { (0..n).map(|_| order.next_batch().to_vec()).collect() };
    trainer.train(&batches(warmup))?;
    let device = gpu.adapter_name();
    println!(
        "# winsor profile: {} rule {} batch {} on {device}, {steps} steps after {warmup} warm-up steps",
        cfg.arch.spec, cfg.rule, cfg.batch
    );
    println!("{}", kernels.plan.describe());
    // whole-step wall time, the steps submitted as in training
    let timed = batches(steps);
    let t = Instant::now();
    trainer.train(&timed)?;
    let wall = t.elapsed().as_secs_f64();
    println!(
        "wall time: {:.3} ms per step ({:.1} steps/s), {} dispatches per step",
        wall * 1e3 / steps.max(1) as f64,
        steps as f64 / wall,
        trainer.dispatches_per_step()
    );
    if !gpu
        .device
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY)
    {
        println!(
            "adapter {device} does not support timestamp queries: no per-kernel times, only the whole-step wall time above"
        );
        if let Some(path) = trace {
            anyhow::bail!(
                "--trace {}: no trace without timestamp queries on this adapter",
                path.display()
            );
        }
        return Ok(());
    }
    let mut profiler =
        wgpu_profiler::GpuProfiler::new(&gpu.device, wgpu_profiler::GpuProfilerSettings::default())
            .map_err(|e| anyhow::anyhow!("starting the profiler: {e}"))?;
    let mut raw = Vec::new();
    let timings = trainer.profile_steps(&batches(steps), &mut profiler, &mut raw)?;
    println!(
        "GPU time from timestamp queries, each dispatch in its own compute pass (rates: matrix products in nominal GFLOP/s, the aggregation in million coordinates/s, memory-bound kernels in GB/s):"
    );
    print!("{}", table(&by_kernel(&timings), steps, &device));
    if let Some(path) = trace {
        wgpu_profiler::chrometrace::write_chrometrace(path, &raw)
            .with_context(|| format!("writing the trace {}", path.display()))?;
        println!(
            "wrote {} (open it in https://ui.perfetto.dev or chrome://tracing)",
            path.display()
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct ProfileArgs {
    /// The run to profile: the options of `winsor train` (--steps: steps profiled, default
    /// 20; --out and the logging options are not used).
    #[command(flatten)]
    pub train: TrainArgs,
    /// Untimed steps first (pipeline compilation, caches).
    #[arg(long, default_value = "5")]
    pub warmup: usize,
    /// Write the per-dispatch timings as a Chrome trace (JSON; open in Perfetto).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

/// `winsor profile`: the run's settings, the device, then [`run`].
pub fn command(a: ProfileArgs) -> Result<()> {
    let mut t = a.train;
    let steps = t.steps.unwrap_or(20);
    t.steps = Some(steps);
    let cfg = t.config()?;
    let data = crate::data::load(t.data.as_deref())?;
    let (gpu, kernels) = t.device.open(cfg.arch.widest_hidden())?;
    run(
        &gpu,
        &kernels,
        &data,
        &cfg,
        a.warmup,
        steps as usize,
        a.trace.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sum_by_kernel_and_rates_follow_the_work() {
        let steps = vec![
            vec![
                ("matmul", Work::Flops(2e9), 0.0..0.5),
                ("sgd", Work::Bytes(1e9), 0.5..0.6),
            ],
            vec![
                ("matmul", Work::Flops(2e9), 1.0..1.5),
                ("sgd", Work::Bytes(1e9), 1.5..1.6),
            ],
        ];
        let rows = by_kernel(&steps);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "matmul");
        assert_eq!(rows[0].dispatches, 2);
        assert!((rows[0].total_s - 1.0).abs() < 1e-12);
        let (gflops, unit) = rows[0].rate().unwrap();
        assert_eq!(unit, "GFLOP/s");
        assert!((gflops - 4.0).abs() < 1e-9);
        let (gbs, unit) = rows[1].rate().unwrap();
        assert_eq!(unit, "GB/s");
        assert!((gbs - 10.0).abs() < 1e-6);
        let t = table(&rows, 2, "dev");
        assert!(t.contains("| matmul | 2 | 1000.000 | 500000.0 | 83.3% | 4.00 GFLOP/s | dev |"));
        assert!(
            t.contains("| all kernels | 4 | 1200.000 | | 100% | 600.000 ms per step | dev |"),
            "{t}"
        );
    }
}
