//! Every WGSL kernel against the f64 CPU reference, on seeded random inputs of awkward sizes
//! (not multiples of the workgroup or tile sizes).
//!
//! Tolerances are the standard worst-case bounds for f32 arithmetic with unit roundoff
//! u = 2^-24: a sum of n products is within (n + 2) u sum|a_k b_k| of the exact value (matmul,
//! bias gradient, batch loss); the winsorized mean of B products is within 4 u sum_e |v_e|
//! (product rounding plus the f32 sum; picking a neighbouring order statistic because of
//! product rounding moves the clip value by at most one rounding too).

mod common;

use common::*;
use winsor::gpu::kernels::{Epilogue, GatherFrom, Matmul, MatmulParams, MatmulVariant, Slice};
use winsor::gpu::select::{Selection, PARTIAL_KMAX, SORT_PMAX};
use winsor::gpu::{run, trainer::pack_bytes};
use winsor::reference;
use winsor::rule::{Rule, Select};

#[test]
fn gather_reads_selected_examples_and_labels() {
    // rows of whole packed words (28) and rows that straddle words (13, 6)
    for dim in [13usize, 28, 6] {
        gather_case(dim);
    }
}

fn gather_case(dim: usize) {
    let (g, k) = gpu();
    let mut r = rng(1);
    let (n, rows) = (53usize, 37usize);
    let pixels: Vec<u8> = (0..n * dim).map(|_| r.below(256) as u8).collect();
    let labels: Vec<u32> = (0..n).map(|_| r.below(10) as u32).collect();
    let idx: Vec<u32> = (0..rows).map(|_| r.below(n as u64) as u32).collect();
    let px = g.storage_init("px", bytemuck::cast_slice(&pack_bytes(&pixels)));
    let lab = g.storage_init("lab", bytemuck::cast_slice(&labels));
    let ib = g.storage_init("idx", bytemuck::cast_slice(&idx));
    let steps = winsor::gpu::kernels::step_buffer(g, 1, rows as u32);
    let x = g.storage("x", (rows * dim * 4) as u64);
    let rl = g.storage("rl", (rows * 4) as u64);
    let d = k.gather.bind(
        g,
        &px,
        &lab,
        GatherFrom::Indices {
            indices: Slice::all(&ib),
            step: &steps,
            base: 0,
        },
        &x,
        &rl,
        rows as u32,
        dim as u32,
    );
    run(g, &[&d]).unwrap();
    let gx = g.read_f32(&x, 0, rows * dim).unwrap();
    let gl = g.read_u32(&rl, 0, rows).unwrap();
    for (row, &e) in idx.iter().enumerate() {
        assert_eq!(gl[row], labels[e as usize]);
        for q in 0..dim {
            let want = pixels[e as usize * dim + q] as f64 / 255.0;
            // WGSL allows 2.5 ulp for division
            let tol = 3.0 * 2.0 * U * want.abs();
            let got = gx[row * dim + q] as f64;
            assert!(
                (got - want).abs() <= tol,
                "dim {dim} row {row} px {q}: {got} vs {want}"
            );
        }
    }
    // evaluation mode: a contiguous range starting at `base`
    let d = k.gather.bind(
        g,
        &px,
        &lab,
        GatherFrom::Range {
            base: 9,
            step: &steps,
        },
        &x,
        &rl,
        17,
        dim as u32,
    );
    run(g, &[&d]).unwrap();
    let gl = g.read_u32(&rl, 0, 17).unwrap();
    assert_eq!(gl, labels[9..26].to_vec());
}

