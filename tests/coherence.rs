//! The coherence statistics: the per-example kernels against per-example gradients formed
//! explicitly by the f64 reference on a small network, and f_p / f_c against their
//! definition.
//!
//! Tolerance: the GPU runs the forward and backward passes in f32, so each per-example error
//! and activation carries a relative error of a few 1e-7; a dot product g_e . G is compared
//! within 1e-4 ||g_e|| ||G|| (Cauchy-Schwarz scale, with a wide margin), a squared norm within
//! 1e-4 relative.

mod common;

use common::*;
use winsor::analysis::coherence::{Coherence, CoherenceConfig};
use winsor::data::{DataSet, LabelNoise};
use winsor::gpu::trainer::TrainerSpec;
use winsor::gpu::GpuTrainer;
use winsor::model::{Init, Params};
use winsor::reference::{self, Net64};
use winsor::rule::{Rule, Select};

/// Every example's explicit gradient per layer (weights then biases), with the reference.
fn explicit_gradients(net: &Net64, data: &DataSet, labels: &[u8]) -> Vec<Vec<Vec<f64>>> {
    let n = data.train.n;
    let acts = reference::forward(net, &reference::inputs(&data.train.pixels), n);
    let xent = reference::softmax_xent(acts.last().unwrap(), labels, 10);
    let ds = reference::backward(net, &acts, &xent.d, n);
    (0..n)
        .map(|e| {
            net.layers
                .iter()
                .enumerate()
                .map(|(l, layer)| {
                    let (fi, fo) = (layer.fan_in, layer.fan_out);
                    let mut v = Vec::with_capacity(fo * (fi + 1));
                    for j in 0..fo {
                        for k in 0..fi {
                            v.push(ds[l][e * fo + j] * acts[l][e * fi + k]);
                        }
                    }
                    v.extend((0..fo).map(|j| ds[l][e * fo + j]));
                    v
                })
                .collect()
        })
        .collect()
}

/// The first `n` training and 20 test images of the built-in MNIST.
fn mnist_head(n: usize) -> DataSet {
    let full = winsor::data::builtin_mnist().unwrap();
    DataSet {
        source: "mnist head".into(),
        train: full.train.head(n),
        test: full.test.head(20),
    }
}

/// A mean-rule trainer with the coherence passes, initialised with `seed` as a run would be.
#[allow(clippy::too_many_arguments)]
fn coherence_trainer<'a>(
    g: &'a winsor::gpu::Gpu,
    k: &'a winsor::gpu::Kernels,
    data: &DataSet,
    noise: &LabelNoise,
    widths: &[usize],
    seed: u64,
    batch: usize,
    eval_chunk: usize,
) -> GpuTrainer<'a> {
    let init = Params::init(widths, Init::Code, seed);
    GpuTrainer::new(
        g,
        k,
        data,
        &noise.labels,
        &init,
        Rule::Mean,
        TrainerSpec {
            batch,
            select: Select::Auto,
            lr: 0.1,
            eval_chunk,
            steps_per_submit: 4,
            coherence: true,
        },
    )
    .unwrap()
}

#[test]
fn per_example_dots_and_norms_match_explicit_gradients() {
    let _serial = serial();
    // chunks of 16 rows: 61 examples in 4 chunks, the last one short; and one chunk of 64,
    // where the second pass reuses the first pass's activations and errors
    for k in plans() {
        for eval_chunk in [16, 64] {
            dots_and_norms_match(k, eval_chunk);
        }
    }
}

