//! The CPU twin of every WGSL kernel: what the kernel computes, in f64, written for clarity
//! rather than speed. Each kernel file in src/gpu/kernels/ names its twin here, and its test
//! in tests/kernels.rs compares the two on seeded random inputs.
//!
//! The twins take the kernels' inputs as f64 (or the integers the kernels read) and return
//! what the kernels write; buffer offsets, runs and dispatch shapes are the kernels' business
//! and are left out, except where they change which values are read (the matrix product's
//! strides and offsets).
// Index loops mirror the formulas (a[i * a_rs + q * a_cs]) and are kept for readability.
#![allow(clippy::needless_range_loop)]

use crate::rule::{Rule, Temporal};

/// Kernel `gather` (shaders/gather.wgsl): row r of the minibatch is example `examples[r]`
/// of the u8 data set (`dim` pixels per example, row-major): its pixels as inputs (byte /
/// 255) and its label. Training passes the minibatch's indices, evaluation a contiguous
/// range of examples.
pub fn gather(
    pixels: &[u8],
    labels: &[u32],
    dim: usize,
    examples: &[usize],
) -> (Vec<f64>, Vec<u32>) {
    let mut x = Vec::with_capacity(examples.len() * dim);
    let mut row_labels = Vec::with_capacity(examples.len());
    for &e in examples {
        x.extend(super::inputs(&pixels[e * dim..(e + 1) * dim]));
        row_labels.push(labels[e]);
    }
    (x, row_labels)
}

/// Where the operands of [`matmul`] are: the meaning of the kernel's `MatmulParams`
/// (shaders/matmul/matmul_params.wgsl). A(i, q) = `a[a_off + i * a_rs + q * a_cs]` and B(q, j) =
/// `b[b_off + q * b_rs + j * b_cs]` for i < m, j < n, q < k (a transpose is only a change of
/// strides); the bias epilogues read bias j at `b[bias_off + j]`; C is m x n row-major.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MatmulLayout {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a_off: usize,
    pub a_rs: usize,
    pub a_cs: usize,
    pub b_off: usize,
    pub b_rs: usize,
    pub b_cs: usize,
    pub bias_off: usize,
}

