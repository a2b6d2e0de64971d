//! The CPU reference: the whole training step in f64, written for clarity rather than speed.
//! Every GPU kernel has a twin in [`kernels`] (re-exported here: `reference::gather`,
//! `reference::matmul`, ...) that tests/kernels/ checks it against; this file chains the
//! twins into the network's forward and backward passes and training steps, which the
//! end-to-end tests check the GPU trainer against.
// Index loops mirror the formulas (w[j * fan_in + k]) and are kept for readability.
#![allow(clippy::needless_range_loop)]

pub mod kernels;

pub use kernels::{
    aggregate_values, batch_stats, bias_grad, gather, gram, matmul, per_example_gradients, row_dot,
    select, sgd, sign, similarity, softmax_xent, temporal, MatmulEpilogue, MatmulLayout, Xent,
};

use crate::model::Params;
use crate::rule::Rule;

/// A dense layer in f64: `w` is `fan_out x fan_in`, row-major.
#[derive(Debug, Clone)]
pub struct Layer64 {
    pub fan_in: usize,
    pub fan_out: usize,
    pub w: Vec<f64>,
    pub b: Vec<f64>,
}

#[derive(Debug, Clone)]
pub struct Net64 {
    pub layers: Vec<Layer64>,
}

impl Net64 {
    pub fn from_params(p: &Params) -> Self {
        Net64 {
            layers: p
                .layers
                .iter()
                .map(|l| Layer64 {
                    fan_in: l.fan_in,
                    fan_out: l.fan_out,
                    w: l.w.iter().map(|&x| x as f64).collect(),
                    b: l.b.iter().map(|&x| x as f64).collect(),
                })
                .collect(),
        }
    }
}

/// Pixels to inputs: byte / 255, no other normalisation.
pub fn inputs(pixels: &[u8]) -> Vec<f64> {
    pixels.iter().map(|&p| p as f64 / 255.0).collect()
}

/// z = a W^T + b for `rows` rows of `a`, then ReLU if `relu`.
///
/// Zero inputs are skipped: adding w * 0 changes no finite sum, and MNIST's first layer is
/// about 80% zeros, so the coherence estimates that call this on hundreds of examples per
/// measurement run several times faster.
pub fn dense(layer: &Layer64, a: &[f64], rows: usize, relu: bool) -> Vec<f64> {
    let (fi, fo) = (layer.fan_in, layer.fan_out);
    let mut z = vec![0.0; rows * fo];
    for r in 0..rows {
        let row = &a[r * fi..(r + 1) * fi];
        let nonzero: Vec<usize> = (0..fi).filter(|&k| row[k] != 0.0).collect();
        for j in 0..fo {
            let mut s = layer.b[j];
            for &k in &nonzero {
                s += layer.w[j * fi + k] * row[k];
            }
            z[r * fo + j] = if relu { s.max(0.0) } else { s };
        }
    }
    z
}

/// Forward pass: `acts[0]` is the input, `acts[l]` the output of layer l (ReLU for hidden
/// layers), the last entry the logits.
pub fn forward(net: &Net64, x: &[f64], rows: usize) -> Vec<Vec<f64>> {
    let mut acts = vec![x.to_vec()];
    let last = net.layers.len() - 1;
    for (l, layer) in net.layers.iter().enumerate() {
        let z = dense(layer, acts.last().expect("input"), rows, l < last);
        acts.push(z);
    }
    acts
}

/// Per-example backward pass. `d_last` is softmax - onehot (rows x classes). Returns the
/// error of every layer's output, `ds[l]` for layer l (rows x fan_out of layer l).
pub fn backward(net: &Net64, acts: &[Vec<f64>], d_last: &[f64], rows: usize) -> Vec<Vec<f64>> {
    let n = net.layers.len();
    let mut ds = vec![Vec::new(); n];
    ds[n - 1] = d_last.to_vec();
    for l in (1..n).rev() {
        let layer = &net.layers[l];
        let (fi, fo) = (layer.fan_in, layer.fan_out);
        let mut prev = vec![0.0; rows * fi];
        for r in 0..rows {
            for k in 0..fi {
                // relu'(z) = 1 where the activation is positive
                if acts[l][r * fi + k] > 0.0 {
                    let mut s = 0.0;
                    for j in 0..fo {
                        s += ds[l][r * fo + j] * layer.w[j * fi + k];
                    }
                    prev[r * fi + k] = s;
                }
            }
        }
        ds[l - 1] = prev;
    }
    ds
}

/// Loss and accuracy of one step's minibatch (before the update).
#[derive(Debug, Clone, Copy)]
pub struct StepStats {
    pub loss: f64,
    pub correct: usize,
}