fn dots_and_norms_match(k: &winsor::gpu::Kernels, eval_chunk: usize) {
    let (g, _) = gpu();
    let plan = plan_name(k);
    let data = mnist_head(61);
    let noise = LabelNoise::new(&data.train.labels, 0.5, 4);
    let widths = [784, 13, 7, 10];
    let trainer = coherence_trainer(g, k, &data, &noise, &widths, 4, 10, eval_chunk);
    // a few steps first, so that the weights are not the initial ones
    let batches: Vec<Vec<u32>> = (0..3).map(|s| (s * 10..s * 10 + 10).collect()).collect();
    trainer.train(&batches).unwrap();
    let params = trainer.params().unwrap();
    let per = trainer.coherence().unwrap();

    let net = Net64::from_params(&params);
    let ge = explicit_gradients(&net, &data, &noise.labels);
    let layers = widths.len() - 1;
    let total: Vec<Vec<f64>> = (0..layers)
        .map(|l| {
            let mut t = vec![0.0; ge[0][l].len()];
            for e in &ge {
                for (x, y) in t.iter_mut().zip(&e[l]) {
                    *x += y;
                }
            }
            t
        })
        .collect();
    let dot = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(x, y)| x * y).sum::<f64>();
    let norm_total: f64 = total.iter().map(|t| dot(t, t)).sum::<f64>().sqrt();
    for (e, g_e) in ge.iter().enumerate() {
        for l in 0..layers {
            let want = dot(&g_e[l], &total[l]);
            let sq = dot(&g_e[l], &g_e[l]);
            let got = per.dot[l][e] as f64;
            assert!(
                (got - want).abs() <= 1e-4 * sq.sqrt() * norm_total + 1e-12,
                "{plan}, chunk {eval_chunk}, example {e} layer {l}: g_e.G gpu {got} vs reference {want}"
            );
            let got_sq = per.d_sq[l][e] as f64 * (per.a_sq[l][e] as f64 + 1.0);
            assert!(
                (got_sq - sq).abs() <= 1e-4 * sq + 1e-20,
                "{plan}, chunk {eval_chunk}, example {e} layer {l}: |g_e|^2 gpu {got_sq} vs reference {sq}"
            );
        }
    }

    // f_p, f_c and alpha from the measurement against their definitions
    let mut c = Coherence::new(
        CoherenceConfig {
            null_worlds: 2,
            sample_examples: 61,
            sample_weights: 5,
            minibatches: 2,
            ..Default::default()
        },
        &noise.changed,
        &widths,
        10,
        4,
    );
    let header = c.header();
    let row = c
        .measure(3, &per, &params, &data.train.pixels, &noise.labels)
        .to_vec();
    let col = |name: &str| row[header.iter().position(|h| h == name).unwrap()];
    let all: Vec<f64> = (0..ge.len())
        .map(|e| (0..layers).map(|l| dot(&ge[e][l], &total[l])).sum())
        .collect();
    let gg = norm_total * norm_total;
    let f_p: f64 = (0..ge.len())
        .filter(|&e| !noise.changed[e])
        .map(|e| all[e])
        .sum::<f64>()
        / gg;
    assert!(
        (col("f_p") - f_p).abs() < 1e-4,
        "f_p {} vs {f_p}",
        col("f_p")
    );
    assert!((col("f_p") + col("f_c") - 1.0).abs() < 1e-9);
    for k in 1..=2 {
        let (p, c) = (col(&format!("f_p_null{k}")), col(&format!("f_c_null{k}")));
        assert!((p + c - 1.0).abs() < 1e-9, "null world {k}: {p} + {c}");
    }
    let layer_sum: f64 = (1..=layers).map(|l| col(&format!("f_p_layer{l}"))).sum();
    assert!(
        (layer_sum - col("f_p")).abs() < 1e-9,
        "layer shares sum to f_p"
    );
    let sq_sum: f64 = ge
        .iter()
        .map(|g_e| g_e.iter().map(|v| dot(v, v)).sum::<f64>())
        .sum();
    let m = gg / sq_sum;
    assert!(
        (col("m_coherence") - m).abs() <= 1e-4 * m,
        "m-coherence {} vs {m}",
        col("m_coherence")
    );
    assert!((col("alpha") * ge.len() as f64 - col("m_coherence")).abs() <= 1e-9 * m);
    // a minibatch's alpha lies between 1/B (orthogonal gradients) and 1 (identical ones)
    let a_mb = col("alpha_minibatch");
    assert!((0.1..=1.0).contains(&a_mb), "alpha over minibatches {a_mb}");
    // the sampled estimate over every example and a few weights still splits 1 into two
    assert!((col("f_p_sampled") + col("f_c_sampled") - 1.0).abs() < 1e-9);
}

