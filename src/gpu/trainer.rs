//! The training step and the evaluation on the GPU, as prebuilt lists of dispatches.
//!
//! All buffers and bind groups are created once. A training step is a fixed list of
//! dispatches; the only thing that changes between steps is which per-step uniform slot the
//! gather and the batch statistics use (a dynamic offset), so a submission of K steps is the
//! same list recorded K times after one upload of the K minibatches' indices.

use anyhow::{bail, Context, Result};

use super::context::Gpu;
use super::kernels::{
    step_buffer, step_bytes, Dispatch, Epilogue, GatherFrom, Kernels, MatmulParams, Slice,
    StepInfo, TemporalCombine, Work, STEP_STRIDE,
};
use super::select::Selection;
use crate::data::{DataSet, CLASSES};
use crate::model::{Layer, Params};
use crate::rule::{Rule, Select};

/// Where each layer's parameters live in the flat parameter (and gradient) buffer: the
/// weights (out x in, row-major) followed by the biases, each layer starting on a 256-byte
/// boundary so it can be bound on its own.
#[derive(Debug, Clone)]
pub struct ParamLayout {
    pub widths: Vec<usize>,
    /// Start of each layer's segment, in floats.
    pub offsets: Vec<usize>,
    pub total: usize,
}

impl ParamLayout {
    pub fn new(widths: &[usize]) -> Self {
        let mut offsets = Vec::new();
        let mut at = 0;
        for p in widths.windows(2) {
            offsets.push(at);
            at += (p[1] * (p[0] + 1)).next_multiple_of(64);
        }
        ParamLayout {
            widths: widths.to_vec(),
            offsets,
            total: at,
        }
    }

    pub fn layers(&self) -> usize {
        self.widths.len() - 1
    }

    /// (fan_in, fan_out) of layer l.
    pub fn fans(&self, l: usize) -> (usize, usize) {
        (self.widths[l], self.widths[l + 1])
    }

    /// Layer l's segment as a bindable slice of `buf`.
    pub fn segment<'a>(&self, buf: &'a wgpu::Buffer, l: usize) -> Slice<'a> {
        let (fi, fo) = self.fans(l);
        Slice::range(buf, self.offsets[l] as u64 * 4, (fo * (fi + 1)) as u64 * 4)
    }

    pub fn flatten(&self, p: &Params) -> Vec<f32> {
        let mut flat = vec![0.0f32; self.total];
        for (l, layer) in p.layers.iter().enumerate() {
            let o = self.offsets[l];
            flat[o..o + layer.w.len()].copy_from_slice(&layer.w);
            let ob = o + layer.w.len();
            flat[ob..ob + layer.b.len()].copy_from_slice(&layer.b);
        }
        flat
    }

    pub fn unflatten(&self, flat: &[f32]) -> Params {
        let layers = (0..self.layers())
            .map(|l| {
                let (fan_in, fan_out) = self.fans(l);
                let o = self.offsets[l];
                let nw = fan_in * fan_out;
                Layer {
                    fan_in,
                    fan_out,
                    w: flat[o..o + nw].to_vec(),
                    b: flat[o + nw..o + nw + fan_out].to_vec(),
                }
            })
            .collect();
        Params { layers }
    }
}

/// Packs bytes four to a u32 word (little-endian), the layout the gather shader reads.
pub fn pack_bytes(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect()
}

/// What one run of a trainer brings: its (possibly noisy) training labels, its initial
/// parameters and its aggregation rule. Everything else in [`TrainerSpec`] is shared.
#[derive(Clone, Copy)]
pub struct RunInit<'a> {
    pub labels: &'a [u8],
    pub init: &'a Params,
    pub rule: Rule,
}

/// What the runs of a trainer share besides the data.
#[derive(Debug, Clone)]
pub struct TrainerSpec {
    pub batch: usize,
    /// Which selection path a selecting rule uses.
    pub select: Select,
    pub lr: f32,
    /// Rows per evaluation dispatch chain.
    pub eval_chunk: usize,
    /// Training steps recorded into one submission (fewer if the indices would not fit).
    pub steps_per_submit: usize,
    /// Also build the passes of [`GpuTrainer::coherence`].
    pub coherence: bool,
}

/// Per-example quantities over the whole training set, one vector per layer (each
/// `n_train` long), from [`GpuTrainer::coherence`].
pub struct PerExample {
    /// g_e . G for layer l's weights and biases, G the summed gradient of the training set.
    pub dot: Vec<Vec<f32>>,
    /// ||d_e||^2 of layer l's output errors.
    pub d_sq: Vec<Vec<f32>>,
    /// ||a_e||^2 of layer l's inputs.
    pub a_sq: Vec<Vec<f32>>,
}