/// Runs C = op(A) op(B) on the GPU and compares with an f64 loop over the same strides.
#[allow(clippy::too_many_arguments)]
fn check_matmul(
    mm: &Matmul,
    epi: Epilogue,
    m: usize,
    n: usize,
    kk: usize,
    a_t: bool,
    b_t: bool,
    seed: u64,
) -> Vec<f32> {
    let (g, _) = gpu();
    let mut r = rng(seed);
    let a = uniform(&mut r, m * kk, 1.0);
    // B holds the matrix and, for bias epilogues, n biases after it
    let mut b = uniform(&mut r, kk * n + n, 1.0);
    b[0] = 1e30; // extreme values travel through unharmed
    let aux = uniform(&mut r, m * n, 1.0);
    let (a_rs, a_cs) = if a_t { (1, m) } else { (kk, 1) };
    let (b_rs, b_cs) = if b_t { (1, kk) } else { (n, 1) };
    let p = MatmulParams {
        m: m as u32,
        n: n as u32,
        k: kk as u32,
        a_rs: a_rs as u32,
        a_cs: a_cs as u32,
        b_rs: b_rs as u32,
        b_cs: b_cs as u32,
        bias_off: (kk * n) as u32,
        scale: 0.37,
        ..Default::default()
    };
    let ab = g.storage_init("a", bytemuck::cast_slice(&a));
    let bb = g.storage_init("b", bytemuck::cast_slice(&b));
    let xb = g.storage_init("aux", bytemuck::cast_slice(&aux));
    // C's prior contents, which ScaleAdd adds to
    let prior = uniform(&mut r, m * n, 1.0);
    let cb = g.storage_init("c", bytemuck::cast_slice(&prior));
    let d = mm.bind(
        g,
        epi,
        Slice::all(&ab),
        Slice::all(&bb),
        Slice::all(&xb),
        Slice::all(&cb),
        p,
    );
    run(g, &[&d]).unwrap();
    let got = g.read_f32(&cb, 0, m * n).unwrap();
    let mut want = vec![0.0; m * n];
    let mut tol = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut sa) = (0.0f64, 0.0f64);
            for t in 0..kk {
                let v = a[i * a_rs + t * a_cs] as f64 * b[t * b_rs + j * b_cs] as f64;
                s += v;
                sa += v.abs();
            }
            let bias = b[kk * n + j] as f64;
            let (w, extra) = match epi {
                Epilogue::BiasRelu => ((s + bias).max(0.0), bias.abs()),
                Epilogue::Bias => (s + bias, bias.abs()),
                Epilogue::MaskPositive => (if aux[i * n + j] > 0.0 { s } else { 0.0 }, 0.0),
                Epilogue::Scale => (s * 0.37f32 as f64, 0.0),
                Epilogue::ScaleAdd => (
                    prior[i * n + j] as f64 + s * 0.37f32 as f64,
                    prior[i * n + j].abs() as f64,
                ),
            };
            want[i * n + j] = w;
            tol[i * n + j] = (kk as f64 + 3.0) * U * (sa + extra) + 1e-30;
        }
    }
    assert_close(
        &format!("matmul {:?} {epi:?} {m}x{n}x{kk}", mm.variant),
        &got,
        &want,
        &tol,
    );
    got
}

#[test]
fn matmul_forward_backprop_and_grad_layouts() {
    let (g, _) = gpu();
    let tiled = Matmul::new(g, MatmulVariant::Tiled);
    let cpu = Matmul::new(g, MatmulVariant::Cpu);
    // the three stride patterns the trainer uses, at awkward sizes
    let cases = [
        (Epilogue::BiasRelu, 37, 13, 257, false, true), // forward hidden
        (Epilogue::Bias, 37, 10, 13, false, true),      // logits
        (Epilogue::MaskPositive, 37, 257, 13, false, false), // backprop
        (Epilogue::Scale, 13, 257, 37, true, false),    // mean gradient d^T a
        (Epilogue::ScaleAdd, 13, 100, 37, true, false), // accumulated over row chunks
        (Epilogue::Bias, 1, 1, 1, false, false),
        (Epilogue::BiasRelu, 130, 65, 100, false, true),
        // k a multiple of 4 with both operands contiguous in k: the CPU variant's vec4 path
        (Epilogue::BiasRelu, 37, 257, 784, false, true),
        (Epilogue::Bias, 37, 10, 256, false, true),
        // k and n multiples of 4 in the backprop layout: the CPU variant's vec4-along-n path
        // (n = 260: the last invocation's second vec4 of columns is past the end)
        (Epilogue::MaskPositive, 37, 260, 12, false, false),
        (Epilogue::MaskPositive, 37, 256, 256, false, false),
        (Epilogue::MaskPositive, 5, 4, 8, false, false),
        // m and n multiples of 4 in the summed-gradient layout d^T a: the CPU variant's
        // vec4-along-m-and-n path (m = 12 and n = 260: blocks past both ends; k odd)
        (Epilogue::Scale, 12, 260, 37, true, false),
        (Epilogue::ScaleAdd, 68, 100, 50, true, false),
        (Epilogue::Scale, 4, 4, 1, true, false),
    ];
    for (i, &(epi, m, n, kk, at, bt)) in cases.iter().enumerate() {
        let a = check_matmul(&tiled, epi, m, n, kk, at, bt, i as u64);
        let b = check_matmul(&cpu, epi, m, n, kk, at, bt, i as u64);
        // same summation order, so the two variants agree bit for bit
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b), "tiled vs cpu, case {i}");
    }
}

