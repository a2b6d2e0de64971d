//! The operations a training step, an evaluation and the coherence passes are made of: a
//! layer's dense product, its summed gradient and its backprop, and the gather-forward-score
//! chain over a block of rows. Each returns dispatches over every run of the trainer.

use super::buffers::{Buffers, Split, Stacked};
use super::layout::ParamLayout;
use crate::data::CLASSES;
use crate::gpu::context::Gpu;
use crate::gpu::kernels::{
    BiasSum, Dispatch, Epilogue, GatherFrom, GatherSlices, Kernels, MatmulParams, Product, Slice,
    XentSlices,
};

/// What the layer operations need: the device, the kernels (and their plan), the layout
/// and the trainer's buffers.
pub(super) struct Ops<'a> {
    pub gpu: &'a Gpu,
    pub kernels: &'a Kernels,
    pub layout: &'a ParamLayout,
    pub buf: &'a Buffers,
    /// Runs in every dispatch.
    pub runs: u32,
}

/// Where a chain of rows scores its predictions.
pub(super) struct Scores<'a> {
    /// Some(d): training, the error softmax - onehot is written to d.
    pub d: Option<Slice<'a>>,
    pub loss: Slice<'a>,
    pub correct: Slice<'a>,
}

impl Ops<'_> {
    pub fn layers(&self) -> usize {
        self.layout.layers()
    }

    /// z = a W^T + b for layer l over `r` rows, from its inputs and the weights (or
    /// gradient) segment `w`, into `out`, for every run. With the plan's sparse inputs the
    /// first layer's product skips the zero pixels (bit-identical).
    pub fn dense(
        &self,
        l: usize,
        r: usize,
        w: Slice<'_>,
        out: Slice<'_>,
        epilogue: Epilogue,
    ) -> Vec<Dispatch> {
        let (fi, fo) = self.layout.fans(l);
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
        // the rows this product reads (what a texture mirror of A copies)
        let a = self.buf.input(l).all().reading((r * fi) as u64, self.runs);
        let op = Product {
            epilogue,
            a,
            b: w,
            aux: a,
            c: out,
            p,
        };
        if let (0, Some(sparse)) = (l, &self.kernels.sparse) {
            if let Some(pair) = sparse.bind(self.gpu, op, self.runs) {
                return pair.into();
            }
        }
        vec![self.kernels.forward().bind(self.gpu, op).across(self.runs)]
    }

    /// scale * (d^T a, sum of d) of layer l over `r` rows into the gradient segment `seg`,
    /// added to what is there if `accumulate` (row chunks after the first), for the `count`
    /// runs d, a and seg start at.
    #[allow(clippy::too_many_arguments)]
    pub fn grad_sum(
        &self,
        l: usize,
        r: usize,
        d: Slice<'_>,
        a: Slice<'_>,
        seg: Slice<'_>,
        scale: f32,
        accumulate: bool,
        count: usize,
    ) -> [Dispatch; 2] {
        let (fi, fo) = self.layout.fans(l);
        let epilogue = if accumulate {
            Epilogue::ScaleAdd
        } else {
            Epilogue::Scale
        };
        let p = MatmulParams {
            m: fo as u32,
            n: fi as u32,
            k: r as u32,
            a_rs: 1,
            a_cs: fo as u32,
            b_rs: fi as u32,
            b_cs: 1,
            scale,
            ..Default::default()
        };
        let k = self.kernels;
        let (fo, at) = (fo as u32, (fo * fi) as u32);
        [
            k.grad()
                .bind(
                    self.gpu,
                    Product {
                        epilogue,
                        a: d,
                        b: a,
                        aux: d,
                        c: seg,
                        p,
                    },
                )
                .across(count as u32),
            k.bias_grad
                .bind(
                    self.gpu,
                    d,
                    seg,
                    BiasSum {
                        rows: r as u32,
                        width: fo,
                        off: at,
                        scale,
                        accumulate,
                    },
                )
                .across(count as u32),
        ]
    }

    /// The errors of layer l-1 from those of layer l (`d`), masked by relu', into `d_prev`,
    /// for every run.
    pub fn backprop(&self, l: usize, r: usize, d: &Stacked, d_prev: &Stacked) -> Dispatch {
        let (fi, fo) = self.layout.fans(l);
        let p = MatmulParams {
            m: r as u32,
            n: fi as u32,
            k: fo as u32,
            a_rs: fo as u32,
            a_cs: 1,
            b_rs: fi as u32,
            b_cs: 1,
            ..Default::default()
        };
        let w = self.buf.params.segment(self.layout, l, 0);
        let relu_of = self.buf.acts[l - 1].all();
        self.kernels
            .backward()
            .bind(
                self.gpu,
                Product {
                    epilogue: Epilogue::MaskPositive,
                    a: d.all().reading((r * fo) as u64, self.runs),
                    b: w,
                    aux: relu_of,
                    c: d_prev.all(),
                    p,
                },
            )
            .across(self.runs)
    }

    /// The chain shared by training, evaluation and the coherence passes for `r` rows of
    /// `split` starting at row `base`, for every run: gather, the forward products (layer l
    /// reads its inputs and writes its activations), softmax cross-entropy.
    pub fn forward_rows(
        &self,
        from: GatherFrom<'_>,
        split: &Split,
        r: usize,
        base: usize,
        scores: Scores<'_>,
        out: &mut Vec<Dispatch>,
    ) {
        let (k, buf, n_layers) = (self.kernels, self.buf, self.layers());
        let dim = self.layout.widths[0] as u32;
        let io = GatherSlices {
            pixels: Slice::all(&split.pixels),
            labels: split.labels.all(),
            x: buf.x.all(),
            row_labels: buf.row_labels.all(),
        };
        let gather = k.gather.bind(self.gpu, io, from, r as u32, dim);
        out.push(gather.across(self.runs));
        for (l, act) in buf.acts.iter().enumerate() {
            let epilogue = if l + 1 == n_layers {
                Epilogue::Bias
            } else {
                Epilogue::BiasRelu
            };
            let w = buf.params.segment(self.layout, l, 0);
            out.extend(self.dense(l, r, w, act.all(), epilogue));
        }
        let io = XentSlices {
            logits: buf.acts[n_layers - 1].all(),
            row_labels: buf.row_labels.all(),
            d: scores.d.unwrap_or(Slice::all(&buf.scratch)),
            loss: scores.loss,
            correct: scores.correct,
        };
        let train = scores.d.is_some();
        let score = k
            .softmax
            .bind(self.gpu, io, train, r as u32, CLASSES as u32, base as u32);
        out.push(score.across(self.runs));
    }
}
