//! `--coherence`: how much of the full-gradient step comes from pristine and from corrupt
//! examples (PAPER.md, Experiment 2), exactly, over every training example and every
//! parameter.
//!
//! With g_e the gradient of example e's loss and G = sum_e g_e, every quantity here is a sum
//! of two per-example numbers the GPU computes in two passes over the training set
//! ([`crate::gpu::GpuTrainer::coherence`]): s_e = g_e . G (through G_W a_e + G_b, never forming
//! g_e) and ||g_e||^2 = sum_l ||d_e||^2 (||a_e||^2 + 1). So
//! - f_p = sum_{e in P} s_e / ||G||^2 and f_c likewise, with ||G||^2 = sum_e s_e;
//! - a null world permutes the pristine/corrupt designation and only regroups the s_e;
//! - i_p(t) = (1/|P|) sum over measured steps s <= t of p_s . g_s (exact as the paper's
//!   cumulative sum when every step is measured, as `--coherence-first` does);
//! - alpha = ||E g_e||^2 / E ||g_e||^2 = ||G||^2 / (N sum_e ||g_e||^2), m-coherence = N alpha.
//!
//! Two estimates use the f64 CPU reference on a few examples instead: the paper's sampled
//! f_p/f_c (400 examples, 300 weights per layer, fixed seeds) and alpha averaged over a few
//! fixed minibatches (m = B), whose summed gradient's norm comes from the Gram identity
//! ||sum_e g_e||^2 = sum_l sum_{e,e'} (d_e . d_e')(a_e . a_e' + 1).

use crate::gpu::trainer::PerExample;
use crate::model::Params;
use crate::reference::{self, Net64};
use crate::rng::{Rng, Stream};

/// What `--coherence` measures and how.
#[derive(Debug, Clone)]
pub struct CoherenceConfig {
    /// Measure every step for steps 0..=first (besides every logged step).
    pub first: u64,
    /// Null worlds: random permutations of the pristine/corrupt designation.
    pub null_worlds: usize,
    /// The paper's sampled estimate: examples, and weights per layer.
    pub sample_examples: usize,
    pub sample_weights: usize,
    /// Fixed minibatches for the minibatch-averaged alpha.
    pub minibatches: usize,
}

impl Default for CoherenceConfig {
    fn default() -> Self {
        CoherenceConfig {
            first: 10,
            null_worlds: 3,
            sample_examples: 400,
            sample_weights: 300,
            minibatches: 4,
        }
    }
}

/// The state of the measurement across a run: the designations, the samples, and the
/// cumulative sums.
pub struct Coherence {
    cfg: CoherenceConfig,
    layers: usize,
    /// worlds[0] is the real designation (true = corrupt), then the null worlds.
    worlds: Vec<Vec<bool>>,
    /// cumulative (i_p, i_c) per world
    cum: Vec<(f64, f64)>,
    sample: Vec<usize>,
    /// sampled weight indices (j * fan_in + k) per layer
    sample_w: Vec<Vec<usize>>,
    minibatches: Vec<Vec<usize>>,
    rows: Vec<Vec<f64>>,
}

impl Coherence {
    /// `corrupt`: the label-noise selection mask; `widths`: the network; `batch`: the size of
    /// the fixed minibatches; `seed`: the run's seed (every sample and permutation derives
    /// from it).
    pub fn new(
        cfg: CoherenceConfig,
        corrupt: &[bool],
        widths: &[usize],
        batch: usize,
        seed: u64,
    ) -> Self {
        let n = corrupt.len();
        let mut r = Rng::new(seed, Stream::Coherence);
        let mut worlds = vec![corrupt.to_vec()];
        for _ in 0..cfg.null_worlds {
            let mut w = corrupt.to_vec();
            r.shuffle(&mut w);
            worlds.push(w);
        }
        let mut pick = |count: usize, from: usize| -> Vec<usize> {
            let mut all: Vec<usize> = (0..from).collect();
            r.shuffle(&mut all);
            all.truncate(count.min(from));
            all
        };
        let sample = pick(cfg.sample_examples, n);
        let sample_w = widths
            .windows(2)
            .map(|w| pick(cfg.sample_weights, w[0] * w[1]))
            .collect();
        let minibatches = (0..cfg.minibatches).map(|_| pick(batch, n)).collect();
        Coherence {
            layers: widths.len() - 1,
            cum: vec![(0.0, 0.0); worlds.len()],
            worlds,
            sample,
            sample_w,
            minibatches,
            rows: Vec::new(),
            cfg,
        }
    }

    /// The running state a checkpoint keeps: the cumulative sums per world and the rows.
    pub fn state(&self) -> (&[(f64, f64)], &[Vec<f64>]) {
        (&self.cum, &self.rows)
    }

    /// Puts back the state of [`Self::state`] (the rest derives from the seed).
    pub fn restore(&mut self, cum: Vec<(f64, f64)>, rows: Vec<Vec<f64>>) -> anyhow::Result<()> {
        if cum.len() != self.cum.len() {
            anyhow::bail!(
                "the checkpoint's coherence state has {} worlds, the run {}",
                cum.len(),
                self.cum.len()
            );
        }
        self.cum = cum;
        self.rows = rows;
        Ok(())
    }