#[test]
fn softmax_xent_matches_reference() {
    let (g, k) = gpu();
    let mut r = rng(8);
    let (rows, classes) = (37usize, 10usize);
    let mut logits = uniform(&mut r, rows * classes, 5.0);
    // ties (first maximum wins) and large logits (must not overflow)
    for c in 0..classes {
        logits[c] = 2.0;
        logits[classes + c] = 80.0 + c as f32 * 0.0;
    }
    logits[2 * classes + 3] = 1e4;
    let labels: Vec<u8> = (0..rows).map(|i| (i % classes) as u8).collect();
    let lab32: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    let lb = g.storage_init("logits", bytemuck::cast_slice(&logits));
    let rl = g.storage_init("labels", bytemuck::cast_slice(&lab32));
    let db = g.storage("d", (rows * classes * 4) as u64);
    let base = 5usize;
    let loss = g.storage("loss", ((rows + base) * 4) as u64);
    let corr = g.storage("correct", ((rows + base) * 4) as u64);
    let d = k.softmax.bind(
        g,
        &lb,
        &rl,
        &db,
        true,
        &loss,
        &corr,
        rows as u32,
        classes as u32,
        base as u32,
    );
    run(g, &[&d]).unwrap();
    let want = reference::softmax_xent(&to64(&logits), &labels, classes);
    let gl = g.read_f32(&loss, base as u64, rows).unwrap();
    let gc = g.read_u32(&corr, base as u64, rows).unwrap();
    let gd = g.read_f32(&db, 0, rows * classes).unwrap();
    // exp/log in WGSL are accurate to a few ulp of their argument's scale: tolerance relative
    // to the logits' magnitude
    let tol: Vec<f64> = (0..rows)
        .map(|i| {
            let zmax = logits[i * classes..(i + 1) * classes]
                .iter()
                .fold(0f32, |m, z| m.max(z.abs()));
            1e-5 * (1.0 + zmax as f64)
        })
        .collect();
    assert_close("loss", &gl, &want.loss, &tol);
    assert_close("d", &gd, &want.d, &vec![1e-5; rows * classes]);
    let wc: Vec<u32> = want.correct.iter().map(|&c| c as u32).collect();
    assert_eq!(gc, wc, "correctness (first maximum wins ties)");
    assert_eq!(gc[0], 1, "row 0: all tied, label 0 is the first maximum");
}

#[test]
fn batch_stats_and_bias_grad_reduce_in_order() {
    let (g, k) = gpu();
    let mut r = rng(9);
    let rows = 299usize; // more than one pass of the 256-wide reduction
    let loss: Vec<f32> = (0..rows).map(|_| r.uniform() as f32 * 3.0).collect();
    let corr: Vec<u32> = (0..rows).map(|_| r.below(2) as u32).collect();
    let lb = g.storage_init("loss", bytemuck::cast_slice(&loss));
    let cb = g.storage_init("corr", bytemuck::cast_slice(&corr));
    let stats = g.storage("stats", 64);
    let steps = winsor::gpu::kernels::step_buffer(g, 3, 1);
    let d = k.batch_stats.bind(g, &lb, &cb, &stats, &steps, rows as u32);
    // record in slot 2 to check the dynamic offset
    let mut enc = g.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        d.record(&mut pass, 2);
    }
    g.queue.submit([enc.finish()]);
    let s = g.read_u32(&stats, 4, 2).unwrap();
    let want = loss.iter().map(|&x| x as f64).sum::<f64>() / rows as f64;
    let got = f32::from_bits(s[0]) as f64;
    assert!(
        (got - want).abs() <= (rows as f64 + 2.0) * U * want,
        "{got} vs {want}"
    );
    assert_eq!(s[1], corr.iter().sum::<u32>());

    let (width, off) = (13usize, 3usize);
    let dv = uniform(&mut r, rows * width, 2.0);
    let db = g.storage_init("d", bytemuck::cast_slice(&dv));
    let gb = g.storage("g", ((width + off) * 4) as u64);
    let scale = 1.0 / rows as f32;
    let first = k.bias_grad.bind(
        g,
        &db,
        Slice::all(&gb),
        rows as u32,
        width as u32,
        off as u32,
        scale,
        false,
    );
    let again = k.bias_grad.bind(
        g,
        &db,
        Slice::all(&gb),
        rows as u32,
        width as u32,
        off as u32,
        scale,
        true,
    );
    run(g, &[&first]).unwrap();
    let once = g.read_f32(&gb, off as u64, width).unwrap();
    // accumulating the same chunk again doubles it exactly (x + x is exact in binary)
    run(g, &[&again]).unwrap();
    let twice = g.read_f32(&gb, off as u64, width).unwrap();
    for j in 0..width {
        assert_eq!(twice[j], 2.0 * once[j], "accumulate, column {j}");
    }
    run(g, &[&first]).unwrap();
    let got = g.read_f32(&gb, off as u64, width).unwrap();
    let want: Vec<f64> = (0..width)
        .map(|j| (0..rows).map(|e| dv[e * width + j] as f64).sum::<f64>() / rows as f64)
        .collect();
    let tol: Vec<f64> = (0..width)
        .map(|j| {
            (rows as f64 + 3.0)
                * U
                * (0..rows)
                    .map(|e| dv[e * width + j].abs() as f64)
                    .sum::<f64>()
                / rows as f64
        })
        .collect();
    assert_close("bias grad", &got, &want, &tol);
}

