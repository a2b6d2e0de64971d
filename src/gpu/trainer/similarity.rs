//! The pass behind [`GpuTrainer::similarity`](crate::gpu::GpuTrainer::similarity): the
//! inner products K[i, j] = g_i . g_j of the per-example gradients of a fixed probe set,
//! from one forward and one per-example backward pass over the probe's rows. Layer by
//! layer, from the last, the `similarity` kernel adds (D D^T) * (A A^T + 1) elementwise,
//! D the layer's errors and A its inputs: no gradient is ever formed.

use anyhow::{bail, Result};

use super::buffers::Stacked;
use super::layers::{Ops, Scores};
use crate::gpu::context::Gpu;
use crate::gpu::kernels::{Dispatch, GatherFrom, Similarity, SimilarityLayer, Slice};

pub(super) struct SimilarityPass {
    dispatches: Vec<Dispatch>,
    k: wgpu::Buffer,
    n: usize,
    // Buffers only the dispatches reference: the probe's indices, errors and scores.
    _keep: Vec<wgpu::Buffer>,
}

/// The largest storage binding the device allows.
fn max_binding(gpu: &Gpu) -> u64 {
    gpu.limits
        .max_storage_buffer_binding_size
        .min(gpu.limits.max_buffer_size)
}

impl SimilarityPass {
    /// The pass over the training examples `probe` (indices into the training set), for a
    /// trainer whose row buffers hold `rows` rows. Refuses, before allocating, a probe
    /// whose rows or whose n x n matrix do not fit.
    pub fn build(ops: &Ops<'_>, rows: usize, probe: &[u32]) -> Result<Self> {
        let (gpu, layout, buf) = (ops.gpu, ops.layout, ops.buf);
        let n = probe.len();
        if n == 0 {
            bail!("--similarity 0: give the number of probe examples, at least 1");
        }
        if ops.runs != 1 {
            bail!("--similarity measures one run at a time; train this run alone");
        }
        if n > rows {
            bail!(
                "--similarity {n}: the trainer's row buffers hold {rows} examples; use --similarity {rows} or less, or a larger --eval-chunk"
            );
        }
        let bytes = (n * n * 4) as u64;
        if bytes > max_binding(gpu) {
            let most = ((max_binding(gpu) / 4) as f64).sqrt() as usize;
            bail!(
                "--similarity {n}: its {n} x {n} matrix takes {bytes} bytes, more than one storage binding of adapter {} ({} bytes); use --similarity {most} or less",
                gpu.info.name,
                max_binding(gpu)
            );
        }
        let n_layers = layout.layers();
        let indices = gpu.storage_init("similarity probe", bytemuck::cast_slice(probe));
        let deltas: Vec<Stacked> = (1..=n_layers)
            .map(|l| Stacked::new(gpu, "similarity errors", n * layout.widths[l] * 4, 1))
            .collect();
        let loss = gpu.storage("similarity loss", (n * 4) as u64);
        let correct = gpu.storage("similarity correct", (n * 4) as u64);
        let k = gpu.storage("similarity", bytes);
        let kernel = Similarity::new(gpu, ops.kernels.plan.shader_checks);

        let mut list = Vec::new();
        let from = GatherFrom::Indices {
            indices: Slice::all(&indices),
            step: &buf.steps,
            base: 0,
        };
        let scores = Scores {
            d: Some(deltas[n_layers - 1].all()),
            loss: Slice::all(&loss),
            correct: Slice::all(&correct),
        };
        ops.forward_rows(from, &buf.train, n, 0, scores, &mut list);
        for l in (0..n_layers).rev() {
            let (fi, fo) = layout.fans(l);
            list.push(kernel.bind(
                gpu,
                SimilarityLayer {
                    d: deltas[l].all(),
                    a: buf.input(l).all(),
                    k: Slice::all(&k),
                    n: n as u32,
                    fo: fo as u32,
                    fi: fi as u32,
                    accumulate: l + 1 < n_layers,
                },
            ));
            if l > 0 {
                list.push(ops.backprop(l, n, &deltas[l], &deltas[l - 1]));
            }
        }
        let mut keep = vec![indices, loss, correct];
        keep.extend(deltas.into_iter().map(|s| s.buf));
        Ok(SimilarityPass {
            dispatches: list,
            k,
            n,
            _keep: keep,
        })
    }

    /// Runs the pass and reads K (n x n, row-major).
    pub fn measure(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        crate::gpu::kernels::dispatch::run(gpu, &self.dispatches.iter().collect::<Vec<_>>())?;
        gpu.read_f32(&self.k, 0, self.n * self.n)
    }
}