/// The two passes over the training set behind [`GpuTrainer::coherence`].
struct CoherencePasses {
    /// Pass 1: the summed gradient G of all examples, and the per-example norms.
    grad: Vec<Dispatch>,
    /// Pass 2: per-example dot products with G.
    dots: Vec<Dispatch>,
    dot: Vec<wgpu::Buffer>,
    d_sq: Vec<wgpu::Buffer>,
    a_sq: Vec<wgpu::Buffer>,
    _keep: Vec<wgpu::Buffer>,
}

/// Per-example evaluation results over both splits.
pub struct Evaluation {
    pub train_loss: Vec<f32>,
    pub train_correct: Vec<u32>,
    pub test_loss: Vec<f32>,
    pub test_correct: Vec<u32>,
}

/// One timed dispatch: its kernel's name, its work and its GPU interval in seconds.
pub type Timed = (&'static str, Work, std::ops::Range<f64>);

/// Bytes the activations of all runs may take together: the evaluation runs in chunks of
/// fewer rows when there are many runs (whatever the chunks, the numbers are the same), but
/// never fewer than a minibatch.
const ACTIVATION_BUDGET: usize = 1 << 30;

/// The most runs that fit one trainer for minibatches of `batch` rows, these layer widths
/// and `n_train` training examples: every per-run buffer (activations, parameters and a
/// temporal rule's three-gradient history, the per-example labels, losses and hits) holds
/// all runs' parts within one binding, and all the runs' activations stay within the
/// budget. At least 1 (whether one run fits is for [`GpuTrainer::new_runs`] to say).
pub fn max_runs(gpu: &Gpu, widths: &[usize], batch: usize, n_train: usize) -> usize {
    let max_bind = gpu
        .limits
        .max_storage_buffer_binding_size
        .min(gpu.limits.max_buffer_size) as usize;
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
    let by_binding = max_bind / largest_part;
    let by_budget = ACTIVATION_BUDGET / (batch * all * 4).max(1);
    by_binding.min(by_budget).max(1)
}

/// Runs that share one dispatch of every kernel: each run's part of a per-run buffer starts
/// `stride` bytes after the previous one's (shaders/runs.wgsl).
fn run_stride(bytes: usize) -> u64 {
    (bytes as u64).max(4).next_multiple_of(256)
}

/// A buffer holding one part per run.
struct Stacked {
    buf: wgpu::Buffer,
    stride: u64,
    runs: usize,
}

impl Stacked {
    fn new(gpu: &Gpu, label: &str, bytes: usize, runs: usize) -> Self {
        let stride = run_stride(bytes);
        Stacked {
            buf: gpu.storage(label, stride * runs as u64),
            stride,
            runs,
        }
    }
    fn init(gpu: &Gpu, label: &str, parts: &[Vec<u8>]) -> Self {
        let stride = run_stride(parts.iter().map(Vec::len).max().unwrap_or(0));
        let mut all = vec![0u8; stride as usize * parts.len()];
        for (i, p) in parts.iter().enumerate() {
            all[i * stride as usize..][..p.len()].copy_from_slice(p);
        }
        Stacked {
            buf: gpu.storage_init(label, &all),
            stride,
            runs: parts.len(),
        }
    }
    /// Every run's part.
    fn all(&self) -> Slice<'_> {
        Slice::runs(&self.buf, self.stride)
    }
    /// The parts of runs `first..`.
    fn from(&self, first: usize) -> Slice<'_> {
        Slice {
            offset: first as u64 * self.stride,
            ..self.all()
        }
    }
    /// Layer l's segment of each run's parameters (or gradients), from run `first` on.
    fn segment(&self, layout: &ParamLayout, l: usize, first: usize) -> Slice<'_> {
        let s = layout.segment(&self.buf, l);
        let rest = (self.runs - first - 1) as u64 * self.stride;
        Slice {
            offset: s.offset + first as u64 * self.stride,
            size: s.size.map(|z| z + rest),
            ..s
        }
        .per_run(self.stride)
    }
    /// Element offset of run `run`'s part.
    fn at(&self, run: usize) -> u64 {
        run as u64 * self.stride / 4
    }
}

/// Runs that share a rule, and so the aggregation kernels: runs `first..first + count`.
struct RuleGroup {
    first: usize,
    count: usize,
    rule: Rule,
}

/// Splits runs into groups of consecutive runs with the same rule.
fn rule_groups(rules: &[Rule]) -> Vec<RuleGroup> {
    let mut groups: Vec<RuleGroup> = Vec::new();
    for (i, &rule) in rules.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if g.rule == rule => g.count += 1,
            _ => groups.push(RuleGroup {
                first: i,
                count: 1,
                rule,
            }),
        }
    }
    groups
}