#[test]
fn sgd_update() {
    let (g, k) = gpu();
    let mut r = rng(10);
    let n = 1001usize;
    let w = uniform(&mut r, n, 1.0);
    let gr = uniform(&mut r, n, 1.0);
    let wb = g.storage_init("w", bytemuck::cast_slice(&w));
    let gb = g.storage_init("g", bytemuck::cast_slice(&gr));
    let d = k.sgd.bind(g, &wb, &gb, n as u32, 0.1);
    run(g, &[&d]).unwrap();
    let got = g.read_f32(&wb, 0, n).unwrap();
    let want: Vec<f64> = (0..n)
        .map(|i| w[i] as f64 - 0.1f32 as f64 * gr[i] as f64)
        .collect();
    let tol: Vec<f64> = (0..n)
        .map(|i| 2.0 * U * (w[i].abs() + 0.1 * gr[i].abs()) as f64 * 2.0)
        .collect();
    assert_close("sgd", &got, &want, &tol);
    // the buffer's padding past n (to whole vec4s) is left alone
    let tail = g.read_f32(&wb, n as u64, 1004 - n).unwrap();
    assert!(tail.iter().all(|&x| x == 0.0), "{tail:?}");
}

/// Runs a selection kernel over a layer and compares every coordinate with the reference.
/// Tolerance per coordinate, with S = sum_e |v_e| over its per-example values, on the sum
/// before it is divided by the count the rule divides by: 4 B u S for the partial path (a
/// running sum in example order, worst case (B - 1) u S, then the clipped-sum correction),
/// and (log2(P) + 2) u S for the sort path (a pairwise tree over P padded values, then the
/// scale). The sign rules are compared exactly where
/// the sign of the sum is certain, i.e. where |sum| exceeds the sum's own rounding bound.
fn check_selection(
    rule: Rule,
    select: Select,
    d: &[f32],
    a: &[f32],
    rows: usize,
    fo: usize,
    fi: usize,
) {
    // the partial path in both orientations: every example read, or only those whose
    // inputs are not all zero (select_partial_cols.wgsl)
    for sparse_inputs in [false, true] {
        if sparse_inputs && select == Select::Sort {
            continue;
        }
        check_selection_with(rule, select, sparse_inputs, d, a, rows, fo, fi);
    }
}

#[allow(clippy::too_many_arguments)]
fn check_selection_with(
    rule: Rule,
    select: Select,
    sparse_inputs: bool,
    d: &[f32],
    a: &[f32],
    rows: usize,
    fo: usize,
    fi: usize,
) {
    let (g, _) = gpu();
    let (k_lo, k_hi) = rule.clip_counts(rows);
    let kernel = Selection::new(g, &rule, rows, select).unwrap();
    let db = g.storage_init("d", bytemuck::cast_slice(d));
    let ab = g.storage_init("a", bytemuck::cast_slice(a));
    let gb = g.storage("g", (fo * (fi + 1) * 4) as u64);
    let disp = kernel.bind(
        g,
        Slice::all(&db),
        Slice::all(&ab),
        Slice::all(&gb),
        fo as u32,
        fi as u32,
        sparse_inputs,
        1,
        None,
    );
    run(g, &disp.iter().collect::<Vec<_>>()).unwrap();
    let got = g.read_f32(&gb, 0, fo * (fi + 1)).unwrap();
    // the same kernel applying its update as an SGD step, in place on parameters w:
    // w - lr * update, from the stored update above, to rounding (2 u of |w| + lr |update|)
    let lr = 0.37f32;
    let w: Vec<f32> = uniform(&mut rng(fo as u64 * 31 + fi as u64), fo * (fi + 1), 1.0);
    let wb = g.storage_init("w", bytemuck::cast_slice(&w));
    let disp = kernel.bind(
        g,
        Slice::all(&db),
        Slice::all(&ab),
        Slice::all(&wb),
        fo as u32,
        fi as u32,
        sparse_inputs,
        1,
        Some(lr),
    );
    run(g, &disp.iter().collect::<Vec<_>>()).unwrap();
    let stepped = g.read_f32(&wb, 0, fo * (fi + 1)).unwrap();
    let (want_w, tol_w): (Vec<f64>, Vec<f64>) = w
        .iter()
        .zip(&got)
        .map(|(&w, &s)| {
            let (w, s, lr) = (w as f64, s as f64, lr as f64);
            (w - lr * s, 2.0 * U * (w.abs() + lr * s.abs()) + 1e-38)
        })
        .unzip();
    assert_close(
        &format!("{rule} {select:?} sparse inputs {sparse_inputs} B={rows} {fo}x{fi}, SGD applied in the kernel"),
        &stepped,
        &want_w,
        &tol_w,
    );
    let (gw, gbias) = reference::aggregate_layer(&rule, &to64(d), &to64(a), rows, fo, fi);
    let mut want = gw;
    want.extend(gbias);
    let values = |c: usize| -> Vec<f64> {
        let (j, kk, bias) = if c < fo * fi {
            (c / fi, c % fi, false)
        } else {
            (c - fo * fi, 0, true)
        };
        (0..rows)
            .map(|e| d[e * fo + j] as f64 * if bias { 1.0 } else { a[e * fi + kk] as f64 })
            .collect()
    };
    // bound on the error of the sum, in units of u S
    let ulps = match kernel.path() {
        Select::Sort => (rows.next_power_of_two().max(2).trailing_zeros() + 2) as f64,
        _ => 4.0 * rows as f64,
    };
    let tol: Vec<f64> = (0..fo * (fi + 1))
        .map(|c| {
            let v = values(c);
            let s: f64 = v.iter().map(|x| x.abs()).sum();
            match rule {
                // the sign of the sum is certain where |sum| > rows u S (the running sum's
                // worst case); elsewhere either sign (or 0) is right
                Rule::SignSum(scale) => {
                    let sum: f64 = v.iter().sum();
                    if sum.abs() > rows as f64 * U * s {
                        U * scale // the constant rounded to f32
                    } else {
                        2.0 * scale
                    }
                }
                // sums of +-1 and 0 are exact; only a product below f32's normal range may
                // round (or flush) to 0 and lose its sign
                Rule::SumSign(scale) => {
                    let tiny = v
                        .iter()
                        .filter(|x| **x != 0.0 && x.abs() < f32::MIN_POSITIVE as f64)
                        .count();
                    scale * (tiny as f64 + 2.0 * U * rows as f64)
                }
                _ => {
                    let kept = match rule {
                        Rule::Trim(_) => (rows - k_lo - k_hi) as f64,
                        _ => rows as f64,
                    };
                    ulps * U * s / kept + 1e-38
                }
            }
        })
        .collect();
    assert_close(
        &format!("{rule} {select:?} sparse inputs {sparse_inputs} B={rows} {fo}x{fi}"),
        &got,
        &want,
        &tol,
    );
}

