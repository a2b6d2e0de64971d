//! How much one trainer can hold on a device, computed in one place: the runs that fit
//! ([`max_runs`]), the rows per dispatch chain, the row chunks of a minibatch, the steps per
//! submission, and every binding checked against the device's limits before any buffer is
//! made (an error there names the buffer and the fix).

use anyhow::{bail, Result};

use super::layout::ParamLayout;
use super::spec::TrainerSpec;
use crate::data::{DataSet, CLASSES};
use crate::gpu::context::Gpu;
use crate::rule::Rule;

/// Bytes the activations of all runs may take together: the evaluation runs in chunks of
/// fewer rows when there are many runs (whatever the chunks, the numbers are the same), but
/// never fewer than a minibatch.
const ACTIVATION_BUDGET: usize = 1 << 30;

/// Runs that share one dispatch of every kernel: each run's part of a per-run buffer starts
/// `stride` bytes after the previous one's (shaders/common/runs.wgsl).
pub(super) fn run_stride(bytes: usize) -> u64 {
    (bytes as u64).max(4).next_multiple_of(256)
}

/// What shrinks the parameters, and what shrinks the activations.
pub(super) const ARCH: &str = "a smaller --arch or fewer --concurrent runs";
const ROWS: &str = "a smaller --batch or --arch, or fewer --concurrent runs";

/// The largest storage binding the device allows.
fn max_binding(gpu: &Gpu) -> usize {
    gpu.limits
        .max_storage_buffer_binding_size
        .min(gpu.limits.max_buffer_size) as usize
}

/// The most runs that fit one trainer for minibatches of `batch` rows, these layer widths
/// and `n_train` training examples: every per-run buffer (activations, parameters and a
/// temporal rule's three-gradient history, the per-example labels, losses and hits) holds
/// all runs' parts within one binding, and all the runs' activations stay within the
/// budget. At least 1 (whether one run fits is for the trainer to say).
pub fn max_runs(gpu: &Gpu, widths: &[usize], batch: usize, n_train: usize) -> usize {
    let widest = widths.iter().copied().max().unwrap_or(1);
    let all: usize = widths.iter().sum();
    let params = if widths.len() >= 2 {
        ParamLayout::new(widths).total
    } else {
        0
    };
    let largest_part = [batch * widest * 4, 3 * params * 4, n_train * 4]
        .into_iter()
        .map(|bytes| run_stride(bytes) as usize)
        .max()
        .unwrap_or(256);
    let by_binding = max_binding(gpu) / largest_part;
    let by_budget = ACTIVATION_BUDGET / (batch * all * 4).max(1);
    by_binding.min(by_budget).max(1)
}

/// Checks, before any host memory is spent on them, that `runs` networks of these widths fit
/// the device: their parameters in one binding. (`--arch 2x60000` would otherwise allocate
/// 15 GB of initial weights on the host first.) The activations need no check here: a
/// minibatch too large for one binding runs in row chunks ([`Capacity::new`]).
pub fn check_widths(gpu: &Gpu, widths: &[usize], runs: usize) -> Result<()> {
    if let Some(w) = widths.iter().find(|&&w| w > 65535) {
        bail!("--arch: layer width {w} is over 65535, the most one dispatch dimension covers");
    }
    let params = ParamLayout::new(widths).total as u64 * 4;
    let what = "the parameters (--arch)";
    gpu.check_binding(what, params.saturating_mul(runs as u64), ARCH)
}

/// The sizes a trainer is built with.
pub(super) struct Capacity {
    /// Rows per dispatch chain: the activation buffers serve the training chunks and the
    /// evaluation chunks.
    pub rows: usize,
    /// Rows per training chunk, and chunks per minibatch.
    pub chunk: usize,
    pub n_chunks: usize,
    /// Steps per submission (each half of the per-step uniform slots).
    pub slots: usize,
}

