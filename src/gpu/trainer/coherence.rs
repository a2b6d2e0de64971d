//! The two passes over the training set behind [`super::GpuTrainer::coherence`]: the summed
//! gradient G of all examples with the per-example norm factors, then every example's
//! gradient dotted with G, layer by layer, without materialising a per-example gradient.

use anyhow::Result;

use super::buffers::Stacked;
use super::capacity::Capacity;
use super::layers::{Ops, Scores};
use super::spec::PerExample;
use crate::gpu::context::Gpu;
use crate::gpu::kernels::{Dispatch, Epilogue, GatherFrom, Slice};

pub(super) struct CoherencePasses {
    /// Pass 1: the summed gradient G of all examples, and the per-example norms.
    grad: Vec<Dispatch>,
    /// Pass 2: per-example dot products with G.
    dots: Vec<Dispatch>,
    out: Outputs,
    n: usize,
    // Buffers only the dispatches reference: G, G a, and the passes' errors.
    _keep: Vec<wgpu::Buffer>,
}

/// Per layer, the per-example values (`n` floats each).
struct Outputs {
    /// g_e . G for the layer's weights and biases.
    dot: Vec<wgpu::Buffer>,
    /// ||d_e||^2 of the layer's output errors.
    d_sq: Vec<wgpu::Buffer>,
    /// ||a_e||^2 of the layer's inputs.
    a_sq: Vec<wgpu::Buffer>,
}

/// The buffers of the passes besides the trainer's.
struct PassBuffers {
    /// The summed gradient, laid out as the parameters.
    gsum: wgpu::Buffer,
    /// G_W a_e + G_b per row.
    u: wgpu::Buffer,
    /// The passes' own errors per layer.
    deltas: Vec<Stacked>,
}

impl CoherencePasses {
    pub fn build(ops: &Ops<'_>, cap: &Capacity) -> Self {
        let (gpu, layout, n) = (ops.gpu, ops.layout, ops.buf.train.n);
        let rows = cap.rows;
        let per_layer = |what: &'static str| -> Vec<wgpu::Buffer> {
            (0..layout.layers())
                .map(|_| gpu.storage(what, (n * 4) as u64))
                .collect()
        };
        let widest = *layout.widths.iter().max().expect("widths");
        let pb = PassBuffers {
            gsum: gpu.storage("summed gradient", (layout.total * 4) as u64),
            u: gpu.storage("G a", (rows * widest * 4) as u64),
            deltas: (1..=layout.layers())
                .map(|l| Stacked::new(gpu, "coherence errors", rows * layout.widths[l] * 4, 1))
                .collect(),
        };
        let out = Outputs {
            dot: per_layer("per-example dot"),
            d_sq: per_layer("per-example |d|^2"),
            a_sq: per_layer("per-example |a|^2"),
        };
        let (mut grad, mut dots) = (Vec::new(), Vec::new());
        // With one chunk, pass 2 finds every layer's inputs and errors still in place from
        // pass 1 and skips the forward and backward products (a third of the measurement on
        // lavapipe; BENCHMARKS.md).
        let one_chunk = n <= rows;
        for (chunk, base) in (0..n).step_by(rows).enumerate() {
            let r = rows.min(n - base);
            pass(ops, &pb, &out, true, chunk, base, r, true, &mut grad);
            pass(ops, &pb, &out, false, chunk, base, r, !one_chunk, &mut dots);
        }
        let mut keep = vec![pb.gsum, pb.u];
        keep.extend(pb.deltas.into_iter().map(|s| s.buf));
        CoherencePasses {
            grad,
            dots,
            out,
            n,
            _keep: keep,
        }
    }

    /// Runs both passes (pass 1 completes G before pass 2 reads it: one submission each)
    /// and reads the per-example values.
    pub fn measure(&self, gpu: &Gpu) -> Result<PerExample> {
        crate::gpu::kernels::dispatch::run(gpu, &self.grad.iter().collect::<Vec<_>>())?;
        crate::gpu::kernels::dispatch::run(gpu, &self.dots.iter().collect::<Vec<_>>())?;
        let read = |bufs: &[wgpu::Buffer]| -> Result<Vec<Vec<f32>>> {
            bufs.iter().map(|b| gpu.read_f32(b, 0, self.n)).collect()
        };
        Ok(PerExample {
            dot: read(&self.out.dot)?,
            d_sq: read(&self.out.d_sq)?,
            a_sq: read(&self.out.a_sq)?,
        })
    }
}

/// One pass over chunk `chunk` (rows base..base + r): the forward chain and backprop if
/// `recompute`, and per layer either G += d^T a with the norms (`first`) or the dots.
#[allow(clippy::too_many_arguments)]
fn pass(
    ops: &Ops<'_>,
    pb: &PassBuffers,
    out: &Outputs,
    first: bool,
    chunk: usize,
    base: usize,
    r: usize,
    recompute: bool,
    list: &mut Vec<Dispatch>,
) {
    let (gpu, buf, n_layers) = (ops.gpu, ops.buf, ops.layers());
    if recompute {
        let range = GatherFrom::Range {
            base: base as u32,
            step: &buf.steps,
        };
        let scores = Scores {
            d: Some(pb.deltas[n_layers - 1].all()),
            loss: buf.train.loss.all(),
            correct: buf.train.correct.all(),
        };
        ops.forward_rows(range, &buf.train, r, base, scores, list);
    }
    let rd = &ops.kernels.row_dot;
    let rows = base as u32..(base + r) as u32;
    for l in (0..n_layers).rev() {
        let (fi, fo) = ops.layout.fans(l);
        let seg = ops.layout.segment(&pb.gsum, l);
        let d = pb.deltas[l].all();
        if first {
            // G += d^T a and the bias sums, chunk by chunk in order
            let a = buf.input(l).all();
            list.extend(ops.grad_sum(l, r, d, a, seg, 1.0, chunk > 0, 1));
            list.push(rd.bind(gpu, d, d, &out.d_sq[l], fo as u32, rows.clone()));
            list.push(rd.bind(gpu, a, a, &out.a_sq[l], fi as u32, rows.clone()));
        } else {
            // u = G_W a_e + G_b, then d_e . u
            list.extend(ops.dense(l, r, seg, Slice::all(&pb.u), Epilogue::Bias));
            list.push(rd.bind(gpu, d, &pb.u, &out.dot[l], fo as u32, rows.clone()));
        }
        if l > 0 && recompute {
            list.push(ops.backprop(l, r, &pb.deltas[l], &pb.deltas[l - 1]));
        }
    }
}