/// Both paths (the sign rules have only one).
fn check_winsor(rule: Rule, d: &[f32], a: &[f32], rows: usize, fo: usize, fi: usize) {
    let (k_lo, k_hi) = rule.clip_counts(rows);
    if k_lo.max(k_hi) <= PARTIAL_KMAX {
        check_selection(rule, Select::Partial, d, a, rows, fo, fi);
    }
    if rows <= SORT_PMAX && rule.selects() {
        check_selection(rule, Select::Sort, d, a, rows, fo, fi);
    }
}

#[test]
fn winsor_random_awkward_sizes() {
    let mut r = rng(11);
    for (rows, fo, fi, c) in [
        (37, 13, 7, 2.0),
        (100, 5, 9, 1.0),
        (100, 5, 9, 8.0),
        (128, 3, 4, 4.0),
        (200, 3, 3, 12.5),
        (256, 2, 3, 49.0), // largest clip count: 127 per side
        (37, 4, 3, 49.9),
        // fan_out a multiple of 4 (vec4 loads of d, 8 or 4 units per invocation) but not of
        // the units per invocation
        (100, 12, 7, 1.0),
        (100, 20, 8, 2.0),
        (37, 12, 9, 4.0),
        (100, 8, 5, 8.0),
        (1, 3, 2, 10.0),
        (2, 3, 2, 25.0),
        (3, 3, 2, 25.0),
    ] {
        let d = uniform(&mut r, rows * fo, 1.0);
        let a = uniform(&mut r, rows * fi, 1.0);
        check_winsor(Rule::Winsor(c), &d, &a, rows, fo, fi);
    }
}

#[test]
fn winsor_zero_equals_mean() {
    let mut r = rng(12);
    let (rows, fo, fi) = (37, 6, 11);
    let d = uniform(&mut r, rows * fo, 1.0);
    let a = uniform(&mut r, rows * fi, 1.0);
    check_winsor(Rule::Winsor(0.0), &d, &a, rows, fo, fi);
    check_winsor(Rule::Mean, &d, &a, rows, fo, fi);
}

#[test]
fn winsor_ties_zeros_and_extremes() {
    // fan_in 6 reads a as scalars, 8 as vec4
    for fi in [6, 8] {
        ties_zeros_and_extremes(fi);
    }
}

fn ties_zeros_and_extremes(fi: usize) {
    let mut r = rng(13);
    let (rows, fo) = (100, 4);
    // ties: values drawn from a few levels, like ReLU zeros and repeated pixels
    let d: Vec<f32> = (0..rows * fo)
        .map(|_| [0.0, -0.0, 0.5, -0.5][r.below(4) as usize])
        .collect();
    let mut a: Vec<f32> = (0..rows * fi)
        .map(|_| [0.0, 1.0, 0.25][r.below(3) as usize])
        .collect();
    // column 0 of a all equal, column 1 all zero (every product +-0)
    for e in 0..rows {
        a[e * fi] = 0.75;
        a[e * fi + 1] = 0.0;
    }
    for c in [0.0, 1.0, 4.0, 8.0, 30.0] {
        check_winsor(Rule::Winsor(c), &d, &a, rows, fo, fi);
    }
    // very large and very small magnitudes
    let d: Vec<f32> = (0..rows * fo)
        .map(|_| {
            let s = if r.below(2) == 0 { 1.0 } else { -1.0 };
            s * [1e18, 1e-18, 3e-30, 1.0][r.below(4) as usize]
        })
        .collect();
    let a: Vec<f32> = (0..rows * fi)
        .map(|_| [1e18, 1e-18, 1.0][r.below(3) as usize])
        .collect();
    for c in [1.0, 2.0, 8.0] {
        check_winsor(Rule::Winsor(c), &d, &a, rows, fo, fi);
    }
}