/// What [`matmul`] does with each sum s = sum_q A(i, q) B(q, j): the kernel's five
/// epilogues (its `Epilogue`, shaders/matmul/matmul_io.wgsl), with the data they read.
#[derive(Clone, Copy, Debug)]
pub enum MatmulEpilogue<'a> {
    /// max(s + bias_j, 0): a hidden layer's forward product.
    BiasRelu,
    /// s + bias_j: the logits.
    Bias,
    /// s where aux(i, j) > 0, else 0 (aux m x n row-major): backprop through the ReLU.
    MaskPositive { aux: &'a [f64] },
    /// scale * s: the mean gradient d^T a.
    Scale { scale: f64 },
    /// prior(i, j) + scale * s (prior m x n row-major, C's contents before the product):
    /// a gradient accumulated over row chunks.
    ScaleAdd { prior: &'a [f64], scale: f64 },
}

/// Kernel `matmul` (shaders/matmul/matmul.wgsl, the tiled variant, and shaders/matmul_cpu*.wgsl,
/// the CPU variant's layouts), and `matmul_sparse` (shaders/matmul/matmul_sparse.wgsl, which
/// skips zero inputs: the same sums): C = epilogue(A B) with the strides of `l`. Returns C,
/// m x n row-major.
pub fn matmul(a: &[f64], b: &[f64], l: &MatmulLayout, epilogue: MatmulEpilogue<'_>) -> Vec<f64> {
    let mut c = vec![0.0; l.m * l.n];
    for i in 0..l.m {
        for j in 0..l.n {
            let mut s = 0.0;
            for q in 0..l.k {
                s += a[l.a_off + i * l.a_rs + q * l.a_cs] * b[l.b_off + q * l.b_rs + j * l.b_cs];
            }
            let bias = || b[l.bias_off + j];
            c[i * l.n + j] = match epilogue {
                MatmulEpilogue::BiasRelu => (s + bias()).max(0.0),
                MatmulEpilogue::Bias => s + bias(),
                MatmulEpilogue::MaskPositive { aux } => {
                    if aux[i * l.n + j] <= 0.0 {
                        0.0
                    } else {
                        s
                    }
                }
                MatmulEpilogue::Scale { scale } => scale * s,
                MatmulEpilogue::ScaleAdd { prior, scale } => prior[i * l.n + j] + scale * s,
            };
        }
    }
    c
}

/// Per-row softmax cross-entropy against `labels`.
pub struct Xent {
    pub loss: Vec<f64>,
    pub correct: Vec<bool>,
    /// softmax - onehot: the gradient of each example's own loss w.r.t. its logits.
    pub d: Vec<f64>,
}

/// Kernel `softmax_xent` (shaders/softmax_xent.wgsl): each row's loss, whether its first
/// maximum is the label, and softmax - onehot.
pub fn softmax_xent(logits: &[f64], labels: &[u8], classes: usize) -> Xent {
    let rows = labels.len();
    let mut out = Xent {
        loss: vec![0.0; rows],
        correct: vec![false; rows],
        d: vec![0.0; rows * classes],
    };
    for r in 0..rows {
        let z = &logits[r * classes..(r + 1) * classes];
        let y = labels[r] as usize;
        // first index of the maximum, as the shader does
        let mut arg = 0;
        for c in 1..classes {
            if z[c] > z[arg] {
                arg = c;
            }
        }
        let m = z[arg];
        let s: f64 = z.iter().map(|&v| (v - m).exp()).sum();
        out.loss[r] = m + s.ln() - z[y];
        out.correct[r] = arg == y;
        for c in 0..classes {
            out.d[r * classes + c] = (z[c] - m).exp() / s - if c == y { 1.0 } else { 0.0 };
        }
    }
    out
}

/// Kernel `batch_stats` (shaders/batch_stats.wgsl): a training step's mean loss over its
/// rows and its number of correct rows (`correct` is 0 or 1 per row, as softmax_xent writes
/// it).
pub fn batch_stats(loss: &[f64], correct: &[u32]) -> (f64, u32) {
    let mean = loss.iter().sum::<f64>() / loss.len() as f64;
    (mean, correct.iter().sum())
}

/// Kernel `bias_grad` (shaders/bias_grad.wgsl): `g_b[j] = scale * sum_e d[e, j]` for the
/// `rows` x `width` errors `d` (the mean bias gradient with scale = 1 / rows).
pub fn bias_grad(d: &[f64], rows: usize, width: usize, scale: f64) -> Vec<f64> {
    (0..width)
        .map(|j| scale * (0..rows).map(|e| d[e * width + j]).sum::<f64>())
        .collect()
}

/// Kernel `sgd` (shaders/sgd.wgsl): w -= lr * g, element by element.
pub fn sgd(w: &mut [f64], g: &[f64], lr: f64) {
    assert_eq!(w.len(), g.len(), "one gradient per parameter");
    for (w, g) in w.iter_mut().zip(g) {
        *w -= lr * g;
    }
}

/// Kernel `temporal` (shaders/temporal.wgsl): the update of step `t` (0-based) of a temporal
/// rule from the minibatch mean gradients of its latest steps, oldest first and ending with
/// step t's (the kernel keeps the last three in a ring): the coordinate-wise median (rm3,
/// m3) or mean (ra3) of the last three. None where the rule takes no step (before three
/// gradients exist; m3 except every third step), where the kernel writes 0 so that the SGD
/// step leaves the weights as they are.
pub fn temporal(rule: Temporal, t: u64, recent: &[&[f64]]) -> Option<Vec<f64>> {
    if !rule.applies(t) {
        return None;
    }
    let [x0, x1, x2] = recent[recent.len().checked_sub(3).expect("three gradients")..] else {
        unreachable!("a slice of three")
    };
    Some(
        (0..x2.len())
            .map(|i| rule.combine([x0[i], x1[i], x2[i]]))
            .collect(),
    )
}

/// Kernel `row_dot` (shaders/row_dot.wgsl): `out[r] = x[r, :] . y[r, :]` for `rows` rows of
/// `width` values (a squared norm when x and y are the same).
pub fn row_dot(x: &[f64], y: &[f64], rows: usize, width: usize) -> Vec<f64> {
    (0..rows)
        .map(|r| {
            (0..width)
                .map(|i| x[r * width + i] * y[r * width + i])
                .sum()
        })
        .collect()
}

/// Aggregates the per-example gradients of one coordinate: `values` are g_e for e in the
/// minibatch. Sorting is the clearest statement of the numpy "nearest" percentiles. The
/// temporal rules aggregate a minibatch by its mean; [`temporal`] combines the steps.
pub fn aggregate_values(rule: &Rule, values: &[f64]) -> f64 {
    let b = values.len();
    let (k_lo, k_hi) = rule.clip_counts(b);
    let mut sorted = values.to_vec();
    sorted.sort_by(|x, y| x.partial_cmp(y).expect("no NaN"));
    let lo = sorted[k_lo];
    let hi = sorted[b - 1 - k_hi];
    match rule {
        Rule::Mean | Rule::Winsor(_) | Rule::Temporal(_) => {
            values.iter().map(|&v| v.clamp(lo, hi)).sum::<f64>() / b as f64
        }
        Rule::Trim(_) => {
            let kept = &sorted[k_lo..b - k_hi];
            kept.iter().sum::<f64>() / kept.len() as f64
        }
        Rule::Median => (lo + hi) / 2.0,
        Rule::SignSum(s) => s * sign(values.iter().sum()),
        Rule::SumSign(s) => s * values.iter().map(|&v| sign(v)).sum::<f64>(),
    }
}

/// numpy's sign: -1, 0 or 1 (and 0 for -0).
pub fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// The per-example gradients of coordinate `coord` of a layer's gradient segment (its
/// `fan_out x fan_in` weights row-major, then its `fan_out` biases), from the errors `d`
/// (rows x fan_out) and inputs `a` (rows x fan_in): d[e, j] * a[e, k] for weight (j, k) and
/// d[e, j] for bias j.
pub fn per_example_gradients(
    d: &[f64],
    a: &[f64],
    rows: usize,
    fan_out: usize,
    fan_in: usize,
    coord: usize,
) -> Vec<f64> {
    if coord < fan_out * fan_in {
        let (j, k) = (coord / fan_in, coord % fan_in);
        (0..rows)
            .map(|e| d[e * fan_out + j] * a[e * fan_in + k])
            .collect()
    } else {
        let j = coord - fan_out * fan_in;
        assert!(j < fan_out, "coordinate {coord} past the layer's segment");
        (0..rows).map(|e| d[e * fan_out + j]).collect()
    }
}

/// Kernels `select_partial`, `select_partial_cols` (shaders/select/select_partial.wgsl,
/// select_partial_cols.wgsl) and `select_sort` (shaders/select/select_sort.wgsl), the two selection
/// paths: the aggregated gradient of one layer under `rule` from its per-example errors `d`
/// (rows x fan_out) and inputs `a` (rows x fan_in). Returns (weights, biases); each
/// coordinate is [`aggregate_values`] of its [`per_example_gradients`]. (With an update the
/// kernels then apply [`sgd`] to the parameters in place.)
pub fn select(
    rule: &Rule,
    d: &[f64],
    a: &[f64],
    rows: usize,
    fan_out: usize,
    fan_in: usize,
) -> (Vec<f64>, Vec<f64>) {
    let coord =
        |c: usize| aggregate_values(rule, &per_example_gradients(d, a, rows, fan_out, fan_in, c));
    let weights = (0..fan_out * fan_in).map(coord).collect();
    let biases = (fan_out * fan_in..fan_out * (fan_in + 1))
        .map(coord)
        .collect();
    (weights, biases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winsor_on_known_values() {
        // 10 values, C = 10: index round(0.9) = 1 and round(8.1) = 8.
        let v: Vec<f64> = vec![5.0, -100.0, 1.0, 2.0, 3.0, 4.0, 6.0, 7.0, 8.0, 100.0];
        let got = aggregate_values(&Rule::Winsor(10.0), &v);
        // -100 -> 1, 100 -> 8: (1+1+2+3+4+5+6+7+8+8)/10
        assert_eq!(got, 4.5);
        assert_eq!(aggregate_values(&Rule::Mean, &v), 3.6);
        // trim:10 drops -100 and 100: (1+...+8)/8
        assert_eq!(aggregate_values(&Rule::Trim(10.0), &v), 4.5);
        // median of 10 values: (4 + 5) / 2
        assert_eq!(aggregate_values(&Rule::Median, &v), 4.5);
        assert_eq!(aggregate_values(&Rule::Median, &v[..9]), 4.0);
        // 9 positive values and 1 negative; the sum is 36
        assert_eq!(aggregate_values(&Rule::SignSum(0.5), &v), 0.5);
        assert_eq!(aggregate_values(&Rule::SumSign(0.5), &v), 4.0);
        assert_eq!(aggregate_values(&Rule::SignSum(0.5), &[-0.0, 0.0]), 0.0);
        assert_eq!(
            aggregate_values(&Rule::SumSign(0.5), &[-0.0, 2.0, -3.0]),
            0.0
        );
    }

    #[test]
    fn matmul_strides_offsets_and_epilogues() {
        // A = [[1, 2], [3, 4]] stored transposed after one junk value; B = [[1, -1], [2, 0]]
        // row-major after two junk values, biases (10, -20) after it
        let a = [9.0, 1.0, 3.0, 2.0, 4.0];
        let b = [9.0, 9.0, 1.0, -1.0, 2.0, 0.0, 10.0, -20.0];
        let l = MatmulLayout {
            m: 2,
            n: 2,
            k: 2,
            a_off: 1,
            a_rs: 1,
            a_cs: 2,
            b_off: 2,
            b_rs: 2,
            b_cs: 1,
            bias_off: 6,
        };
        // A B = [[5, -1], [11, -3]]
        assert_eq!(
            matmul(&a, &b, &l, MatmulEpilogue::Scale { scale: 1.0 }),
            [5.0, -1.0, 11.0, -3.0]
        );
        assert_eq!(
            matmul(&a, &b, &l, MatmulEpilogue::Bias),
            [15.0, -21.0, 21.0, -23.0]
        );
        assert_eq!(
            matmul(&a, &b, &l, MatmulEpilogue::BiasRelu),
            [15.0, 0.0, 21.0, 0.0]
        );
        let aux = [1.0, 1.0, 0.0, -0.5];
        assert_eq!(
            matmul(&a, &b, &l, MatmulEpilogue::MaskPositive { aux: &aux }),
            [5.0, -1.0, 0.0, 0.0]
        );
        let prior = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(
            matmul(
                &a,
                &b,
                &l,
                MatmulEpilogue::ScaleAdd {
                    prior: &prior,
                    scale: 0.5
                }
            ),
            [3.5, 1.5, 8.5, 2.5]
        );
    }

    #[test]
    fn temporal_waits_for_three_gradients() {
        let g: Vec<Vec<f64>> = [[1.0, -1.0], [3.0, 0.0], [2.0, 5.0], [0.0, 0.0]]
            .iter()
            .map(|x| x.to_vec())
            .collect();
        let recent = |t: usize| -> Vec<&[f64]> {
            g[t.saturating_sub(2)..=t].iter().map(|x| &x[..]).collect()
        };
        for rule in [Temporal::Rm3, Temporal::M3, Temporal::Ra3] {
            assert_eq!(temporal(rule, 0, &recent(0)), None);
            assert_eq!(temporal(rule, 1, &recent(1)), None);
        }
        assert_eq!(temporal(Temporal::Rm3, 2, &recent(2)), Some(vec![2.0, 0.0]));
        assert_eq!(temporal(Temporal::M3, 2, &recent(2)), Some(vec![2.0, 0.0]));
        assert_eq!(
            temporal(Temporal::Ra3, 2, &recent(2)),
            Some(vec![2.0, 4.0 / 3.0])
        );
        assert_eq!(temporal(Temporal::Rm3, 3, &recent(3)), Some(vec![2.0, 0.0]));
        assert_eq!(temporal(Temporal::M3, 3, &recent(3)), None);
    }

    #[test]
    fn select_orders_weights_then_biases() {
        // two examples, one output, two inputs: weights d * a, bias d
        let d = [2.0, -1.0];
        let a = [1.0, 3.0, 4.0, 0.5];
        assert_eq!(per_example_gradients(&d, &a, 2, 1, 2, 0), [2.0, -4.0]);
        assert_eq!(per_example_gradients(&d, &a, 2, 1, 2, 1), [6.0, -0.5]);
        assert_eq!(per_example_gradients(&d, &a, 2, 1, 2, 2), [2.0, -1.0]);
        let (w, b) = select(&Rule::Mean, &d, &a, 2, 1, 2);
        assert_eq!((w, b), (vec![-1.0, 2.75], vec![0.5]));
    }
}