/// `winsor train --coherence` splits f_p/f_c by the run's `--corrupt` definition: with the
/// default (label changed) the selected examples that kept their label count as pristine.
/// The step-0 row of coherence.csv is recomputed here from the trainer's per-example values
/// and each mask, and the two definitions must give different f_p on this set.
#[test]
fn train_coherence_uses_the_changed_mask() {
    let _serial = serial();
    for k in plans() {
        coherence_mask_under(k);
    }
}

fn coherence_mask_under(k: &winsor::gpu::Kernels) {
    use winsor::data::Corrupt;
    use winsor::train::{run, LogGrid, RunOptions, TrainConfig};
    let (g, _) = gpu();
    let data = mnist_head(200);
    let noise = LabelNoise::new(&data.train.labels, 0.5, 3);
    let kept = (0..200)
        .filter(|&e| noise.selected[e] && !noise.changed[e])
        .count();
    assert!(kept > 0, "some selected labels stay put at this seed");
    let trainer = coherence_trainer(g, k, &data, &noise, &[784, 16, 10], 3, 20, 64);
    let per = trainer.coherence().unwrap();
    let s: Vec<f64> = (0..200)
        .map(|e| per.dot.iter().map(|d| d[e] as f64).sum())
        .collect();
    let gg: f64 = s.iter().sum();
    let f_p = |mask: &[bool]| (0..200).filter(|&e| !mask[e]).map(|e| s[e]).sum::<f64>() / gg;
    let (want_changed, want_selected) = (f_p(&noise.changed), f_p(&noise.selected));
    assert!(
        (want_changed - want_selected).abs() > 1e-3,
        "the two definitions should differ here: {want_changed} vs {want_selected}"
    );
    for (corrupt, want) in [
        (Corrupt::Changed, want_changed),
        (Corrupt::Selected, want_selected),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig {
            arch: "784,16,10".parse().unwrap(),
            noise: 50.0,
            batch: 20,
            steps: 1,
            seed: 3,
            log_grid: LogGrid::Every(1),
            eval_chunk: 64,
            corrupt,
            coherence: Some(CoherenceConfig {
                first: 0,
                null_worlds: 1,
                sample_examples: 20,
                sample_weights: 5,
                minibatches: 1,
            }),
            ..TrainConfig::default()
        };
        run(
            g,
            k,
            &data,
            &cfg,
            &RunOptions {
                out: dir.path().to_path_buf(),
                force: false,
                progress: false,
                parent: None,
                checkpoint: Default::default(),
            },
        )
        .unwrap();
        let csv = std::fs::read_to_string(dir.path().join("coherence.csv")).unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let row0: Vec<&str> = lines.next().unwrap().split(',').collect();
        let at = header.iter().position(|h| *h == "f_p").unwrap();
        let got: f64 = row0[at].parse().unwrap();
        assert!(
            (got - want).abs() < 1e-9,
            "--corrupt {corrupt}: f_p at step 0 is {got}, the {corrupt} mask gives {want}"
        );
        let config = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
        assert!(
            config.contains(&format!("corrupt = \"{corrupt}\"")),
            "config.toml records the definition: {config}"
        );
        // examples.csv: `corrupt` follows the definition, `selected` is the selection mask
        let ex = std::fs::read_to_string(dir.path().join("examples.csv")).unwrap();
        let mut rows = ex.lines();
        let h: Vec<&str> = rows.next().unwrap().split(',').collect();
        let (ci, si) = (
            h.iter().position(|x| *x == "corrupt").unwrap(),
            h.iter().position(|x| *x == "selected").unwrap(),
        );
        for (e, line) in rows.enumerate() {
            let r: Vec<&str> = line.split(',').collect();
            let mask = noise.corrupt(corrupt);
            assert_eq!(r[ci], if mask[e] { "1" } else { "0" }, "example {e}");
            assert_eq!(r[si], if noise.selected[e] { "1" } else { "0" });
        }
    }
}

