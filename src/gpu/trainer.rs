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
    StepInfo, TemporalCombine, STEP_STRIDE,
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

/// What the trainer needs to know besides the data and the initial parameters.
#[derive(Debug, Clone)]
pub struct TrainerSpec {
    pub batch: usize,
    pub rule: Rule,
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

pub struct GpuTrainer<'g> {
    gpu: &'g Gpu,
    pub layout: ParamLayout,
    pub spec: TrainerSpec,
    n_train: usize,
    n_test: usize,
    params: wgpu::Buffer,
    indices: wgpu::Buffer,
    /// The per-step uniforms (slot, index base, step number).
    steps: wgpu::Buffer,
    /// Training steps run so far (the temporal rules need the step number).
    steps_done: std::cell::Cell<u64>,
    stats: wgpu::Buffer,
    /// Mappable copies of the two halves of `stats`.
    staging: [wgpu::Buffer; 2],
    eval_loss: [wgpu::Buffer; 2],
    eval_correct: [wgpu::Buffer; 2],
    /// Steps per submission (each half of the per-step uniform slots).
    pub slots: usize,
    step: Vec<Dispatch>,
    eval: Vec<Dispatch>,
    coherence: Option<CoherencePasses>,
    // Buffers only referenced by bind groups are kept here so their lifetime is obvious.
    _keep: Vec<wgpu::Buffer>,
}