/// Per-layer (weights, biases) gradients of a network.
pub type Grads = Vec<(Vec<f64>, Vec<f64>)>;

/// What a rule remembers between steps: the step count and, for the temporal rules, the last
/// three minibatch mean gradients (oldest first).
#[derive(Debug, Clone, Default)]
pub struct RuleState {
    pub step: u64,
    history: std::collections::VecDeque<Grads>,
}

impl RuleState {
    /// The update for this step from its aggregated gradient, or None when the rule takes
    /// no step (a temporal rule before three gradients exist, or m3 between its steps).
    pub fn update(&mut self, rule: &Rule, grads: Grads) -> Option<Grads> {
        let t = self.step;
        self.step += 1;
        let Rule::Temporal(temporal) = rule else {
            return Some(grads);
        };
        if self.history.len() == 3 {
            self.history.pop_front();
        }
        self.history.push_back(grads);
        if !temporal.applies(t) {
            return None;
        }
        // each layer's weights and biases through the kernel's twin, over the last three steps
        let h = &self.history;
        let combine = |recent: Vec<&[f64]>| {
            kernels::temporal(*temporal, t, &recent).expect("the rule applies at step t")
        };
        Some(
            (0..h[2].len())
                .map(|l| {
                    (
                        combine(h.iter().map(|g| &g[l].0[..]).collect()),
                        combine(h.iter().map(|g| &g[l].1[..]).collect()),
                    )
                })
                .collect(),
        )
    }
}

/// The per-layer aggregated gradients of one minibatch, before any temporal combination.
pub fn minibatch_grads(net: &Net64, x: &[f64], labels: &[u8], rule: &Rule) -> (Grads, StepStats) {
    let rows = labels.len();
    let classes = net.layers.last().expect("layers").fan_out;
    let acts = forward(net, x, rows);
    let xent = softmax_xent(acts.last().expect("logits"), labels, classes);
    let ds = backward(net, &acts, &xent.d, rows);
    let grads = net
        .layers
        .iter()
        .enumerate()
        .map(|(l, layer)| select(rule, &ds[l], &acts[l], rows, layer.fan_out, layer.fan_in))
        .collect();
    let stats = StepStats {
        loss: xent.loss.iter().sum::<f64>() / rows as f64,
        correct: xent.correct.iter().filter(|&&c| c).count(),
    };
    (grads, stats)
}

/// One training step on the minibatch `x` (rows x input) with `labels`.
pub fn train_step(
    net: &mut Net64,
    x: &[f64],
    labels: &[u8],
    rule: &Rule,
    lr: f64,
    state: &mut RuleState,
) -> StepStats {
    let (grads, stats) = minibatch_grads(net, x, labels, rule);
    if let Some(update) = state.update(rule, grads) {
        sgd_net(net, &update, lr);
    }
    stats
}

/// w -= lr * g for every layer's weights and biases ([`sgd`] on each).
pub fn sgd_net(net: &mut Net64, grads: &[(Vec<f64>, Vec<f64>)], lr: f64) {
    for (layer, (gw, gb)) in net.layers.iter_mut().zip(grads) {
        sgd(&mut layer.w, gw, lr);
        sgd(&mut layer.b, gb, lr);
    }
}

/// Per-example loss and correctness over a whole split.
pub fn evaluate(net: &Net64, pixels: &[u8], labels: &[u8]) -> (Vec<f64>, Vec<bool>) {
    let rows = labels.len();
    let classes = net.layers.last().expect("layers").fan_out;
    let acts = forward(net, &inputs(pixels), rows);
    let x = softmax_xent(acts.last().expect("logits"), labels, classes);
    (x.loss, x.correct)
}

/// Mean loss and accuracy of per-example results.
pub fn summarize(loss: &[f64], correct: &[bool]) -> (f64, f64) {
    let n = loss.len().max(1) as f64;
    (
        loss.iter().sum::<f64>() / n,
        correct.iter().filter(|&&c| c).count() as f64 / n,
    )
}

