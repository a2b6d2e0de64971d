//! The training step and the evaluation on the GPU, as prebuilt lists of dispatches.
//!
//! All buffers and bind groups are created once. A training step is a fixed list of
//! dispatches; the only thing that changes between steps is which per-step uniform slot the
//! gather and the batch statistics use (a dynamic offset), so a submission of K steps is the
//! same list recorded K times after one upload of the K minibatches' indices.
//!
//! Where things are: `capacity` sizes the trainer and checks every binding against the
//! device, `buffers` makes every buffer, `layers` holds the layer operations (dense product,
//! summed gradient, backprop, the gather-forward-score chain), and `step`, `eval` and
//! `coherence` build the three lists of dispatches from them; the kernels they use follow
//! the [`KernelPlan`] of the [`Kernels`] the trainer is built with.

use anyhow::{bail, Context, Result};

mod buffers;
mod capacity;
mod coherence;
mod eval;
mod layers;
mod layout;
mod similarity;
mod spec;
mod step;

use buffers::Buffers;
use capacity::Capacity;
use coherence::CoherencePasses;
use layers::Ops;
use similarity::SimilarityPass;
use step::Aggregation;

pub use capacity::{check_widths, max_runs};
pub use layout::{pack_bytes, ParamLayout};
pub use spec::{PerExample, RunInit, TrainerSpec};

use super::context::Gpu;
use super::kernels::{record_all, step_bytes, Dispatch, Kernels, StepInfo, Work, STEP_STRIDE};
use super::plan::KernelPlan;
use crate::data::DataSet;
use crate::model::Params;
use crate::rule::Rule;

/// Per-example evaluation results over both splits.
pub struct Evaluation {
    pub train_loss: Vec<f32>,
    pub train_correct: Vec<u32>,
    pub test_loss: Vec<f32>,
    pub test_correct: Vec<u32>,
}

/// One timed dispatch: its kernel's name, its work and its GPU interval in seconds.
pub type Timed = (&'static str, Work, std::ops::Range<f64>);

/// Checks that the runs can train together on `data`, and returns their layout.
fn check_runs(
    data: &DataSet,
    run_inits: &[RunInit<'_>],
    spec: &TrainerSpec,
) -> Result<ParamLayout> {
    let Some(first) = run_inits.first() else {
        bail!("a trainer needs at least one run");
    };
    let layout = ParamLayout::new(&first.init.widths());
    if run_inits.iter().any(|r| r.init.widths() != layout.widths) {
        bail!("runs trained together must have the same network widths");
    }
    if run_inits.len() > 1 && spec.coherence {
        bail!("the coherence measurements run one run at a time (--concurrent 1)");
    }
    if let Some(r) = run_inits.iter().find(|r| r.labels.len() != data.train.n) {
        bail!(
            "{} training labels for {} training examples",
            r.labels.len(),
            data.train.n
        );
    }
    // the kernels index by label and by example without bounds checks under trusted
    // shaders (docs/trusted-shaders.md): a label indexes the logits, an example its pixels
    let labels = run_inits
        .iter()
        .map(|r| r.labels)
        .chain([&data.test.labels[..]]);
    if labels
        .flatten()
        .any(|&y| y as usize >= crate::data::CLASSES)
    {
        bail!("a label is not below {}", crate::data::CLASSES);
    }
    for (what, s) in [("training", &data.train), ("test", &data.test)] {
        if s.pixels.len() != s.n * s.dim() || s.dim() != data.train.dim() {
            bail!(
                "the {what} images hold {} bytes for {} images of {} pixels",
                s.pixels.len(),
                s.n,
                data.train.dim()
            );
        }
    }
    Ok(layout)
}

/// Checks that every index of `batches` names a training example (the gather kernel reads
/// its pixels unchecked).
fn check_indices<'b>(batches: impl IntoIterator<Item = &'b u32>, n: usize) -> Result<()> {
    if let Some(&i) = batches.into_iter().find(|&&i| i as usize >= n) {
        bail!("minibatch index {i} is outside the {n} training examples");
    }
    Ok(())
}

pub struct GpuTrainer<'g> {
    gpu: &'g Gpu,
    pub layout: ParamLayout,
    pub spec: TrainerSpec,
    /// The kernel choices the dispatches were built with.
    pub plan: KernelPlan,
    /// Runs trained together (each with its own weights, labels, rule and minibatches).
    pub runs: usize,
    buf: Buffers,
    /// Training steps run so far (the temporal rules need the step number).
    steps_done: std::cell::Cell<u64>,
    /// Steps per submission (each half of the per-step uniform slots).
    pub slots: usize,
    step: Vec<Dispatch>,
    eval: Vec<Dispatch>,
    coherence: Option<CoherencePasses>,
    /// Rows the activation buffers hold (a training or evaluation chunk).
    rows: usize,
    /// The `--similarity` pass, once [`GpuTrainer::add_similarity`] has built it.
    similarity: Option<SimilarityPass>,
    // The aggregation kernels and the temporal rules' history, which the step's dispatches
    // reference.
    aggregations: Vec<Aggregation>,
}