pub struct GpuTrainer<'g> {
    gpu: &'g Gpu,
    pub layout: ParamLayout,
    pub spec: TrainerSpec,
    /// Runs trained together (each with its own weights, labels, rule and minibatches).
    pub runs: usize,
    n_train: usize,
    n_test: usize,
    params: Stacked,
    indices: wgpu::Buffer,
    /// The per-step uniforms (slot, index base, step number).
    steps: wgpu::Buffer,
    /// Training steps run so far (the temporal rules need the step number).
    steps_done: std::cell::Cell<u64>,
    stats: wgpu::Buffer,
    /// Mappable copies of the two halves of `stats`.
    staging: [wgpu::Buffer; 2],
    eval_loss: [Stacked; 2],
    eval_correct: [Stacked; 2],
    /// Steps per submission (each half of the per-step uniform slots).
    pub slots: usize,
    step: Vec<Dispatch>,
    eval: Vec<Dispatch>,
    coherence: Option<CoherencePasses>,
    // Buffers only referenced by bind groups are kept here so their lifetime is obvious.
    _keep: Vec<wgpu::Buffer>,
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
    /// numbers are bit-identical to training it alone.
    pub fn new_runs(
        gpu: &'g Gpu,
        kernels: &Kernels,
        data: &DataSet,
        run_inits: &[RunInit<'_>],
        spec: TrainerSpec,
    ) -> Result<Self> {
        let Some(first) = run_inits.first() else {
            bail!("a trainer needs at least one run");
        };
        let runs = run_inits.len();
        let layout = ParamLayout::new(&first.init.widths());
        if run_inits.iter().any(|r| r.init.widths() != layout.widths) {
            bail!("runs trained together must have the same network widths");
        }
        if runs > 1 && spec.coherence {
            bail!("the coherence measurements run one run at a time (--concurrent 1)");
        }
        if let Some(r) = run_inits.iter().find(|r| r.labels.len() != data.train.n) {
            bail!(
                "{} training labels for {} training examples",
                r.labels.len(),
                data.train.n
            );
        }
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
        let b = spec.batch;
        if b == 0 || b > 65535 {
            bail!("--batch {b}: must be in 1..=65535");
        }
        // Rows per dispatch chain: as many as the device can bind for the widest layer. A
        // minibatch larger than that is processed in row chunks whose mean gradients are
        // accumulated (in chunk order, so still deterministic); the per-example rules need all
        // of a minibatch at once.
        let widest = *layout.widths.iter().max().expect("widths");
        let max_bind = gpu
            .limits
            .max_storage_buffer_binding_size
            .min(gpu.limits.max_buffer_size) as usize;
        // (and all runs' activations together within ACTIVATION_BUDGET)
        let all_widths: usize = layout.widths.iter().sum();
        let rows_cap = spec
            .eval_chunk
            .clamp(1, 65535)
            .min((max_bind / runs).saturating_sub(256) / (widest * 4))
            .min((ACTIVATION_BUDGET / (runs * all_widths * 4)).max(b));
        if rows_cap == 0 {
            bail!("a layer of width {widest} does not fit one storage binding on this device");
        }
        let chunk = b.min(rows_cap);
        let n_chunks = b.div_ceil(chunk);
        let rules: Vec<Rule> = run_inits.iter().map(|r| r.rule).collect();
        if let Some(rule) = rules.iter().find(|r| n_chunks > 1 && r.per_example()) {
            bail!(
                "--batch {b} is too large for --rule {rule} on this device{}: robust rules need the whole minibatch in one dispatch (at most {chunk} rows here)",
                if runs > 1 { format!(" with {runs} concurrent runs (try a smaller --concurrent)") } else { String::new() }
            );
        }
        // Per group of runs with one rule, the per-example kernel if the rule needs one (its
        // errors name the fix). On a CPU adapter (lavapipe) the streaming kernel also sums the
        // gradient of the mean and temporal rules faster than the matrix product does
        // (BENCHMARKS.md), when the minibatch is one chunk.
        let groups = rule_groups(&rules);
        let selections = groups
            .iter()
            .map(|g| {
                Ok(if g.rule.per_example() {
                    Some(Selection::new(gpu, &g.rule, b, spec.select)?)
                } else if n_chunks == 1 && gpu.info.device_type == wgpu::DeviceType::Cpu {
                    Some(Selection::new(gpu, &Rule::Mean, b, Select::Partial)?)
                } else {
                    None
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // The first layer's inputs are pixels, mostly zero: on a CPU adapter the partial path
        // skips them (select_partial_cols.wgsl; measured in BENCHMARKS.md, not on GPUs).
        // WINSOR_SPARSE_INPUTS=0 or 1 overrides the choice.
        let sparse_pixels = match std::env::var("WINSOR_SPARSE_INPUTS").as_deref() {
            Ok("0") => false,
            Ok("1") => true,
            _ => gpu.info.device_type == wgpu::DeviceType::Cpu,
        };
        // the activation buffers serve both the training chunks and the evaluation chunks
        let rows = rows_cap;
        gpu.check_binding(
            "the activations",
            run_stride(rows * widest * 4) * runs as u64,
        )?;
        gpu.check_binding("the parameters", (layout.total * 4 * runs) as u64)?;
        gpu.check_binding(
            "the per-example labels, losses and hits",
            run_stride(data.train.n.max(data.test.n) * 4) * runs as u64,
        )?;
        // one history buffer per temporal rule group, holding that group's runs
        for g in groups
            .iter()
            .filter(|g| matches!(g.rule, Rule::Temporal(_)))
        {
            gpu.check_binding(
                "the temporal rules' gradient history",
                (3 * layout.total * 4 * g.count) as u64,
            )?;
        }
        gpu.check_binding("the training images", data.train.pixels.len() as u64)?;
        gpu.check_binding("the test images", data.test.pixels.len() as u64)?;
        // two halves of `slots` steps each: one being filled while the other runs
        let slots = spec.steps_per_submit.clamp(1, (8_000_000 / (b * 4)).max(1));
        gpu.check_binding("the minibatch indices", (2 * slots * runs * b * 4) as u64)?;

        let f32s = |n: usize| (n * 4) as u64;
        let train_px = gpu.storage_init(
            "train pixels",
            bytemuck::cast_slice(&pack_bytes(&data.train.pixels)),
        );
        let test_px = gpu.storage_init(
            "test pixels",
            bytemuck::cast_slice(&pack_bytes(&data.test.pixels)),
        );
        let u32s = |v: &[u8]| -> Vec<u8> {
            bytemuck::cast_slice(&v.iter().map(|&x| x as u32).collect::<Vec<u32>>()).to_vec()
        };
        // every run's training labels; the test labels are shared (stride 0)
        let train_lab = Stacked::init(
            gpu,
            "train labels",
            &run_inits.iter().map(|r| u32s(r.labels)).collect::<Vec<_>>(),
        );
        let test_lab = gpu.storage_init("test labels", &u32s(&data.test.labels));
        // layer segments are whole multiples of 256 bytes, so the runs' parameters abut
        let params = Stacked::init(
            gpu,
            "params",
            &run_inits
                .iter()
                .map(|r| bytemuck::cast_slice(&layout.flatten(r.init)).to_vec())
                .collect::<Vec<_>>(),
        );
        debug_assert_eq!(params.stride, f32s(layout.total));
        let grads = Stacked::new(gpu, "grads", layout.total * 4, runs);
        // minibatch indices by slot, then run: a step's runs read consecutive ranges
        let indices = gpu.storage("indices", (2 * slots * runs * b * 4) as u64);
        let steps = step_buffer(gpu, 2 * slots as u32, (runs * b) as u32);
        // per slot, every run's (loss, correct) pair
        let stats = gpu.storage("stats", (2 * slots * runs * 8) as u64);
        let staging = [0, 1].map(|_| {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("step statistics"),
                size: (slots * runs * 8) as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        let x = Stacked::new(gpu, "x", rows * dim * 4, runs);
        let row_labels = Stacked::new(gpu, "row labels", rows * 4, runs);
        let n_layers = layout.layers();
        let acts: Vec<Stacked> = (1..=n_layers)
            .map(|l| Stacked::new(gpu, "activations", rows * layout.widths[l] * 4, runs))
            .collect();
        let deltas: Vec<Stacked> = (1..=n_layers)
            .map(|l| Stacked::new(gpu, "errors", chunk * layout.widths[l] * 4, runs))
            .collect();
        let loss_rows = Stacked::new(gpu, "batch loss", b * 4, runs);
        let correct_rows = Stacked::new(gpu, "batch correct", b * 4, runs);
        let scratch = gpu.storage("scratch", 16);
        let n_train = data.train.n;
        let n_test = data.test.n;
        let eval_loss = [
            Stacked::new(gpu, "train loss", n_train * 4, runs),
            Stacked::new(gpu, "test loss", n_test * 4, runs),
        ];
        let eval_correct = [
            Stacked::new(gpu, "train correct", n_train * 4, runs),
            Stacked::new(gpu, "test correct", n_test * 4, runs),
        ];
        let n_runs = runs as u32;

        let input_of = |l: usize| if l == 0 { &x } else { &acts[l - 1] };
        // The three matrix products of a layer l over r rows, shared by training, evaluation
        // and the coherence passes:
        // z = a W^T + b from the layer's inputs and the weights (or gradient) segment `w`, for
        // every run; (the first layer's pixels are mostly zero: on a CPU adapter its product
        // skips them)
        let dense = |l: usize,
                     r: usize,
                     w: Slice<'_>,
                     out: Slice<'_>,
                     epilogue: Epilogue|
         -> Vec<Dispatch> {
            let (fi, fo) = layout.fans(l);
            let p = MatmulParams {
                m: r as u32,
                n: fo as u32,
                k: fi as u32,
                a_rs: fi as u32,
                a_cs: 1,
                b_rs: 1,
                b_cs: fi as u32,
                bias_off: (fo * fi) as u32,
                ..Default::default()
            };
            let a = input_of(l).all();
            if l == 0 && sparse_pixels {
                if let Some(pair) = kernels
                    .matmul
                    .bind_sparse(gpu, epilogue, a, w, out, p, n_runs)
                {
                    return pair.into();
                }
            }
            vec![kernels
                .matmul
                .bind(gpu, epilogue, a, w, a, out, p)
                .across(n_runs)]
        };
        // scale * (d^T a, sum of d) into the gradient segment `seg`, added to what is there
        // if `accumulate` (row chunks after the first), for the `count` runs d, a and seg
        // start at;
        #[allow(clippy::too_many_arguments)]
        let grad_sum = |l: usize,
                        r: usize,
                        d: Slice<'_>,
                        a: Slice<'_>,
                        seg: Slice<'_>,
                        scale: f32,
                        accumulate: bool,
                        count: usize|
         -> [Dispatch; 2] {
            let (fi, fo) = layout.fans(l);
            [
                kernels
                    .matmul
                    .bind(
                        gpu,
                        if accumulate {
                            Epilogue::ScaleAdd
                        } else {
                            Epilogue::Scale
                        },
                        d,
                        a,
                        d,
                        seg,
                        MatmulParams {
                            m: fo as u32,
                            n: fi as u32,
                            k: r as u32,
                            a_rs: 1,
                            a_cs: fo as u32,
                            b_rs: fi as u32,
                            b_cs: 1,
                            scale,
                            ..Default::default()
                        },
                    )
                    .across(count as u32),
                kernels
                    .bias_grad
                    .bind(
                        gpu,
                        d,
                        seg,
                        r as u32,
                        fo as u32,
                        (fo * fi) as u32,
                        scale,
                        accumulate,
                    )
                    .across(count as u32),
            ]
        };
        // and the errors of layer l-1 from those of layer l, masked by relu', for every run.
        let backprop = |l: usize, r: usize, d: &Stacked, d_prev: &Stacked| {
            let (fi, fo) = layout.fans(l);
            kernels
                .matmul
                .bind(
                    gpu,
                    Epilogue::MaskPositive,
                    d.all(),
                    params.segment(&layout, l, 0),
                    acts[l - 1].all(),
                    d_prev.all(),
                    MatmulParams {
                        m: r as u32,
                        n: fi as u32,
                        k: fo as u32,
                        a_rs: fo as u32,
                        a_cs: 1,
                        b_rs: fi as u32,
                        b_cs: 1,
                        ..Default::default()
                    },
                )
                .across(n_runs)
        };
        /// Where a chain of rows scores its predictions.
        struct Scores<'a> {
            /// Some(d): training, the error softmax - onehot is written to d.
            d: Option<Slice<'a>>,
            loss: Slice<'a>,
            correct: Slice<'a>,
        }
        // The chain shared by training and evaluation for `r` rows starting at row `base`, for
        // every run: gather, forward (layer l reads input_of(l), writes acts[l]), softmax
        // cross-entropy.
        let rows_chain = |from: GatherFrom<'_>,
                          px: &wgpu::Buffer,
                          lab: Slice<'_>,
                          r: usize,
                          base: usize,
                          scores: Scores<'_>,
                          out: &mut Vec<Dispatch>| {
            out.push(
                kernels
                    .gather
                    .bind(
                        gpu,
                        px,
                        lab,
                        from,
                        x.all(),
                        row_labels.all(),
                        r as u32,
                        dim as u32,
                    )
                    .across(n_runs),
            );
            for (l, act) in acts.iter().enumerate() {
                let epilogue = if l + 1 == n_layers {
                    Epilogue::Bias
                } else {
                    Epilogue::BiasRelu
                };
                out.extend(dense(
                    l,
                    r,
                    params.segment(&layout, l, 0),
                    act.all(),
                    epilogue,
                ));
            }
            out.push(
                kernels
                    .softmax
                    .bind(
                        gpu,
                        acts[n_layers - 1].all(),
                        row_labels.all(),
                        scores.d.unwrap_or(Slice::all(&scratch)),
                        scores.d.is_some(),
                        scores.loss,
                        scores.correct,
                        r as u32,
                        CLASSES as u32,
                        base as u32,
                    )
                    .across(n_runs),
            );
        };

        // the temporal rules' history per rule group: the last three mean gradients
        let temporal: Vec<Option<(TemporalCombine, Stacked)>> = groups
            .iter()
            .map(|g| match g.rule {
                Rule::Temporal(t) => Some((
                    TemporalCombine::new(gpu, t),
                    Stacked::new(gpu, "gradient history", 3 * layout.total * 4, g.count),
                )),
                _ => None,
            })
            .collect();

        // A group with a per-example rule (winsor, trim, median, the sign rules) applies the
        // SGD step in its selection kernel, in place on the parameters, instead of storing
        // the update for a separate SGD dispatch. Measured on lavapipe (BENCHMARKS.md): faster
        // for winsor, slower for mean (whose streaming sum on CPU adapters is cheap, so the
        // finish's extra load costs more than the SGD dispatch it saves), so mean and the
        // temporal rules keep the SGD dispatch. WINSOR_FUSED_SGD=0 or 1 overrides the choice.
        let fuse_sgd = std::env::var("WINSOR_FUSED_SGD");
        let fused: Vec<bool> = groups
            .iter()
            .zip(&selections)
            .map(|(g, s)| {
                s.is_some()
                    && match fuse_sgd.as_deref() {
                        Ok("0") => false,
                        Ok("1") => !matches!(g.rule, Rule::Temporal(_)),
                        _ => g.rule.per_example(),
                    }
            })
            .collect();

        // ---- the training step ----
        let mut step = Vec::new();
        for c in 0..n_chunks {
            let base = c * chunk;
            let r = chunk.min(b - base);
            rows_chain(
                GatherFrom::Indices {
                    indices: Slice::runs(&indices, (b * 4) as u64),
                    step: &steps,
                    base: base as u32,
                },
                &train_px,
                train_lab.all(),
                r,
                base,
                Scores {
                    d: Some(deltas[n_layers - 1].all()),
                    loss: loss_rows.all(),
                    correct: correct_rows.all(),
                },
                &mut step,
            );
            for l in (0..n_layers).rev() {
                let (fi, fo) = layout.fans(l);
                // backprop first: a fused aggregation then updates W_l, which backprop reads
                if l > 0 {
                    step.push(backprop(l, r, &deltas[l], &deltas[l - 1]));
                }
                // the aggregation, once per group of runs with the same rule
                for ((g, sel), &fused) in groups.iter().zip(&selections).zip(&fused) {
                    let (d, a) = (deltas[l].from(g.first), input_of(l).from(g.first));
                    let seg = grads.segment(&layout, l, g.first);
                    match sel {
                        // mean: (1/B) d^T a, added chunk by chunk after the first
                        None => {
                            step.extend(grad_sum(l, r, d, a, seg, 1.0 / b as f32, c > 0, g.count))
                        }
                        Some(sel) => {
                            let (seg, update) = if fused {
                                (params.segment(&layout, l, g.first), Some(spec.lr))
                            } else {
                                (seg, None)
                            };
                            step.extend(sel.bind(
                                gpu,
                                d,
                                a,
                                seg,
                                fo as u32,
                                fi as u32,
                                l == 0 && sparse_pixels,
                                g.count as u32,
                                update,
                            ))
                        }
                    }
                }
            }
        }
        step.push(
            kernels
                .batch_stats
                .bind(
                    gpu,
                    loss_rows.all(),
                    correct_rows.all(),
                    &stats,
                    &steps,
                    b as u32,
                )
                .across(n_runs),
        );
        for (g, t) in groups.iter().zip(&temporal) {
            if let Some((combine, hist)) = t {
                step.push(
                    combine
                        .bind(
                            gpu,
                            grads.from(g.first),
                            hist.all(),
                            &steps,
                            layout.total as u32,
                        )
                        .across(g.count as u32),
                );
            }
        }
        // SGD for the groups that did not apply it in their aggregation: one dispatch for all
        // runs when none did
        let sgd = |first: usize, count: usize| {
            kernels
                .sgd
                .bind(
                    gpu,
                    params.from(first),
                    grads.from(first),
                    layout.total as u32,
                    spec.lr,
                )
                .across(count as u32)
        };
        if !fused.iter().any(|&f| f) {
            step.push(sgd(0, runs));
        } else {
            for (g, _) in groups.iter().zip(&fused).filter(|(_, &f)| !f) {
                step.push(sgd(g.first, g.count));
            }
        }

        // ---- evaluation over both splits, in chunks of e rows ----
        let mut eval = Vec::new();
        for (set, (px, lab, n)) in [
            (&train_px, train_lab.all(), n_train),
            (&test_px, Slice::all(&test_lab), n_test),
        ]
        .into_iter()
        .enumerate()
        {
            for base in (0..n).step_by(rows) {
                let r = rows.min(n - base);
                rows_chain(
                    GatherFrom::Range {
                        base: base as u32,
                        step: &steps,
                    },
                    px,
                    lab,
                    r,
                    base,
                    Scores {
                        d: None,
                        loss: eval_loss[set].all(),
                        correct: eval_correct[set].all(),
                    },
                    &mut eval,
                );
            }
        }

        // ---- the coherence passes over the training set, in chunks of `rows` ----
        let coherence = if spec.coherence {
            let n = n_train;
            let per_layer = |what: &'static str| -> Vec<wgpu::Buffer> {
                (0..n_layers).map(|_| gpu.storage(what, f32s(n))).collect()
            };
            let (dot, d_sq, a_sq) = (
                per_layer("per-example dot"),
                per_layer("per-example |d|^2"),
                per_layer("per-example |a|^2"),
            );
            let gsum = gpu.storage("summed gradient", f32s(layout.total));
            let cdeltas: Vec<Stacked> = (1..=n_layers)
                .map(|l| Stacked::new(gpu, "coherence errors", rows * layout.widths[l] * 4, 1))
                .collect();
            let u = gpu.storage("G a", f32s(rows * widest));
            let mut grad = Vec::new();
            let mut dots = Vec::new();
            // With one chunk, pass 2 finds every layer's inputs and errors still in place
            // from pass 1 and skips the forward and backward products (a third of the
            // measurement on lavapipe; BENCHMARKS.md).
            let one_chunk = n <= rows;
            for (c, base) in (0..n).step_by(rows).enumerate() {
                let r = rows.min(n - base);
                for (pass, list) in [&mut grad, &mut dots].into_iter().enumerate() {
                    let recompute = pass == 0 || !one_chunk;
                    if recompute {
                        rows_chain(
                            GatherFrom::Range {
                                base: base as u32,
                                step: &steps,
                            },
                            &train_px,
                            train_lab.all(),
                            r,
                            base,
                            Scores {
                                d: Some(cdeltas[n_layers - 1].all()),
                                loss: eval_loss[0].all(),
                                correct: eval_correct[0].all(),
                            },
                            list,
                        );
                    }
                    for l in (0..n_layers).rev() {
                        let (fi, fo) = layout.fans(l);
                        let seg = layout.segment(&gsum, l);
                        let rd = &kernels.row_dot;
                        let (rr, base) = (r as u32, base as u32);
                        if pass == 0 {
                            // G += d^T a and the bias sums, chunk by chunk in order
                            let (d, a) = (cdeltas[l].all(), input_of(l).all());
                            list.extend(grad_sum(l, r, d, a, seg, 1.0, c > 0, 1));
                            list.push(rd.bind(gpu, d, d, &d_sq[l], rr, fo as u32, base));
                            list.push(rd.bind(gpu, a, a, &a_sq[l], rr, fi as u32, base));
                        } else {
                            // u = G_W a_e + G_b, then d_e . u
                            list.extend(dense(l, r, seg, Slice::all(&u), Epilogue::Bias));
                            let d = cdeltas[l].all();
                            list.push(rd.bind(gpu, d, &u, &dot[l], rr, fo as u32, base));
                        }
                        if l > 0 && recompute {
                            list.push(backprop(l, r, &cdeltas[l], &cdeltas[l - 1]));
                        }
                    }
                }
            }
            let mut keep = vec![gsum, u];
            keep.extend(cdeltas.into_iter().map(|s| s.buf));
            Some(CoherencePasses {
                grad,
                dots,
                dot,
                d_sq,
                a_sq,
                _keep: keep,
            })
        } else {
            None
        };

        // buffer creation errors (out of memory) surface here rather than mid-run
        gpu.wait()?;
        let mut keep = vec![train_px, test_px, train_lab.buf, test_lab, grads.buf, x.buf];
        keep.extend([row_labels.buf, loss_rows.buf, correct_rows.buf, scratch]);
        keep.extend(temporal.into_iter().flatten().map(|(_, hist)| hist.buf));
        keep.extend(acts.into_iter().map(|s| s.buf));
        keep.extend(deltas.into_iter().map(|s| s.buf));
        Ok(GpuTrainer {
            gpu,
            layout,
            spec,
            runs,
            n_train,
            n_test,
            params,
            indices,
            steps,
            steps_done: std::cell::Cell::new(0),
            stats,
            staging,
            eval_loss,
            eval_correct,
            slots,
            step,
            eval,
            coherence,
            _keep: keep,
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
        if let Some(&i) = batches
            .iter()
            .flatten()
            .find(|&&i| i as usize >= self.n_train)
        {
            bail!(
                "minibatch index {i} is outside the {} training examples",
                self.n_train
            );
        }
        let mut out = Vec::with_capacity(batches.len());
        let mut pending: Option<(usize, usize, wgpu::SubmissionIndex)> = None;
        for (g, group) in batches.chunks(self.slots).enumerate() {
            let half = g % 2;
            let first_slot = half * self.slots;
            let flat: Vec<u32> = group.iter().flatten().copied().collect();
            self.gpu.queue.write_buffer(
                &self.indices,
                (first_slot * b * 4) as u64,
                bytemuck::cast_slice(&flat),
            );
            let t0 = self.steps_done.get();
            let infos: Vec<StepInfo> = (0..group.len())
                .map(|s| StepInfo::new((first_slot + s) as u32, b as u32, (t0 + s as u64) as u32))
                .collect();
            self.gpu.queue.write_buffer(
                &self.steps,
                first_slot as u64 * STEP_STRIDE,
                &step_bytes(&infos),
            );
            self.steps_done.set(t0 + group.len() as u64);
            let mut enc = self.gpu.device.create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                for s in 0..group.len() {
                    for d in &self.step {
                        d.record(&mut pass, (first_slot + s) as u32);
                    }
                }
            }
            let pair = 8 * self.runs;
            enc.copy_buffer_to_buffer(
                &self.stats,
                (first_slot * pair) as u64,
                &self.staging[half],
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
        let staging = &self.staging[half];
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
        super::run(self.gpu, &refs)?;
        let g = self.gpu;
        let (loss, correct) = (&self.eval_loss, &self.eval_correct);
        let (n_train, n_test) = (self.n_train, self.n_test);
        (0..self.runs)
            .map(|r| {
                Ok(Evaluation {
                    train_loss: g.read_f32(&loss[0].buf, loss[0].at(r), n_train)?,
                    train_correct: g.read_u32(&correct[0].buf, correct[0].at(r), n_train)?,
                    test_loss: g.read_f32(&loss[1].buf, loss[1].at(r), n_test)?,
                    test_correct: g.read_u32(&correct[1].buf, correct[1].at(r), n_test)?,
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
        // pass 1 completes G before pass 2 reads it (one submission each)
        super::run(self.gpu, &c.grad.iter().collect::<Vec<_>>())?;
        super::run(self.gpu, &c.dots.iter().collect::<Vec<_>>())?;
        let read = |bufs: &[wgpu::Buffer]| -> Result<Vec<Vec<f32>>> {
            bufs.iter()
                .map(|b| self.gpu.read_f32(b, 0, self.n_train))
                .collect()
        };
        Ok(PerExample {
            dot: read(&c.dot)?,
            d_sq: read(&c.d_sq)?,
            a_sq: read(&c.a_sq)?,
        })
    }

    /// The parameters (one run).
    pub fn params(&self) -> Result<Params> {
        self.single()?;
        self.params_of(0)
    }

    /// Run `run`'s parameters.
    pub fn params_of(&self, run: usize) -> Result<Params> {
        let at = self.params.at(run);
        let flat = self.gpu.read_f32(&self.params.buf, at, self.layout.total)?;
        Ok(self.layout.unflatten(&flat))
    }

    /// Wall time of each dispatch of one training step on `batch` (every run's minibatch),
    /// each submitted and waited for on its own: a coarse per-kernel profile that needs no timestamp queries.
    pub fn profile_step(&self, batch: &[u32]) -> Result<Vec<(&'static str, f64)>> {
        self.gpu
            .queue
            .write_buffer(&self.indices, 0, bytemuck::cast_slice(batch));
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
        let mut out = Vec::new();
        for group in batches.chunks(self.slots) {
            let flat: Vec<u32> = group.iter().flatten().copied().collect();
            self.gpu
                .queue
                .write_buffer(&self.indices, 0, bytemuck::cast_slice(&flat));
            let t0 = self.steps_done.get();
            let infos: Vec<StepInfo> = (0..group.len())
                .map(|s| StepInfo::new(s as u32, b as u32, (t0 + s as u64) as u32))
                .collect();
            self.gpu
                .queue
                .write_buffer(&self.steps, 0, &step_bytes(&infos));
            self.steps_done.set(t0 + group.len() as u64);
            let mut enc = self.gpu.device.create_command_encoder(&Default::default());
            for s in 0..group.len() {
                for d in &self.step {
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
            super::run(self.gpu, &[d])?;
            out.push((d.name, t.elapsed().as_secs_f64()));
        }
        Ok(out)
    }
}