impl<'g> GpuTrainer<'g> {
    /// `train_labels`: the (possibly noisy) labels the model is trained and scored against.
    pub fn new(
        gpu: &'g Gpu,
        kernels: &Kernels,
        data: &DataSet,
        train_labels: &[u8],
        init: &Params,
        spec: TrainerSpec,
    ) -> Result<Self> {
        let layout = ParamLayout::new(&init.widths());
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
        let rows_cap = spec.eval_chunk.clamp(1, 65535).min(max_bind / (widest * 4));
        if rows_cap == 0 {
            bail!("a layer of width {widest} does not fit one storage binding on this device");
        }
        let chunk = b.min(rows_cap);
        let n_chunks = b.div_ceil(chunk);
        if n_chunks > 1 && spec.rule.per_example() {
            bail!(
                "--batch {b} is too large for --rule {} on this device: robust rules need the whole minibatch in one dispatch (at most {chunk} rows here)",
                spec.rule
            );
        }
        // The per-example kernel, if the rule needs one (its errors name the fix). On a CPU
        // adapter (lavapipe) the streaming kernel also sums the gradient of the mean and
        // temporal rules faster than the matrix product does (BENCHMARKS.md), when the
        // minibatch is one chunk.
        let selection = if spec.rule.per_example() {
            Some(Selection::new(gpu, &spec.rule, b, spec.select)?)
        } else if n_chunks == 1 && gpu.info.device_type == wgpu::DeviceType::Cpu {
            Some(Selection::new(gpu, &Rule::Mean, b, Select::Partial)?)
        } else {
            None
        };
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
        gpu.check_binding("the activations", (rows * widest * 4) as u64)?;
        gpu.check_binding("the parameters", (layout.total * 4) as u64)?;
        gpu.check_binding("the training images", data.train.pixels.len() as u64)?;
        gpu.check_binding("the test images", data.test.pixels.len() as u64)?;
        // two halves of `slots` steps each: one being filled while the other runs
        let slots = spec.steps_per_submit.clamp(1, (8_000_000 / (b * 4)).max(1));
        gpu.check_binding("the minibatch indices", (2 * slots * b * 4) as u64)?;

        let f32s = |n: usize| (n * 4) as u64;
        let train_px = gpu.storage_init(
            "train pixels",
            bytemuck::cast_slice(&pack_bytes(&data.train.pixels)),
        );
        let test_px = gpu.storage_init(
            "test pixels",
            bytemuck::cast_slice(&pack_bytes(&data.test.pixels)),
        );
        let u32s = |v: &[u8]| v.iter().map(|&x| x as u32).collect::<Vec<u32>>();
        let train_lab = gpu.storage_init("train labels", bytemuck::cast_slice(&u32s(train_labels)));
        let test_lab = gpu.storage_init(
            "test labels",
            bytemuck::cast_slice(&u32s(&data.test.labels)),
        );
        let params = gpu.storage_init("params", bytemuck::cast_slice(&layout.flatten(init)));
        let grads = gpu.storage("grads", f32s(layout.total));
        let indices = gpu.storage("indices", (2 * slots * b * 4) as u64);
        let steps = step_buffer(gpu, 2 * slots as u32, b as u32);
        let stats = gpu.storage("stats", (2 * slots * 8) as u64);
        let staging = [0, 1].map(|_| {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("step statistics"),
                size: (slots * 8) as u64,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        let x = gpu.storage("x", f32s(rows * dim));
        let row_labels = gpu.storage("row labels", (rows * 4) as u64);
        let n_layers = layout.layers();
        let acts: Vec<wgpu::Buffer> = (1..=n_layers)
            .map(|l| gpu.storage("activations", f32s(rows * layout.widths[l])))
            .collect();
        let deltas: Vec<wgpu::Buffer> = (1..=n_layers)
            .map(|l| gpu.storage("errors", f32s(chunk * layout.widths[l])))
            .collect();
        let loss_rows = gpu.storage("batch loss", f32s(b));
        let correct_rows = gpu.storage("batch correct", (b * 4) as u64);
        let scratch = gpu.storage("scratch", 16);
        let n_train = data.train.n;
        let n_test = data.test.n;
        let eval_loss = [
            gpu.storage("train loss", f32s(n_train)),
            gpu.storage("test loss", f32s(n_test)),
        ];
        let eval_correct = [
            gpu.storage("train correct", (n_train * 4) as u64),
            gpu.storage("test correct", (n_test * 4) as u64),
        ];

        let input_of = |l: usize| if l == 0 { &x } else { &acts[l - 1] };
        // The three matrix products of a layer l over r rows, shared by training, evaluation
        // and the coherence passes:
        // z = a W^T + b from the layer's inputs and the weights (or gradient) segment `w`;
        // (the first layer's pixels are mostly zero: on a CPU adapter its product skips them)
        let dense = |l: usize,
                     r: usize,
                     w: Slice<'_>,
                     out: &wgpu::Buffer,
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
            let (a, o) = (Slice::all(input_of(l)), Slice::all(out));
            if l == 0 && sparse_pixels {
                if let Some(pair) = kernels.matmul.bind_sparse(gpu, epilogue, a, w, o, p) {
                    return pair.into();
                }
            }
            vec![kernels.matmul.bind(gpu, epilogue, a, w, a, o, p)]
        };
        // scale * (d^T a, sum of d) into the gradient segment `seg`, added to what is there
        // if `accumulate` (row chunks after the first);
        let grad_sum = |l: usize,
                        r: usize,
                        d: &wgpu::Buffer,
                        seg: Slice<'_>,
                        scale: f32,
                        accumulate: bool|
         -> [Dispatch; 2] {
            let (fi, fo) = layout.fans(l);
            [
                kernels.matmul.bind(
                    gpu,
                    if accumulate {
                        Epilogue::ScaleAdd
                    } else {
                        Epilogue::Scale
                    },
                    Slice::all(d),
                    Slice::all(input_of(l)),
                    Slice::all(d),
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
                ),
                kernels.bias_grad.bind(
                    gpu,
                    d,
                    seg,
                    r as u32,
                    fo as u32,
                    (fo * fi) as u32,
                    scale,
                    accumulate,
                ),
            ]
        };
        // and the errors of layer l-1 from those of layer l, masked by relu'.
        let backprop = |l: usize, r: usize, d: &wgpu::Buffer, d_prev: &wgpu::Buffer| {
            let (fi, fo) = layout.fans(l);
            kernels.matmul.bind(
                gpu,
                Epilogue::MaskPositive,
                Slice::all(d),
                layout.segment(&params, l),
                Slice::all(&acts[l - 1]),
                Slice::all(d_prev),
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
        };
        /// Where a chain of rows scores its predictions.
        struct Scores<'a> {
            /// Some(d): training, the error softmax - onehot is written to d.
            d: Option<&'a wgpu::Buffer>,
            loss: &'a wgpu::Buffer,
            correct: &'a wgpu::Buffer,
        }
        // The chain shared by training and evaluation for `r` rows starting at row `base`:
        // gather, forward (layer l reads input_of(l), writes acts[l]), softmax cross-entropy.
        let rows_chain = |from: GatherFrom<'_>,
                          px: &wgpu::Buffer,
                          lab: &wgpu::Buffer,
                          r: usize,
                          base: usize,
                          scores: Scores<'_>,
                          out: &mut Vec<Dispatch>| {
            out.push(kernels.gather.bind(
                gpu,
                px,
                lab,
                from,
                &x,
                &row_labels,
                r as u32,
                dim as u32,
            ));
            for (l, act) in acts.iter().enumerate() {
                let epilogue = if l + 1 == n_layers {
                    Epilogue::Bias
                } else {
                    Epilogue::BiasRelu
                };
                out.extend(dense(l, r, layout.segment(&params, l), act, epilogue));
            }
            out.push(kernels.softmax.bind(
                gpu,
                &acts[n_layers - 1],
                &row_labels,
                scores.d.unwrap_or(&scratch),
                scores.d.is_some(),
                scores.loss,
                scores.correct,
                r as u32,
                CLASSES as u32,
                base as u32,
            ));
        };

        // the temporal rules' history: the last three mean gradients
        let temporal = match spec.rule {
            Rule::Temporal(t) => Some((
                TemporalCombine::new(gpu, t),
                gpu.storage("gradient history", f32s(3 * layout.total)),
            )),
            _ => None,
        };

        // ---- the training step ----
        let mut step = Vec::new();
        for c in 0..n_chunks {
            let base = c * chunk;
            let r = chunk.min(b - base);
            rows_chain(
                GatherFrom::Indices {
                    indices: &indices,
                    step: &steps,
                    base: base as u32,
                },
                &train_px,
                &train_lab,
                r,
                base,
                Scores {
                    d: Some(&deltas[n_layers - 1]),
                    loss: &loss_rows,
                    correct: &correct_rows,
                },
                &mut step,
            );
            for l in (0..n_layers).rev() {
                let (fi, fo) = layout.fans(l);
                let seg = layout.segment(&grads, l);
                match &selection {
                    // mean: (1/B) d^T a, added chunk by chunk after the first
                    None => step.extend(grad_sum(l, r, &deltas[l], seg, 1.0 / b as f32, c > 0)),
                    Some(sel) => step.extend(sel.bind(
                        gpu,
                        &deltas[l],
                        input_of(l),
                        seg,
                        fo as u32,
                        fi as u32,
                        l == 0 && sparse_pixels,
                    )),
                }
                if l > 0 {
                    step.push(backprop(l, r, &deltas[l], &deltas[l - 1]));
                }
            }
        }
        step.push(kernels.batch_stats.bind(
            gpu,
            &loss_rows,
            &correct_rows,
            &stats,
            &steps,
            b as u32,
        ));
        if let Some((combine, hist)) = &temporal {
            step.push(combine.bind(gpu, &grads, hist, &steps, layout.total as u32));
        }
        step.push(
            kernels
                .sgd
                .bind(gpu, &params, &grads, layout.total as u32, spec.lr),
        );

        // ---- evaluation over both splits, in chunks of e rows ----
        let mut eval = Vec::new();
        for (set, (px, lab, n)) in [
            (&train_px, &train_lab, n_train),
            (&test_px, &test_lab, n_test),
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
                        loss: &eval_loss[set],
                        correct: &eval_correct[set],
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
            let cdeltas: Vec<wgpu::Buffer> = (1..=n_layers)
                .map(|l| gpu.storage("coherence errors", f32s(rows * layout.widths[l])))
                .collect();
            let u = gpu.storage("G a", f32s(rows * widest));
            let mut grad = Vec::new();
            let mut dots = Vec::new();
            for (c, base) in (0..n).step_by(rows).enumerate() {
                let r = rows.min(n - base);
                for (pass, list) in [&mut grad, &mut dots].into_iter().enumerate() {
                    rows_chain(
                        GatherFrom::Range {
                            base: base as u32,
                            step: &steps,
                        },
                        &train_px,
                        &train_lab,
                        r,
                        base,
                        Scores {
                            d: Some(&cdeltas[n_layers - 1]),
                            loss: &eval_loss[0],
                            correct: &eval_correct[0],
                        },
                        list,
                    );
                    for l in (0..n_layers).rev() {
                        let (fi, fo) = layout.fans(l);
                        let seg = layout.segment(&gsum, l);
                        let rd = &kernels.row_dot;
                        let (rr, base) = (r as u32, base as u32);
                        if pass == 0 {
                            // G += d^T a and the bias sums, chunk by chunk in order
                            list.extend(grad_sum(l, r, &cdeltas[l], seg, 1.0, c > 0));
                            list.push(rd.bind(
                                gpu,
                                &cdeltas[l],
                                &cdeltas[l],
                                &d_sq[l],
                                rr,
                                fo as u32,
                                base,
                            ));
                            list.push(rd.bind(
                                gpu,
                                input_of(l),
                                input_of(l),
                                &a_sq[l],
                                rr,
                                fi as u32,
                                base,
                            ));
                        } else {
                            // u = G_W a_e + G_b, then d_e . u
                            list.extend(dense(l, r, seg, &u, Epilogue::Bias));
                            list.push(rd.bind(gpu, &cdeltas[l], &u, &dot[l], rr, fo as u32, base));
                        }
                        if l > 0 {
                            list.push(backprop(l, r, &cdeltas[l], &cdeltas[l - 1]));
                        }
                    }
                }
            }
            let mut keep = vec![gsum, u];
            keep.extend(cdeltas);
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
        let mut keep = vec![train_px, test_px, train_lab, test_lab, grads, x, row_labels];
        keep.extend(temporal.map(|(_, hist)| hist));
        keep.extend(acts);
        keep.extend(deltas);
        keep.extend([loss_rows, correct_rows, scratch]);
        Ok(GpuTrainer {
            gpu,
            layout,
            spec,
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

    /// Runs one training step per minibatch in `batches` (each `batch` indices) and returns
    /// each step's (mean loss, correct count).
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
        let b = self.spec.batch;
        if let Some(m) = batches.iter().find(|m| m.len() != b) {
            bail!(
                "every minibatch must hold {b} indices, one holds {}",
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
            enc.copy_buffer_to_buffer(
                &self.stats,
                (first_slot * 8) as u64,
                &self.staging[half],
                0,
                (group.len() * 8) as u64,
            );
            let submitted = self.gpu.queue.submit([enc.finish()]);
            if let Some(prev) = pending.take() {
                let stats = self.collect(prev)?;
                out.extend_from_slice(&stats);
                on_stats(out.len(), &stats)?;
            }
            pending = Some((half, group.len(), submitted));
        }
        if let Some(prev) = pending {
            let stats = self.collect(prev)?;
            out.extend_from_slice(&stats);
            on_stats(out.len(), &stats)?;
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
        let bytes = (steps * 8) as u64;
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

    /// Per-example loss and correctness over the full training and test sets.
    pub fn evaluate(&self) -> Result<Evaluation> {
        let refs: Vec<&Dispatch> = self.eval.iter().collect();
        super::run(self.gpu, &refs)?;
        let g = self.gpu;
        Ok(Evaluation {
            train_loss: g.read_f32(&self.eval_loss[0], 0, self.n_train)?,
            train_correct: g.read_u32(&self.eval_correct[0], 0, self.n_train)?,
            test_loss: g.read_f32(&self.eval_loss[1], 0, self.n_test)?,
            test_correct: g.read_u32(&self.eval_correct[1], 0, self.n_test)?,
        })
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

    pub fn params(&self) -> Result<Params> {
        let flat = self.gpu.read_f32(&self.params, 0, self.layout.total)?;
        Ok(self.layout.unflatten(&flat))
    }

    /// Wall time of each dispatch of one training step on `batch`, each submitted and waited
    /// for on its own: a coarse per-kernel profile that needs no timestamp queries.
    pub fn profile_step(&self, batch: &[u32]) -> Result<Vec<(&'static str, f64)>> {
        self.gpu
            .queue
            .write_buffer(&self.indices, 0, bytemuck::cast_slice(batch));
        self.time_each(&self.step)
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