impl<'g> GpuTrainer<'g> {
    /// One run: `train_labels` are the (possibly noisy) labels the model is trained and
    /// scored against.
    pub fn new(
        gpu: &'g Gpu,
        kernels: &Kernels,
        data: &DataSet,
        train_labels: &[u8],
        init: &Params,
        rule: Rule,
        spec: TrainerSpec,
    ) -> Result<Self> {
        let run = RunInit {
            labels: train_labels,
            init,
            rule,
        };
        Self::new_runs(gpu, kernels, data, &[run], spec)
    }

    /// Several runs in the same dispatches: every kernel serves all of them at once (the
    /// aggregation once per group of consecutive runs with the same rule). Each run's
    /// numbers are bit-identical to training it alone. The kernels follow `kernels.plan`.
    pub fn new_runs(
        gpu: &'g Gpu,
        kernels: &Kernels,
        data: &DataSet,
        run_inits: &[RunInit<'_>],
        spec: TrainerSpec,
    ) -> Result<Self> {
        let layout = check_runs(data, run_inits, &spec)?;
        let rules: Vec<Rule> = run_inits.iter().map(|r| r.rule).collect();
        let cap = Capacity::new(gpu, &layout, &spec, &rules, data)?;
        let aggregations = Aggregation::for_runs(gpu, kernels, &rules, &spec, &cap, layout.total)?;
        cap.check_bindings(gpu, &layout, &rules, data, spec.batch)?;
        let buf = Buffers::new(gpu, &layout, &cap, data, run_inits, spec.batch);
        let ops = Ops {
            gpu,
            kernels,
            layout: &layout,
            buf: &buf,
            runs: run_inits.len() as u32,
        };
        let step = step::build(&ops, &aggregations, &cap, &spec);
        let eval = eval::build(&ops, &cap);
        let coherence = spec.coherence.then(|| CoherencePasses::build(&ops, &cap));
        // buffer creation errors (out of memory) surface here rather than mid-run
        gpu.wait()?;
        Ok(GpuTrainer {
            gpu,
            layout,
            spec,
            plan: kernels.plan,
            runs: run_inits.len(),
            buf,
            steps_done: std::cell::Cell::new(0),
            slots: cap.slots,
            step,
            eval,
            coherence,
            rows: cap.rows,
            similarity: None,
            aggregations,
        })
    }

    /// Runs one training step per entry of `batches` and returns each step's (mean loss,
    /// correct count) per run, step by step. An entry holds each run's minibatch (`batch`
    /// indices) in run order.
    ///
    /// Steps go to the GPU in submissions of up to `slots` steps, double-buffered: while the
    /// GPU runs submission g, the host reads submission g-1's statistics (8 bytes a step,
    /// copied into a mappable buffer by g-1 itself) and uploads the indices of g+1, so the
    /// GPU never waits for the host. After each submission's statistics arrive,
    /// `on_stats(steps done so far, that submission's stats)` is called; an error from it
    /// stops training (after at most one more submission).
    pub fn train_with(
        &self,
        batches: &[Vec<u32>],
        mut on_stats: impl FnMut(usize, &[(f32, u32)]) -> Result<()>,
    ) -> Result<Vec<(f32, u32)>> {
        let b = self.spec.batch * self.runs;
        if let Some(m) = batches.iter().find(|m| m.len() != b) {
            bail!(
                "every minibatch must hold {b} indices ({} per run), one holds {}",
                self.spec.batch,
                m.len()
            );
        }
        check_indices(batches.iter().flatten(), self.buf.train.n)?;
        let mut out = Vec::with_capacity(batches.len());
        let mut pending: Option<(usize, usize, wgpu::SubmissionIndex)> = None;
        for (g, group) in batches.chunks(self.slots).enumerate() {
            let half = g % 2;
            let first_slot = half * self.slots;
            let flat: Vec<u32> = group.iter().flatten().copied().collect();
            self.gpu.queue.write_buffer(
                &self.buf.indices,
                (first_slot * b * 4) as u64,
                bytemuck::cast_slice(&flat),
            );
            let t0 = self.steps_done.get();
            let infos: Vec<StepInfo> = (0..group.len())
                .map(|s| StepInfo::new((first_slot + s) as u32, b as u32, (t0 + s as u64) as u32))
                .collect();
            self.gpu.queue.write_buffer(
                &self.buf.steps,
                first_slot as u64 * STEP_STRIDE,
                &step_bytes(&infos),
            );
            self.steps_done.set(t0 + group.len() as u64);
            let mut enc = self.gpu.device.create_command_encoder(&Default::default());
            let step = &self.step;
            record_all(
                &mut enc,
                (0..group.len())
                    .flat_map(|s| step.iter().map(move |d| (d, (first_slot + s) as u32))),
            );
            let pair = 8 * self.runs;
            enc.copy_buffer_to_buffer(
                &self.buf.stats,
                (first_slot * pair) as u64,
                &self.buf.staging[half],
                0,
                (group.len() * pair) as u64,
            );
            let submitted = self.gpu.queue.submit([enc.finish()]);
            if let Some(prev) = pending.take() {
                let stats = self.collect(prev)?;
                out.extend_from_slice(&stats);
                on_stats(out.len() / self.runs, &stats)?;
            }
            pending = Some((half, group.len(), submitted));
        }
        if let Some(prev) = pending {
            let stats = self.collect(prev)?;
            out.extend_from_slice(&stats);
            on_stats(out.len() / self.runs, &stats)?;
        }
        Ok(out)
    }

    /// [`Self::train_with`] without a callback.
    pub fn train(&self, batches: &[Vec<u32>]) -> Result<Vec<(f32, u32)>> {
        self.train_with(batches, |_, _| Ok(()))
    }

    /// Waits for a submission and reads its per-step statistics from its staging half.
    fn collect(
        &self,
        (half, steps, submitted): (usize, usize, wgpu::SubmissionIndex),
    ) -> Result<Vec<(f32, u32)>> {
        let staging = &self.buf.staging[half];
        let bytes = (steps * self.runs * 8) as u64;
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, ..bytes, move |r| {
            let _ = tx.send(r);
        });
        self.gpu
            .device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submitted),
                timeout: None,
            })
            .context("waiting for the GPU")?;
        self.gpu.check()?;
        rx.recv()
            .context("readback callback dropped")?
            .context("mapping the step statistics")?;
        let stats = {
            let view = staging
                .get_mapped_range(..bytes)
                .context("reading the step statistics")?;
            let words: &[u32] = bytemuck::cast_slice(&view);
            words
                .chunks(2)
                .map(|c| (f32::from_bits(c[0]), c[1]))
                .collect()
        };
        staging.unmap();
        Ok(stats)
    }

    /// Per-example loss and correctness over the full training and test sets (one run).
    pub fn evaluate(&self) -> Result<Evaluation> {
        self.single()?;
        Ok(self.evaluate_runs()?.remove(0))
    }

    /// [`Self::evaluate`] for every run, in run order.
    pub fn evaluate_runs(&self) -> Result<Vec<Evaluation>> {
        let refs: Vec<&Dispatch> = self.eval.iter().collect();
        crate::gpu::kernels::dispatch::run(self.gpu, &refs)?;
        let g = self.gpu;
        let (train, test) = (&self.buf.train, &self.buf.test);
        (0..self.runs)
            .map(|r| {
                Ok(Evaluation {
                    train_loss: g.read_f32(&train.loss.buf, train.loss.at(r), train.n)?,
                    train_correct: g.read_u32(&train.correct.buf, train.correct.at(r), train.n)?,
                    test_loss: g.read_f32(&test.loss.buf, test.loss.at(r), test.n)?,
                    test_correct: g.read_u32(&test.correct.buf, test.correct.at(r), test.n)?,
                })
            })
            .collect()
    }

    fn single(&self) -> Result<()> {
        if self.runs != 1 {
            bail!(
                "this trainer holds {} runs; ask for one by number",
                self.runs
            );
        }
        Ok(())
    }

    /// Per-example gradient dot products with the summed training-set gradient, and the
    /// per-example norm factors, at the current weights (noisy labels): two passes of
    /// forward and backward over the training set. Needs `TrainerSpec::coherence`.
    pub fn coherence(&self) -> Result<PerExample> {
        let Some(c) = &self.coherence else {
            bail!("this trainer was built without the coherence passes");
        };
        c.measure(self.gpu)
    }

    /// Builds the pass of [`GpuTrainer::similarity`] over the training examples `probe`
    /// (one run only; the probe must fit the trainer's row buffers and its matrix one
    /// storage binding, or the error says which `--similarity` does).
    pub fn add_similarity(&mut self, kernels: &Kernels, probe: &[u32]) -> Result<()> {
        let ops = Ops {
            gpu: self.gpu,
            kernels,
            layout: &self.layout,
            buf: &self.buf,
            runs: self.runs as u32,
        };
        let pass = SimilarityPass::build(&ops, self.rows, probe)?;
        // buffer creation errors (out of memory) surface here rather than mid-run
        self.gpu.wait()?;
        self.similarity = Some(pass);
        Ok(())
    }

    /// The per-example gradient inner products K[i, j] = g_i . g_j of the probe examples at
    /// the current weights (noisy labels), n x n row-major. Needs [`GpuTrainer::add_similarity`].
    pub fn similarity(&self) -> Result<Vec<f32>> {
        let Some(s) = &self.similarity else {
            bail!("this trainer was built without the similarity pass");
        };
        s.measure(self.gpu)
    }

    /// The parameters (one run).
    pub fn params(&self) -> Result<Params> {
        self.single()?;
        self.params_of(0)
    }

    /// Run `run`'s parameters.
    pub fn params_of(&self, run: usize) -> Result<Params> {
        let at = self.buf.params.at(run);
        let flat = self
            .gpu
            .read_f32(&self.buf.params.buf, at, self.layout.total)?;
        Ok(self.layout.unflatten(&flat))
    }

    /// Run `run`'s temporal-rule history (its last three mean gradients), if its rule keeps
    /// one: part of a checkpoint.
    pub fn history_of(&self, run: usize) -> Result<Option<Vec<f32>>> {
        let Some((agg, hist)) = self.history(run) else {
            return Ok(None);
        };
        let at = hist.at(run - agg.group.first);
        let n = 3 * self.layout.total;
        Ok(Some(self.gpu.read_f32(&hist.buf, at, n)?))
    }

    /// Puts back what a checkpoint saved: run `run`'s parameters and temporal history.
    pub fn restore_run(&self, run: usize, params: &Params, history: Option<&[f32]>) -> Result<()> {
        if params.widths() != self.layout.widths {
            bail!(
                "the checkpoint's network has widths {:?}, this run {:?}",
                params.widths(),
                self.layout.widths
            );
        }
        let flat = self.layout.flatten(params);
        let q = &self.gpu.queue;
        q.write_buffer(
            &self.buf.params.buf,
            self.buf.params.at(run) * 4,
            bytemuck::cast_slice(&flat),
        );
        match (self.history(run), history) {
            (None, None) => {}
            (Some((agg, hist)), Some(h)) if h.len() == 3 * self.layout.total => {
                let at = hist.at(run - agg.group.first);
                q.write_buffer(&hist.buf, at * 4, bytemuck::cast_slice(h));
            }
            _ => bail!("the checkpoint's temporal history does not fit run {run}'s rule"),
        }
        self.gpu.wait()
    }

    /// Sets the step count of a resumed run.
    pub fn set_steps_done(&self, steps: u64) {
        self.steps_done.set(steps);
    }

    /// The aggregation group of run `run` and its history buffer, for a temporal rule.
    fn history(&self, run: usize) -> Option<(&Aggregation, &buffers::Stacked)> {
        let agg = self
            .aggregations
            .iter()
            .find(|a| (a.group.first..a.group.first + a.group.count).contains(&run))?;
        agg.temporal.as_ref().map(|(_, h)| (agg, h))
    }

    /// Wall time of each dispatch of one training step on `batch` (every run's minibatch),
    /// each submitted and waited for on its own: a coarse per-kernel profile that needs no timestamp queries.
    pub fn profile_step(&self, batch: &[u32]) -> Result<Vec<(&'static str, f64)>> {
        if batch.len() != self.spec.batch * self.runs {
            bail!(
                "the minibatch must hold {} indices, it holds {}",
                self.spec.batch * self.runs,
                batch.len()
            );
        }
        check_indices(batch, self.buf.train.n)?;
        self.gpu
            .queue
            .write_buffer(&self.buf.indices, 0, bytemuck::cast_slice(batch));
        self.time_each(&self.step)
    }

    /// Runs one training step per entry of `batches` (as [`Self::train`]) with a GPU
    /// timestamp query around every dispatch (each in its own compute pass, which needs only
    /// [`wgpu::Features::TIMESTAMP_QUERY`]). Returns, per step, each dispatch's name, its
    /// work and its GPU interval in seconds; the profiler's raw results go to `raw` (for a
    /// Chrome trace).
    pub fn profile_steps(
        &self,
        batches: &[Vec<u32>],
        profiler: &mut wgpu_profiler::GpuProfiler,
        raw: &mut Vec<wgpu_profiler::GpuTimerQueryResult>,
    ) -> Result<Vec<Vec<Timed>>> {
        let b = self.spec.batch * self.runs;
        if let Some(m) = batches.iter().find(|m| m.len() != b) {
            bail!(
                "every minibatch must hold {b} indices, one holds {}",
                m.len()
            );
        }
        check_indices(batches.iter().flatten(), self.buf.train.n)?;
        let mut out = Vec::new();
        for group in batches.chunks(self.slots) {
            let flat: Vec<u32> = group.iter().flatten().copied().collect();
            self.gpu
                .queue
                .write_buffer(&self.buf.indices, 0, bytemuck::cast_slice(&flat));
            let t0 = self.steps_done.get();
            let infos: Vec<StepInfo> = (0..group.len())
                .map(|s| StepInfo::new(s as u32, b as u32, (t0 + s as u64) as u32))
                .collect();
            self.gpu
                .queue
                .write_buffer(&self.buf.steps, 0, &step_bytes(&infos));
            self.steps_done.set(t0 + group.len() as u64);
            let mut enc = self.gpu.device.create_command_encoder(&Default::default());
            for s in 0..group.len() {
                for d in &self.step {
                    d.record_copies(&mut enc);
                    let query = profiler.begin_pass_query(d.name, &mut enc);
                    {
                        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: Some(d.name),
                            timestamp_writes: query.compute_pass_timestamp_writes(),
                        });
                        d.record(&mut pass, s as u32);
                    }
                    profiler.end_query(&mut enc, query);
                }
            }
            profiler.resolve_queries(&mut enc);
            self.gpu.queue.submit([enc.finish()]);
            profiler
                .end_frame()
                .map_err(|e| anyhow::anyhow!("profiler: {e}"))?;
            self.gpu.wait()?;
            let period = self.gpu.queue.get_timestamp_period();
            let results = loop {
                if let Some(r) = profiler.process_finished_frame(period) {
                    break r;
                }
                self.gpu
                    .device
                    .poll(wgpu::PollType::wait_indefinitely())
                    .context("waiting for the timestamps")?;
            };
            if results.len() != group.len() * self.step.len() {
                bail!(
                    "the profiler returned {} timings for {} dispatches",
                    results.len(),
                    group.len() * self.step.len()
                );
            }
            for chunk in results.chunks(self.step.len()) {
                out.push(
                    chunk
                        .iter()
                        .zip(&self.step)
                        .map(|(r, d)| (d.name, d.work(), r.time.clone().unwrap_or(0.0..0.0)))
                        .collect(),
                );
            }
            raw.extend(results);
        }
        Ok(out)
    }

    /// Dispatches recorded per training step.
    pub fn dispatches_per_step(&self) -> usize {
        self.step.len()
    }

    /// Like [`Self::profile_step`], for the evaluation over both splits.
    pub fn profile_eval(&self) -> Result<Vec<(&'static str, f64)>> {
        self.time_each(&self.eval)
    }

    fn time_each(&self, dispatches: &[Dispatch]) -> Result<Vec<(&'static str, f64)>> {
        let mut out = Vec::new();
        for d in dispatches {
            let t = std::time::Instant::now();
            crate::gpu::kernels::dispatch::run(self.gpu, &[d])?;
            out.push((d.name, t.elapsed().as_secs_f64()));
        }
        Ok(out)
    }
}