/// The per-example gradient inner products K[i, j] = g_i . g_j of the `rows` examples of
/// `x` (with `labels`), g_i the gradient of example i's own loss over every parameter: the
/// twins of `gram` and `similarity` chained over the layers, in the GPU pass's order (last layer first),
/// from one forward and one per-example backward pass. Row-major, rows x rows.
pub fn gradient_similarity(net: &Net64, x: &[f64], labels: &[u8]) -> Vec<f64> {
    let rows = labels.len();
    let classes = net.layers.last().expect("layers").fan_out;
    let acts = forward(net, x, rows);
    let xent = softmax_xent(acts.last().expect("logits"), labels, classes);
    let ds = backward(net, &acts, &xent.d, rows);
    let mut k: Option<Vec<f64>> = None;
    for (l, layer) in net.layers.iter().enumerate().rev() {
        let gd = gram(&ds[l], rows, layer.fan_out);
        let ga = gram(&acts[l], rows, layer.fan_in);
        k = Some(similarity(&gd, &ga, rows, k.as_deref()));
    }
    k.expect("at least one layer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_finite_differences() {
        // one example through a 3-4-2 network: analytic gradient vs central differences
        let p = crate::model::Params::init(&[3, 4, 2], crate::model::Init::Code, 5);
        let mut net = Net64::from_params(&p);
        for (i, b) in net.layers[0].b.iter_mut().enumerate() {
            *b = 0.1 * (i as f64 + 1.0); // keep every ReLU away from its kink
        }
        let x = vec![0.3, -0.7, 0.9];
        let y = [1u8];
        let loss = |n: &Net64| {
            let acts = forward(n, &x, 1);
            softmax_xent(acts.last().unwrap(), &y, 2).loss[0]
        };
        let acts = forward(&net, &x, 1);
        let xe = softmax_xent(acts.last().unwrap(), &y, 2);
        let ds = backward(&net, &acts, &xe.d, 1);
        let (gw, gb) = select(&Rule::Mean, &ds[0], &acts[0], 1, 4, 3);
        let h = 1e-6;
        for i in 0..12 {
            let mut a = net.clone();
            a.layers[0].w[i] += h;
            let mut b = net.clone();
            b.layers[0].w[i] -= h;
            let fd = (loss(&a) - loss(&b)) / (2.0 * h);
            assert!((fd - gw[i]).abs() < 1e-7, "w{i}: {fd} vs {}", gw[i]);
        }
        for j in 0..4 {
            let mut a = net.clone();
            a.layers[0].b[j] += h;
            let mut b = net.clone();
            b.layers[0].b[j] -= h;
            let fd = (loss(&a) - loss(&b)) / (2.0 * h);
            assert!((fd - gb[j]).abs() < 1e-7, "b{j}: {fd} vs {}", gb[j]);
        }
    }

    /// K from the outer-product identity against the inner products of explicitly formed
    /// per-example gradients (every weight and bias of every layer), on a small net with
    /// awkward widths: equal to 1e-6 relative (in f64 the two differ by rounding only).
    #[test]
    fn gradient_similarity_matches_explicit_gradients() {
        let widths = [7, 5, 3, 4];
        let p = crate::model::Params::init(&widths, crate::model::Init::Code, 11);
        let mut net = Net64::from_params(&p);
        for layer in &mut net.layers {
            for (i, b) in layer.b.iter_mut().enumerate() {
                *b = 0.05 * (i as f64 + 1.0);
            }
        }
        let rows = 6;
        let mut rng = crate::rng::Rng::new(3, crate::rng::Stream::Test);
        let x: Vec<f64> = (0..rows * widths[0]).map(|_| rng.uniform()).collect();
        let labels: Vec<u8> = (0..rows).map(|i| (i % 4) as u8).collect();
        let k = gradient_similarity(&net, &x, &labels);
        // every example's gradient, formed explicitly: one example at a time
        let grad = |e: usize| -> Vec<f64> {
            let xe = &x[e * widths[0]..(e + 1) * widths[0]];
            let acts = forward(&net, xe, 1);
            let xent = softmax_xent(acts.last().unwrap(), &labels[e..e + 1], 4);
            let ds = backward(&net, &acts, &xent.d, 1);
            let mut g = Vec::new();
            for (l, layer) in net.layers.iter().enumerate() {
                for j in 0..layer.fan_out {
                    for i in 0..layer.fan_in {
                        g.push(ds[l][j] * acts[l][i]);
                    }
                }
                g.extend_from_slice(&ds[l]);
            }
            g
        };
        let grads: Vec<Vec<f64>> = (0..rows).map(grad).collect();
        for i in 0..rows {
            for j in 0..rows {
                let want: f64 = grads[i].iter().zip(&grads[j]).map(|(a, b)| a * b).sum();
                let got = k[i * rows + j];
                assert!(
                    (got - want).abs() <= 1e-6 * want.abs().max(1e-12),
                    "K[{i}, {j}] = {got}, explicitly {want}"
                );
            }
        }
        // and it is a Gram matrix: symmetric with a positive diagonal
        for i in 0..rows {
            assert!(k[i * rows + i] > 0.0);
            for j in 0..rows {
                assert_eq!(k[i * rows + j], k[j * rows + i]);
            }
        }
    }
}
