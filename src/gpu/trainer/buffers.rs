//! Every buffer a trainer owns, made once in [`Buffers::new`]. Per-run buffers are
//! [`Stacked`]: one part per run, `stride` bytes apart, so that one dispatch serves all runs.

use super::capacity::{run_stride, Capacity};
use super::layout::{pack_bytes, ParamLayout};
use super::spec::RunInit;
use crate::data::DataSet;
use crate::gpu::context::Gpu;
use crate::gpu::kernels::{step_buffer, Slice};

/// A buffer holding one part per run.
pub(super) struct Stacked {
    pub buf: wgpu::Buffer,
    pub stride: u64,
    runs: usize,
}

impl Stacked {
    pub fn new(gpu: &Gpu, label: &str, bytes: usize, runs: usize) -> Self {
        let stride = run_stride(bytes);
        Stacked {
            buf: gpu.storage(label, stride * runs as u64),
            stride,
            runs,
        }
    }

    pub fn init(gpu: &Gpu, label: &str, parts: &[Vec<u8>]) -> Self {
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
    pub fn all(&self) -> Slice<'_> {
        Slice::runs(&self.buf, self.stride)
    }

    /// The parts of runs `first..`.
    pub fn from(&self, first: usize) -> Slice<'_> {
        Slice {
            offset: first as u64 * self.stride,
            ..self.all()
        }
    }

    /// Layer l's segment of each run's parameters (or gradients), from run `first` on.
    pub fn segment(&self, layout: &ParamLayout, l: usize, first: usize) -> Slice<'_> {
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
    pub fn at(&self, run: usize) -> u64 {
        run as u64 * self.stride / 4
    }
}

/// One split of the data set as the GPU holds it.
pub(super) struct Split {
    pub pixels: wgpu::Buffer,
    /// Every run's labels (the training labels differ per run; the test labels are shared,
    /// stride 0).
    pub labels: Stacked,
    pub n: usize,
    /// Per-example loss and correctness of the last evaluation, per run.
    pub loss: Stacked,
    pub correct: Stacked,
}

/// Every buffer of a trainer.
pub(super) struct Buffers {
    pub train: Split,
    pub test: Split,
    /// Every run's parameters; layer segments are whole multiples of 256 bytes, so the runs'
    /// parameters abut.
    pub params: Stacked,
    pub grads: Stacked,
    /// Minibatch indices by slot, then run: a step's runs read consecutive ranges.
    pub indices: wgpu::Buffer,
    /// The per-step uniforms (slot, index base, step number).
    pub steps: wgpu::Buffer,
    /// Per slot, every run's (loss, correct) pair.
    pub stats: wgpu::Buffer,
    /// Mappable copies of the two halves of `stats`.
    pub staging: [wgpu::Buffer; 2],
    /// The gathered input rows and their labels.
    pub x: Stacked,
    pub row_labels: Stacked,
    /// Per layer: its outputs (after the activation), and the errors at them.
    pub acts: Vec<Stacked>,
    pub deltas: Vec<Stacked>,
    /// A training step's per-row loss and correctness.
    pub loss_rows: Stacked,
    pub correct_rows: Stacked,
    /// Bound where a kernel needs a buffer it does not use.
    pub scratch: wgpu::Buffer,
}

fn u32s(v: &[u8]) -> Vec<u8> {
    bytemuck::cast_slice(&v.iter().map(|&x| x as u32).collect::<Vec<u32>>()).to_vec()
}

impl Buffers {
    pub fn new(
        gpu: &Gpu,
        layout: &ParamLayout,
        cap: &Capacity,
        data: &DataSet,
        run_inits: &[RunInit<'_>],
        batch: usize,
    ) -> Self {
        let runs = run_inits.len();
        let (b, rows, slots) = (batch, cap.rows, cap.slots);
        let pixels =
            |label, px: &[u8]| gpu.storage_init(label, bytemuck::cast_slice(&pack_bytes(px)));
        let split = |pixels, labels, n: usize, what: &str| Split {
            pixels,
            labels,
            n,
            loss: Stacked::new(gpu, &format!("{what} loss"), n * 4, runs),
            correct: Stacked::new(gpu, &format!("{what} correct"), n * 4, runs),
        };
        let train_lab = Stacked::init(
            gpu,
            "train labels",
            &run_inits.iter().map(|r| u32s(r.labels)).collect::<Vec<_>>(),
        );
        let test_lab = Stacked {
            buf: gpu.storage_init("test labels", &u32s(&data.test.labels)),
            stride: 0,
            runs,
        };
        let train_px = pixels("train pixels", &data.train.pixels);
        let test_px = pixels("test pixels", &data.test.pixels);
        let params = Stacked::init(
            gpu,
            "params",
            &run_inits
                .iter()
                .map(|r| bytemuck::cast_slice(&layout.flatten(r.init)).to_vec())
                .collect::<Vec<_>>(),
        );
        debug_assert_eq!(params.stride, (layout.total * 4) as u64);
        let per_layer = |label: &str, rows: usize| -> Vec<Stacked> {
            (1..=layout.layers())
                .map(|l| Stacked::new(gpu, label, rows * layout.widths[l] * 4, runs))
                .collect()
        };
        Buffers {
            train: split(train_px, train_lab, data.train.n, "train"),
            test: split(test_px, test_lab, data.test.n, "test"),
            params,
            grads: Stacked::new(gpu, "grads", layout.total * 4, runs),
            indices: gpu.storage("indices", (2 * slots * runs * b * 4) as u64),
            steps: step_buffer(gpu, 2 * slots as u32, (runs * b) as u32),
            stats: gpu.storage("stats", (2 * slots * runs * 8) as u64),
            staging: [0, 1].map(|_| {
                gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("step statistics"),
                    size: (slots * runs * 8) as u64,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            }),
            x: Stacked::new(gpu, "x", rows * data.input_dim() * 4, runs),
            row_labels: Stacked::new(gpu, "row labels", rows * 4, runs),
            acts: per_layer("activations", rows),
            deltas: per_layer("errors", cap.chunk),
            loss_rows: Stacked::new(gpu, "batch loss", b * 4, runs),
            correct_rows: Stacked::new(gpu, "batch correct", b * 4, runs),
            scratch: gpu.storage("scratch", 16),
        }
    }

    /// Layer l's inputs: the gathered rows for the first layer, else the layer below's
    /// outputs.
    pub fn input(&self, l: usize) -> &Stacked {
        if l == 0 {
            &self.x
        } else {
            &self.acts[l - 1]
        }
    }
}