impl Capacity {
    /// Checks the runs against the data and the device, and sizes the trainer (the
    /// bindings are checked by [`Capacity::check_bindings`], after the selection kernels,
    /// whose errors name the more useful fix).
    pub fn new(
        gpu: &Gpu,
        layout: &ParamLayout,
        spec: &TrainerSpec,
        rules: &[Rule],
        data: &DataSet,
    ) -> Result<Self> {
        let runs = rules.len();
        let dim = data.input_dim();
        if layout.widths[0] != dim || *layout.widths.last().expect("widths") != CLASSES {
            bail!(
                "network widths {:?} do not fit the data ({dim} inputs, {CLASSES} classes)",
                layout.widths
            );
        }
        if let Some(w) = layout.widths.iter().find(|&&w| w > 65535) {
            bail!("layer width {w} is over 65535, the most one dispatch dimension covers");
        }
        // a zero-width layer would underflow index arithmetic in the kernels
        if layout.widths.contains(&0) {
            bail!(
                "network widths {:?}: every layer needs at least one unit",
                layout.widths
            );
        }
        let b = spec.batch;
        if b == 0 || b > 65535 {
            bail!("--batch {b}: must be in 1..=65535");
        }
        // Rows per dispatch chain: as many as the device can bind for the widest layer. A
        // minibatch larger than that is processed in row chunks whose mean gradients are
        // accumulated (in chunk order, so still deterministic); the per-example rules need all
        // of a minibatch at once. (And all runs' activations together within the budget.)
        let widest = *layout.widths.iter().max().expect("widths");
        let all_widths: usize = layout.widths.iter().sum();
        let rows = spec
            .eval_chunk
            .clamp(1, 65535)
            .min((max_binding(gpu) / runs).saturating_sub(256) / (widest * 4))
            .min((ACTIVATION_BUDGET / (runs * all_widths * 4)).max(b));
        if rows == 0 {
            bail!("a layer of width {widest} does not fit one storage binding on this device");
        }
        let chunk = b.min(rows);
        let n_chunks = b.div_ceil(chunk);
        if let Some(rule) = rules.iter().find(|r| n_chunks > 1 && r.per_example()) {
            bail!(
                "--batch {b} is too large for --rule {rule} on this device{}: robust rules need the whole minibatch in one dispatch (at most {chunk} rows here)",
                if runs > 1 { format!(" with {runs} concurrent runs (try a smaller --concurrent)") } else { String::new() }
            );
        }
        // two halves of `slots` steps each: one being filled while the other runs
        let slots = spec.steps_per_submit.clamp(1, (8_000_000 / (b * 4)).max(1));
        Ok(Capacity {
            rows,
            chunk,
            n_chunks,
            slots,
        })
    }

    /// Every buffer the trainer will make, against the device's binding limit.
    pub fn check_bindings(
        &self,
        gpu: &Gpu,
        layout: &ParamLayout,
        rules: &[Rule],
        data: &DataSet,
        b: usize,
    ) -> Result<()> {
        let runs = rules.len();
        let widest = *layout.widths.iter().max().expect("widths");
        gpu.check_binding(
            "the activations",
            run_stride(self.rows * widest * 4) * runs as u64,
            ROWS,
        )?;
        gpu.check_binding("the parameters", (layout.total * 4 * runs) as u64, ARCH)?;
        gpu.check_binding(
            "the per-example labels, losses and hits",
            run_stride(data.train.n.max(data.test.n) * 4) * runs as u64,
            "a smaller --train-subset or --test-subset, or fewer --concurrent runs",
        )?;
        // (the temporal rules' history is checked where it is made, step::Aggregation)
        let subset = "a smaller --train-subset or --test-subset";
        gpu.check_binding(
            "the training images",
            data.train.pixels.len() as u64,
            subset,
        )?;
        gpu.check_binding("the test images", data.test.pixels.len() as u64, subset)?;
        gpu.check_binding(
            "the minibatch indices",
            (2 * self.slots * runs * b * 4) as u64,
            "a smaller --batch or fewer --concurrent runs",
        )
    }
}