/// Inputs that are mostly zero, like MNIST's pixels, where the column kernel skips whole
/// groups of inputs: every rule, fan_in a multiple of 4 or not, and values of one sign, so
/// that the skipped zeros are among the kept extremes.
#[test]
fn sparse_inputs_like_mnist() {
    let mut r = rng(17);
    for (rows, fo, fi) in [(100, 12, 30), (100, 13, 32), (37, 8, 9)] {
        let a: Vec<f32> = (0..rows * fi)
            .map(|_| {
                if r.below(100) < 85 {
                    0.0
                } else {
                    r.uniform() as f32
                }
            })
            .collect();
        let mixed: Vec<f32> = (0..rows * fo)
            .map(|_| {
                if r.below(2) == 0 {
                    0.0
                } else {
                    (2.0 * r.uniform() - 1.0) as f32
                }
            })
            .collect();
        let positive: Vec<f32> = mixed.iter().map(|x| x.abs() + 0.25).collect();
        for d in [&mixed, &positive] {
            for rule in [
                Rule::Mean,
                Rule::Winsor(1.0),
                Rule::Winsor(2.0),
                Rule::Winsor(8.0),
                Rule::Trim(4.0),
                Rule::Median,
                Rule::SignSum(0.001),
                Rule::SumSign(0.001),
            ] {
                check_selection(rule, Select::Partial, d, &a, rows, fo, fi);
            }
        }
    }
}

#[test]
fn gpu_errors_become_errors_not_panics() {
    // a device of its own: the error would otherwise be reported to the other tests
    let g = winsor::gpu::Gpu::new(std::env::var("WINSOR_ADAPTER").ok().as_deref()).unwrap();
    let b = g.storage("b", 16);
    let mut enc = g.device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(&b, 0, &b, 0, 16); // one buffer as source and destination: invalid
    g.queue.submit([enc.finish()]);
    let e = g.wait().expect_err("the invalid copy must be reported");
    assert!(format!("{e:#}").contains("GPU reported an error"), "{e:#}");
}

#[test]
fn trim_and_median_share_the_selection() {
    let mut r = rng(14);
    for (rows, fo, fi) in [(37, 3, 7), (100, 2, 8), (128, 2, 5), (1, 2, 3), (2, 2, 4)] {
        let d = uniform(&mut r, rows * fo, 1.0);
        let a = uniform(&mut r, rows * fi, 1.0);
        for rule in [
            Rule::Trim(0.0),
            Rule::Trim(4.0),
            Rule::Trim(25.0),
            Rule::Median,
        ] {
            check_winsor(rule, &d, &a, rows, fo, fi);
        }
    }
    // ties and zeros
    let d: Vec<f32> = (0..100 * 3)
        .map(|_| [0.0, -0.0, 0.5][r.below(3) as usize])
        .collect();
    let a: Vec<f32> = (0..100 * 4)
        .map(|_| [0.0, 1.0][r.below(2) as usize])
        .collect();
    for rule in [Rule::Trim(8.0), Rule::Median] {
        check_winsor(rule, &d, &a, 100, 3, 4);
    }
}

#[test]
fn sign_rules_random_ties_and_extremes() {
    let mut r = rng(15);
    for (rows, fo, fi) in [(37, 3, 7), (100, 2, 8), (1, 2, 3), (200, 2, 5)] {
        let d = uniform(&mut r, rows * fo, 1.0);
        let a = uniform(&mut r, rows * fi, 1.0);
        for rule in [
            Rule::SignSum(0.001),
            Rule::SumSign(0.001),
            Rule::SignSum(0.5),
            Rule::SumSign(0.03),
        ] {
            check_winsor(rule, &d, &a, rows, fo, fi);
        }
    }
    // +-0 (sign 0), exact cancellations, and magnitudes from 1e-30 to 1e18
    let (rows, fo, fi) = (100, 3, 6);
    let d: Vec<f32> = (0..rows * fo)
        .map(|_| [0.0, -0.0, 0.5, -0.5, 1e18, -3e-30][r.below(6) as usize])
        .collect();
    let a: Vec<f32> = (0..rows * fi)
        .map(|_| [0.0, 1.0, 1e-18][r.below(3) as usize])
        .collect();
    for rule in [Rule::SignSum(0.001), Rule::SumSign(0.001)] {
        check_winsor(rule, &d, &a, rows, fo, fi);
    }
}