    pub fn config(&self) -> &CoherenceConfig {
        &self.cfg
    }

    /// The CSV header: every column name begins with its quantity's name.
    pub fn header(&self) -> Vec<String> {
        let mut h = vec!["step".to_string(), "f_p".into(), "f_c".into()];
        for l in 1..=self.layers {
            h.push(format!("f_p_layer{l}"));
            h.push(format!("f_c_layer{l}"));
        }
        h.push("f_p_sampled".into());
        h.push("f_c_sampled".into());
        for k in 1..self.worlds.len() {
            h.push(format!("f_p_null{k}"));
            h.push(format!("f_c_null{k}"));
        }
        h.push("i_p".into());
        h.push("i_c".into());
        for k in 1..self.worlds.len() {
            h.push(format!("i_p_null{k}"));
            h.push(format!("i_c_null{k}"));
        }
        h.push("alpha".into());
        h.push("m_coherence".into());
        for l in 1..=self.layers {
            h.push(format!("alpha_layer{l}"));
        }
        h.push("alpha_minibatch".into());
        h.push("m_coherence_minibatch".into());
        for set in ["p", "c"] {
            for q in ["mean", "q1", "median", "q3"] {
                h.push(format!("grad_norm_{set}_{q}"));
            }
        }
        h.push("grad_sq_norm_total".into());
        h
    }

    /// Measures one step: `per` from the GPU, `params` the current weights, `pixels` and
    /// `labels` the training set (noisy labels) for the reference estimates. Returns the row
    /// (in header order) and keeps it.
    pub fn measure(
        &mut self,
        step: u64,
        per: &PerExample,
        params: &Params,
        pixels: &[u8],
        labels: &[u8],
    ) -> &[f64] {
        let n = self.worlds[0].len();
        let s: Vec<f64> = (0..n)
            .map(|e| per.dot.iter().map(|d| d[e] as f64).sum())
            .collect();
        let gg: f64 = s.iter().sum();
        let split = |world: &[bool], v: &dyn Fn(usize) -> f64| -> (f64, f64) {
            let (mut p, mut c) = (0.0, 0.0);
            for (e, &corrupt) in world.iter().enumerate() {
                if corrupt {
                    c += v(e);
                } else {
                    p += v(e);
                }
            }
            (p, c)
        };
        let mut row = vec![step as f64];
        let (p, c) = split(&self.worlds[0], &|e| s[e]);
        row.extend([p / gg, c / gg]);
        for l in 0..self.layers {
            let (pl, cl) = split(&self.worlds[0], &|e| per.dot[l][e] as f64);
            row.extend([pl / gg, cl / gg]);
        }
        let net = Net64::from_params(params);
        let (fps, fcs) = self.sampled(&net, pixels, labels);
        row.extend([fps, fcs]);
        let mut sums = Vec::new();
        for w in &self.worlds {
            let (p, c) = split(w, &|e| s[e]);
            sums.push((p, c));
        }
        for &(p, c) in &sums[1..] {
            row.extend([p / gg, c / gg]);
        }
        for (k, w) in self.worlds.iter().enumerate() {
            let n_c = w.iter().filter(|&&x| x).count() as f64;
            let n_p = n as f64 - n_c;
            self.cum[k].0 += sums[k].0 / n_p;
            self.cum[k].1 += sums[k].1 / n_c;
        }
        for &(ip, ic) in &self.cum {
            row.extend([ip, ic]);
        }
        // norms: ||g_e||^2 per layer
        let sq_l = |l: usize, e: usize| per.d_sq[l][e] as f64 * (per.a_sq[l][e] as f64 + 1.0);
        let sq: Vec<f64> = (0..n)
            .map(|e| (0..self.layers).map(|l| sq_l(l, e)).sum())
            .collect();
        let total_sq: f64 = sq.iter().sum();
        row.extend([gg / (n as f64 * total_sq), gg / total_sq]);
        for l in 0..self.layers {
            let gl: f64 = per.dot[l].iter().map(|&x| x as f64).sum();
            let tl: f64 = (0..n).map(|e| sq_l(l, e)).sum();
            row.push(gl / (n as f64 * tl));
        }
        let (a_mb, b) = self.minibatch_alpha(&net, pixels, labels);
        row.extend([a_mb, a_mb * b as f64]);
        for want_corrupt in [false, true] {
            let mut norms: Vec<f64> = (0..n)
                .filter(|&e| self.worlds[0][e] == want_corrupt)
                .map(|e| sq[e].sqrt())
                .collect();
            row.extend(summary(&mut norms));
        }
        row.push(total_sq);
        self.rows.push(row);
        self.rows.last().expect("just pushed")
    }

    /// coherence.csv with every row so far.
    pub fn csv(&self) -> String {
        super::csv_table(&self.header(), &self.rows, 1)
    }