/// `--similarity`'s matrix K[i, j] = g_i . g_j of a probe (in an order of its own, with
/// rows past one evaluation chunk's worth of examples not needed) against the explicit
/// per-example gradients, within 1e-4 |g_i| |g_j| (Cauchy-Schwarz scale, as above); and,
/// with every training example in the probe, its f_p (the pristine rows' share of sum(K))
/// against `--coherence`'s exact f_p from the same weights, within 1e-4.
#[test]
fn similarity_matches_explicit_gradients_and_coherence() {
    let _serial = serial();
    for k in plans() {
        let (g, _) = gpu();
        let plan = plan_name(k);
        let data = mnist_head(61);
        let noise = LabelNoise::new(&data.train.labels, 0.5, 4);
        let widths = [784, 13, 7, 10];
        let mut trainer = coherence_trainer(g, k, &data, &noise, &widths, 4, 10, 64);
        let batches: Vec<Vec<u32>> = (0..3).map(|s| (s * 10..s * 10 + 10).collect()).collect();
        trainer.train(&batches).unwrap();
        let net = Net64::from_params(&trainer.params().unwrap());
        let ge = explicit_gradients(&net, &data, &noise.labels);
        let flat = |e: usize| -> Vec<f64> { ge[e].concat() };
        let dot = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(x, y)| x * y).sum::<f64>();

        // a probe in an awkward order, 37 examples
        let probe: Vec<u32> = (0..37).map(|i| (i * 5 + 3) % 61).collect();
        trainer.add_similarity(k, &probe).unwrap();
        let kk = trainer.similarity().unwrap();
        let n = probe.len();
        for i in 0..n {
            let gi = flat(probe[i] as usize);
            for j in 0..n {
                let gj = flat(probe[j] as usize);
                let want = dot(&gi, &gj);
                let got = kk[i * n + j] as f64;
                let scale = dot(&gi, &gi).sqrt() * dot(&gj, &gj).sqrt();
                assert!(
                    (got - want).abs() <= 1e-4 * scale + 1e-12,
                    "{plan}: K[{i}, {j}] gpu {got} vs explicit {want}"
                );
            }
        }

        // every example: the probe's f_p is the training set's
        let all: Vec<u32> = (0..61).collect();
        trainer.add_similarity(k, &all).unwrap();
        let kk = trainer.similarity().unwrap();
        let corrupt = noise.corrupt(winsor::data::Corrupt::Changed);
        let n = all.len();
        let row = |i: usize| (0..n).map(|j| kk[i * n + j] as f64).sum::<f64>();
        let total: f64 = (0..n).map(row).sum();
        let pristine: f64 = (0..n).filter(|&i| !corrupt[i]).map(row).sum();
        let per = trainer.coherence().unwrap();
        let s_e = |e: usize| {
            (0..widths.len() - 1)
                .map(|l| per.dot[l][e] as f64)
                .sum::<f64>()
        };
        let g_total: f64 = (0..n).map(s_e).sum();
        let g_pristine: f64 = (0..n).filter(|&e| !corrupt[e]).map(s_e).sum();
        let (f_p_k, f_p_coh) = (pristine / total, g_pristine / g_total);
        assert!(
            (f_p_k - f_p_coh).abs() < 1e-4,
            "{plan}: f_p from K {f_p_k} vs --coherence {f_p_coh}"
        );
        assert!(corrupt.iter().any(|&c| c) && corrupt.iter().any(|&c| !c));
    }
}
