//! The pass behind [`GpuTrainer::similarity`](crate::gpu::GpuTrainer::similarity): the
//! inner products K[i, j] = g_i . g_j of the per-example gradients of a fixed probe set,
//! from one forward and one per-example backward pass over the probe's rows. Layer by
//! layer, from the last, two Gram products (D D^T of the layer's errors, A A^T of its
//! inputs) and the `similarity` kernel, which adds (D D^T) * (A A^T + 1) elementwise: no
//! gradient is ever formed. The first layer's inputs are the probe's pixels, which training
//! never changes, so their Gram matrix is computed at the first measurement and kept.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Result};

use super::buffers::Stacked;
use super::layers::{Ops, Scores};
use crate::gpu::context::Gpu;
use crate::gpu::kernels::{Dispatch, GatherFrom, Similarity, SimilarityLayer, Slice};

pub(super) struct SimilarityPass {
    /// The probe's pixels gathered and their Gram matrix: run once, before the first
    /// measurement.
    pixels: Vec<Dispatch>,
    pixels_done: AtomicBool,
    dispatches: Vec<Dispatch>,
    k: wgpu::Buffer,
    n: usize,
    // Buffers only the dispatches reference: the probe's indices, errors, scores and Gram
    // matrices.
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
                "--similarity {n}: its {n} x {n} matrices take {bytes} bytes each, more than one storage binding of adapter {} ({} bytes); use --similarity {most} or less",
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
        // the Gram matrices: of the pixels (kept), and of one layer's errors and inputs
        let g_pixels = gpu.storage("similarity pixel gram", bytes);
        let gd = gpu.storage("similarity error gram", bytes);
        let ga = gpu.storage("similarity input gram", bytes);
        let kernel = Similarity::new(gpu, ops.kernels.plan.shader_checks);
        let product = ops.kernels.forward();
        let width = |l: usize| layout.widths[l] as u32;
        let from = || GatherFrom::Indices {
            indices: Slice::all(&indices),
            step: &buf.steps,
            base: 0,
        };
        let scores = || Scores {
            d: Some(deltas[n_layers - 1].all()),
            loss: Slice::all(&loss),
            correct: Slice::all(&correct),
        };

        let mut pixels = Vec::new();
        ops.forward_rows(from(), &buf.train, n, 0, scores(), &mut pixels);
        pixels.push(product.gram(
            gpu,
            buf.input(0).all(),
            n as u32,
            width(0),
            Slice::all(&g_pixels),
        ));

        let mut list = Vec::new();
        ops.forward_rows(from(), &buf.train, n, 0, scores(), &mut list);
        for l in (0..n_layers).rev() {
            list.push(product.gram(
                gpu,
                deltas[l].all(),
                n as u32,
                width(l + 1),
                Slice::all(&gd),
            ));
            let ga = if l == 0 {
                &g_pixels
            } else {
                list.push(product.gram(
                    gpu,
                    buf.input(l).all(),
                    n as u32,
                    width(l),
                    Slice::all(&ga),
                ));
                &ga
            };
            list.push(kernel.bind(
                gpu,
                SimilarityLayer {
                    gd: Slice::all(&gd),
                    ga: Slice::all(ga),
                    k: Slice::all(&k),
                    n: n as u32,
                    accumulate: l + 1 < n_layers,
                },
            ));
            if l > 0 {
                list.push(ops.backprop(l, n, &deltas[l], &deltas[l - 1]));
            }
        }
        let mut keep = vec![indices, loss, correct, g_pixels, gd, ga];
        keep.extend(deltas.into_iter().map(|s| s.buf));
        Ok(SimilarityPass {
            pixels,
            pixels_done: AtomicBool::new(false),
            dispatches: list,
            k,
            n,
            _keep: keep,
        })
    }

    /// Runs the pass and reads K (n x n, row-major).
    pub fn measure(&self, gpu: &Gpu) -> Result<Vec<f32>> {
        use crate::gpu::kernels::dispatch::run;
        if !self.pixels_done.load(Ordering::Relaxed) {
            run(gpu, &self.pixels.iter().collect::<Vec<_>>())?;
            self.pixels_done.store(true, Ordering::Relaxed);
        }
        run(gpu, &self.dispatches.iter().collect::<Vec<_>>())?;
        gpu.read_f32(&self.k, 0, self.n * self.n)
    }
}