    /// The paper's estimate: per-example gradients of the sampled examples, restricted to
    /// the sampled weights, with the reference in f64.
    fn sampled(&self, net: &Net64, pixels: &[u8], labels: &[u8]) -> (f64, f64) {
        let (d, a) = per_example_errors(net, pixels, labels, &self.sample);
        let mut g: Vec<Vec<f64>> = Vec::new();
        for (i, _) in self.sample.iter().enumerate() {
            let mut v = Vec::new();
            for (l, layer) in net.layers.iter().enumerate() {
                for &w in &self.sample_w[l] {
                    let (j, k) = (w / layer.fan_in, w % layer.fan_in);
                    v.push(d[l][i * layer.fan_out + j] * a[l][i * layer.fan_in + k]);
                }
            }
            g.push(v);
        }
        let dim = g.first().map_or(0, |v| v.len());
        let (mut p, mut c) = (vec![0.0; dim], vec![0.0; dim]);
        for (i, &e) in self.sample.iter().enumerate() {
            let t = if self.worlds[0][e] { &mut c } else { &mut p };
            for (x, y) in t.iter_mut().zip(&g[i]) {
                *x += y;
            }
        }
        let total: Vec<f64> = p.iter().zip(&c).map(|(x, y)| x + y).collect();
        let dot = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(x, y)| x * y).sum::<f64>();
        let gg = dot(&total, &total);
        (dot(&p, &total) / gg, dot(&c, &total) / gg)
    }

    /// Mean over the fixed minibatches of ||sum_e g_e||^2 / (B sum_e ||g_e||^2).
    fn minibatch_alpha(&self, net: &Net64, pixels: &[u8], labels: &[u8]) -> (f64, usize) {
        if self.minibatches.is_empty() {
            return (f64::NAN, 0);
        }
        let mut total = 0.0;
        let mut b = 0;
        for mb in &self.minibatches {
            b = mb.len();
            let (d, a) = per_example_errors(net, pixels, labels, mb);
            let (mut sum_sq, mut norms) = (0.0, 0.0);
            for (l, layer) in net.layers.iter().enumerate() {
                let (fi, fo) = (layer.fan_in, layer.fan_out);
                let dd = |x: usize, y: usize| -> f64 {
                    (0..fo).map(|j| d[l][x * fo + j] * d[l][y * fo + j]).sum()
                };
                let aa = |x: usize, y: usize| -> f64 {
                    (0..fi)
                        .map(|k| a[l][x * fi + k] * a[l][y * fi + k])
                        .sum::<f64>()
                        + 1.0
                };
                for x in 0..b {
                    norms += dd(x, x) * aa(x, x);
                    for y in 0..b {
                        sum_sq += dd(x, y) * aa(x, y);
                    }
                }
            }
            total += sum_sq / (b as f64 * norms);
        }
        (total / self.minibatches.len().max(1) as f64, b)
    }
}

/// Per-example output errors d (per layer, rows x fan_out) and inputs a (rows x fan_in) of
/// the examples `which`, with the reference.
fn per_example_errors(
    net: &Net64,
    pixels: &[u8],
    labels: &[u8],
    which: &[usize],
) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let dim = net.layers[0].fan_in;
    let px: Vec<u8> = which
        .iter()
        .flat_map(|&e| pixels[e * dim..(e + 1) * dim].iter().copied())
        .collect();
    let lab: Vec<u8> = which.iter().map(|&e| labels[e]).collect();
    let acts = reference::forward(net, &reference::inputs(&px), which.len());
    let classes = net.layers.last().expect("layers").fan_out;
    let xent = reference::softmax_xent(acts.last().expect("logits"), &lab, classes);
    let ds = reference::backward(net, &acts, &xent.d, which.len());
    (ds, acts)
}

/// mean, first quartile, median, third quartile (numpy "linear" percentiles); NaN if empty.
fn summary(v: &mut [f64]) -> [f64; 4] {
    if v.is_empty() {
        return [f64::NAN; 4];
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let q = |f: f64| {
        let x = f * (v.len() - 1) as f64;
        let (i, t) = (x.floor() as usize, x - x.floor());
        v[i] + t * (v[(i + 1).min(v.len() - 1)] - v[i])
    };
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    [mean, q(0.25), q(0.5), q(0.75)]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A null world permutes the designation, so it has exactly as many corrupt examples
    /// as the real one (|C| and |P| are the real counts in every world).
    #[test]
    fn null_worlds_keep_the_corrupt_count() {
        let corrupt: Vec<bool> = (0..103).map(|e| e % 7 == 2 || e % 11 == 0).collect();
        let c = Coherence::new(
            CoherenceConfig {
                null_worlds: 5,
                ..Default::default()
            },
            &corrupt,
            &[784, 8, 10],
            10,
            1,
        );
        let count = |w: &[bool]| w.iter().filter(|&&x| x).count();
        assert_eq!(c.worlds.len(), 6);
        assert_eq!(c.worlds[0], corrupt);
        for w in &c.worlds[1..] {
            assert_eq!(count(w), count(&corrupt));
            assert_ne!(w, &corrupt, "a null world is a different designation");
        }
    }
}