#[test]
fn sort_path_large_minibatches_and_every_clip_count() {
    let mut r = rng(16);
    // P = 512, 1024 (fewer coordinates per workgroup), and the largest clip counts
    for (rows, fo, fi, c) in [(300, 2, 5, 49.0), (1000, 2, 3, 10.0), (1000, 1, 2, 0.0)] {
        let d = uniform(&mut r, rows * fo, 1.0);
        let a = uniform(&mut r, rows * fi, 1.0);
        check_selection(Rule::Winsor(c), Select::Sort, &d, &a, rows, fo, fi);
        check_selection(Rule::Trim(c), Select::Sort, &d, &a, rows, fo, fi);
    }
    let (rows, fo, fi) = (1000, 2, 3);
    let d = uniform(&mut r, rows * fo, 1.0);
    let a = uniform(&mut r, rows * fi, 1.0);
    check_selection(Rule::Median, Select::Sort, &d, &a, rows, fo, fi);
    // every clip count of B = 37 on both paths: 0..=18 per side
    let (rows, fo, fi) = (37, 2, 5);
    let d = uniform(&mut r, rows * fo, 1.0);
    let a = uniform(&mut r, rows * fi, 1.0);
    let mut seen = std::collections::BTreeSet::new();
    for tenth in 0..500 {
        let rule = Rule::Winsor(tenth as f64 / 10.0);
        if seen.insert(rule.clip_counts(rows)) {
            check_winsor(rule, &d, &a, rows, fo, fi);
        }
    }
    assert_eq!(seen.len(), 19, "clip counts 0..=18 per side");
}

#[test]
fn selection_paths_refuse_what_they_cannot_do() {
    let (g, _) = gpu();
    let err = |r: anyhow::Result<Selection>| format!("{:#}", r.err().expect("must fail"));
    // the partial path keeps at most 127 per side
    let e = err(Selection::new(g, &Rule::Median, 300, Select::Partial));
    assert!(e.contains("--select sort"), "{e}");
    // the sort path sorts at most 4096 values per coordinate
    let e = err(Selection::new(g, &Rule::Winsor(1.0), 5000, Select::Sort));
    assert!(e.contains("--select partial"), "{e}");
    // auto picks by clip count
    let s = Selection::new(g, &Rule::Winsor(2.0), 100, Select::Auto).unwrap();
    assert_eq!(s.path(), Select::Partial);
    let s = Selection::new(g, &Rule::Median, 300, Select::Auto).unwrap();
    assert_eq!(s.path(), Select::Sort);
}

#[test]
fn temporal_rules_match_reference_over_steps() {
    use winsor::gpu::kernels::{step_buffer, step_bytes, StepInfo, TemporalCombine};
    use winsor::rule::Temporal;
    let (g, _) = gpu();
    let mut r = rng(17);
    let n = 1000; // not a multiple of the workgroup size
    for temporal in [Temporal::Rm3, Temporal::M3, Temporal::Ra3] {
        let rule = Rule::Temporal(temporal);
        let kernel = TemporalCombine::new(g, temporal);
        let gb = g.storage("g", (n * 4) as u64);
        let hist = g.storage("hist", (3 * n * 4) as u64);
        let steps = step_buffer(g, 1, 1);
        let disp = kernel.bind(g, &gb, &hist, &steps, n as u32);
        let mut state = reference::RuleState::default();
        for t in 0..8u32 {
            // ties (a few levels) in half the coordinates, random values in the rest
            let x: Vec<f32> = (0..n)
                .map(|i| {
                    if i % 2 == 0 {
                        [-1.0, 0.0, -0.0, 2.0][r.below(4) as usize]
                    } else {
                        (2.0 * r.uniform() - 1.0) as f32 * 1e3
                    }
                })
                .collect();
            g.queue.write_buffer(&gb, 0, bytemuck::cast_slice(&x));
            g.queue
                .write_buffer(&steps, 0, &step_bytes(&[StepInfo::new(0, 1, t)]));
            run(g, &[&disp]).unwrap();
            let got = g.read_f32(&gb, 0, n).unwrap();
            let want = match state.update(&rule, vec![(to64(&x), vec![])]) {
                Some(u) => u[0].0.clone(),
                None => vec![0.0; n],
            };
            // the median is exact; the mean of three is within 2 u of (|x0| + |x1| + |x2|) / 3
            // plus the division's rounding
            let tol: Vec<f64> = want.iter().map(|w| 3.0 * U * 1e3 + U * w.abs()).collect();
            let tol: Vec<f64> = match temporal {
                Temporal::Ra3 => tol,
                _ => vec![0.0; n],
            };
            assert_close(&format!("{rule} step {t}"), &got, &want, &tol);
        }
    }
}

