//! `winsor bench`: training-step throughput without evaluation, as the median over several
//! timed windows (these machines are noisy), on the built-in data.

use std::time::Instant;

use anyhow::Result;

use crate::data::{BatchOrder, DataSet, CLASSES};
use crate::gpu::trainer::TrainerSpec;
use crate::gpu::{Gpu, GpuTrainer, Kernels};
use crate::model::{Arch, Init, Params};
use crate::rule::{Rule, Select};

pub struct BenchSpec {
    pub arch: Arch,
    pub rule: Rule,
    pub select: Select,
    pub batch: usize,
    pub warmup: usize,
    pub window: usize,
    pub windows: usize,
    pub seed: u64,
    /// Also time one evaluation over both splits, dispatch by dispatch.
    pub profile_eval: bool,
}

pub struct BenchResult {
    /// Per-dispatch wall times of one step, in step order.
    pub profile: Vec<(&'static str, f64)>,
    /// Per-dispatch wall times of one evaluation (if asked for), summed by kernel name.
    pub eval_profile: Vec<(&'static str, f64)>,
    pub median: f64,
    pub windows: Vec<f64>,
}

pub fn run(gpu: &Gpu, kernels: &Kernels, data: &DataSet, spec: &BenchSpec) -> Result<BenchResult> {
    let widths = spec.arch.widths(data.input_dim(), CLASSES)?;
    let init = Params::init(&widths, Init::Code, spec.seed);
    let trainer = GpuTrainer::new(
        gpu,
        kernels,
        data,
        &data.train.labels,
        &init,
        TrainerSpec {
            batch: spec.batch,
            rule: spec.rule,
            select: spec.select,
            lr: 0.1,
            eval_chunk: 10000,
            steps_per_submit: crate::train::STEPS_PER_SUBMIT,
        },
    )?;
    let mut order = BatchOrder::new(data.train.n, spec.batch, spec.seed);
    let mut batches =
        |n: usize| -> Vec<Vec<u32>> { (0..n).map(|_| order.next_batch().to_vec()).collect() };
    trainer.train(&batches(spec.warmup))?;
    let profile = trainer.profile_step(&batches(1)[0])?;
    let mut eval_profile: Vec<(&'static str, f64)> = Vec::new();
    if spec.profile_eval {
        for (name, t) in trainer.profile_eval()? {
            match eval_profile.iter_mut().find(|(n, _)| *n == name) {
                Some(e) => e.1 += t,
                None => eval_profile.push((name, t)),
            }
        }
    }
    let mut rates = Vec::new();
    for _ in 0..spec.windows {
        let b = batches(spec.window);
        let t = Instant::now();
        trainer.train(&b)?;
        rates.push(spec.window as f64 / t.elapsed().as_secs_f64());
    }
    let mut sorted = rates.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let median = if sorted.is_empty() {
        0.0
    } else {
        sorted[sorted.len() / 2]
    };
    Ok(BenchResult {
        profile,
        eval_profile,
        median,
        windows: rates,
    })
}