#[test]
fn sparse_inputs_like_mnist_background() {
    // most inputs zero (MNIST's background pixels): whole groups of four zero inputs are
    // counted instead of inserted, so their zeros must still count as order statistics
    let mut r = rng(18);
    for fi in [12, 13] {
        let (rows, fo) = (100, 5);
        let d = uniform(&mut r, rows * fo, 1.0);
        let a: Vec<f32> = (0..rows * fi)
            .map(|_| {
                if r.below(100) < 85 {
                    0.0
                } else {
                    r.uniform() as f32
                }
            })
            .collect();
        for rule in [
            Rule::Winsor(1.0),
            Rule::Winsor(8.0),
            Rule::Winsor(30.0),
            Rule::Trim(10.0),
            Rule::Median,
            Rule::SignSum(0.001),
            Rule::SumSign(0.001),
        ] {
            check_winsor(rule, &d, &a, rows, fo, fi);
        }
    }
}

/// The first layer's forward product that skips zero groups of inputs (CPU variant) against
/// the tiled GPU kernel, bit for bit, on inputs that are mostly zero (whole 8-row blocks zero
/// in some columns, as MNIST's borders), at awkward sizes: m not a multiple of 8, n past one
/// workgroup of 256 columns.
#[test]
fn matmul_skipping_zero_inputs_is_bit_identical() {
    let (g, _) = gpu();
    let tiled = Matmul::new(g, MatmulVariant::Tiled);
    let cpu = Matmul::new(g, MatmulVariant::Cpu);
    let mut r = rng(21);
    for (m, n, kk) in [(37usize, 260usize, 36usize), (100, 13, 784), (5, 8, 4)] {
        let a: Vec<f32> = (0..m * kk)
            .map(|i| {
                let col = i % kk;
                if col < 8 || r.below(100) < 80 {
                    0.0
                } else {
                    r.uniform() as f32
                }
            })
            .collect();
        let b = uniform(&mut r, kk * n + n, 1.0);
        let p = MatmulParams {
            m: m as u32,
            n: n as u32,
            k: kk as u32,
            a_rs: kk as u32,
            a_cs: 1,
            b_rs: 1,
            b_cs: kk as u32,
            bias_off: (kk * n) as u32,
            ..Default::default()
        };
        let ab = g.storage_init("a", bytemuck::cast_slice(&a));
        let bb = g.storage_init("b", bytemuck::cast_slice(&b));
        for epi in [Epilogue::BiasRelu, Epilogue::Bias] {
            let c1 = g.storage("c1", (m * n * 4) as u64);
            let c2 = g.storage("c2", (m * n * 4) as u64);
            let d1 = tiled.bind(
                g,
                epi,
                Slice::all(&ab),
                Slice::all(&bb),
                Slice::all(&ab),
                Slice::all(&c1),
                p,
            );
            let d2 = cpu
                .bind_sparse(
                    g,
                    epi,
                    Slice::all(&ab),
                    Slice::all(&bb),
                    Slice::all(&c2),
                    p,
                    1,
                )
                .expect("the CPU variant has the sparse product");
            run(g, &[&d1, &d2[0], &d2[1]]).unwrap();
            let want = g.read_f32(&c1, 0, m * n).unwrap();
            let got = g.read_f32(&c2, 0, m * n).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{epi:?} {m}x{n}x{kk}");
            // and the tiled kernel itself against the f64 reference
            for i in 0..m {
                for j in 0..n {
                    let (mut s, mut sa) = (b[kk * n + j] as f64, b[kk * n + j].abs() as f64);
                    for t in 0..kk {
                        let v = a[i * kk + t] as f64 * b[j * kk + t] as f64;
                        s += v;
                        sa += v.abs();
                    }
                    if epi == Epilogue::BiasRelu {
                        s = s.max(0.0);
                    }
                    let e = (got[i * n + j] as f64 - s).abs();
                    assert!(e <= (kk as f64 + 3.0) * U * sa + 1e-30, "{i},{j}: {e}");
                }
            }
        }
    }
    // a GPU-layout request gets None (the caller falls back to `bind`)
    let (ab, bb, cb) = (g.storage("a", 64), g.storage("b", 64), g.storage("c", 64));
    let p = MatmulParams {
        m: 2,
        n: 2,
        k: 3,
        a_rs: 3,
        a_cs: 1,
        b_rs: 1,
        b_cs: 3,
        ..Default::default()
    };
    assert!(cpu
        .bind_sparse(
            g,
            Epilogue::Bias,
            Slice::all(&ab),
            Slice::all(&bb),
            Slice::all(&cb),
            p,
            1
        )
        .is_none());
    assert!(tiled
        .bind_sparse(
            g,
            Epilogue::Bias,
            Slice::all(&ab),
            Slice::all(&bb),
            Slice::all(&cb),
            p,
            1
        )
        .is_none());
}
