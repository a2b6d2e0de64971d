//! Every WGSL kernel against its f64 CPU twin in `winsor::reference` (named in the first
//! line of its file in src/gpu/kernels/), on seeded random inputs of awkward sizes (not
//! multiples of the workgroup or tile sizes).
//!
//! Tolerances are the standard worst-case bounds for f32 arithmetic with unit roundoff
//! u = 2^-24: a sum of n products is within (n + 2) u sum|a_k b_k| of the exact value (matmul,
//! bias gradient, batch loss, row dot products); the winsorized mean of B products is within
//! 4 u sum_e |v_e| (product rounding plus the f32 sum; picking a neighbouring order statistic
//! because of product rounding moves the clip value by at most one rounding too).

mod common;

/// This binary's device: unvalidated unless `WINSOR_VALIDATE` says otherwise. It is the
/// longest test binary (about 20 minutes unvalidated on a 2-core lavapipe machine, 2026-12-06)
/// and compiles hundreds of shader variants (every clip count, unit count and orientation),
/// each of whose SPIR-V the layer checks at creation; a validated run had not finished after
/// 25 minutes (with builds beside it). The end-to-end, coherence, limits and resume tests run
/// every kernel of a training step under the layer instead.
fn gpu() -> &'static (Gpu, Kernels) {
    common::gpu_unless(Validation::Off)
}

use common::*;
use winsor::gpu::kernels::{
    Epilogue, GatherFrom, Matmul, MatmulParams, MatmulVariant, Slice, SparseMatmul,
};
use winsor::gpu::plan::{Operands, ShaderChecks, Units};
use winsor::gpu::select::{Selection, PARTIAL_KMAX, SORT_PMAX};
use winsor::gpu::{run, trainer::pack_bytes, Gpu, KernelPlan, Kernels, Validation};
use winsor::reference::{self, MatmulEpilogue, MatmulLayout};
use winsor::rule::{Rule, Select};

#[test]
fn gather_reads_selected_examples_and_labels() {
    let _serial = serial();
    // rows of whole packed words (28) and rows that straddle words (13, 6)
    for dim in [13usize, 28, 6] {
        gather_case(dim);
    }
}

/// The gathered rows against `reference::gather`: labels exactly, pixels to the division's
/// rounding (WGSL allows 2.5 ulp for division).
fn check_gather(what: &str, got_x: &[f32], got_labels: &[u32], want: (Vec<f64>, Vec<u32>)) {
    let (want_x, want_labels) = want;
    assert_eq!(got_labels, want_labels, "{what}: labels");
    let tol: Vec<f64> = want_x.iter().map(|w| 3.0 * 2.0 * U * w.abs()).collect();
    assert_close(&format!("{what}: pixels"), got_x, &want_x, &tol);
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
    let examples: Vec<usize> = idx.iter().map(|&e| e as usize).collect();
    check_gather(
        &format!("dim {dim} indices"),
        &g.read_f32(&x, 0, rows * dim).unwrap(),
        &g.read_u32(&rl, 0, rows).unwrap(),
        reference::gather(&pixels, &labels, dim, &examples),
    );
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
    let examples: Vec<usize> = (9..26).collect();
    check_gather(
        &format!("dim {dim} range"),
        &g.read_f32(&x, 0, 17 * dim).unwrap(),
        &g.read_u32(&rl, 0, 17).unwrap(),
        reference::gather(&pixels, &labels, dim, &examples),
    );
}

/// The reference's description of the kernel's operand layout.
fn layout(p: &MatmulParams) -> MatmulLayout {
    MatmulLayout {
        m: p.m as usize,
        n: p.n as usize,
        k: p.k as usize,
        a_off: p.a_off as usize,
        a_rs: p.a_rs as usize,
        a_cs: p.a_cs as usize,
        b_off: p.b_off as usize,
        b_rs: p.b_rs as usize,
        b_cs: p.b_cs as usize,
        bias_off: p.bias_off as usize,
    }
}

fn abs64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x.abs() as f64).collect()
}

/// Where a matrix product's operands sit in their buffers, besides the transposes.
#[derive(Clone, Copy)]
struct Offsets {
    a: usize,
    b: usize,
}

const NO_OFFSETS: Offsets = Offsets { a: 0, b: 0 };

/// Runs C = op(A) op(B) on the GPU and compares with `reference::matmul` over the same
/// strides and offsets. The elements before the offsets are NaN: reading one would show.
/// Tolerance per output: (k + 3) u (sum_q |A(i, q) B(q, j)| + |what the epilogue adds|).
#[allow(clippy::too_many_arguments)]
fn check_matmul(
    mm: &Matmul,
    epi: Epilogue,
    m: usize,
    n: usize,
    kk: usize,
    a_t: bool,
    b_t: bool,
    off: Offsets,
    seed: u64,
) -> Vec<f32> {
    let (g, _) = gpu();
    let mut r = rng(seed);
    let mut a = vec![f32::NAN; off.a];
    a.extend(uniform(&mut r, m * kk, 1.0));
    // B holds the matrix and, for bias epilogues, n biases after it
    let mut b = vec![f32::NAN; off.b];
    b.extend(uniform(&mut r, kk * n + n, 1.0));
    b[off.b] = 1e30; // extreme values travel through unharmed
    let aux = uniform(&mut r, m * n, 1.0);
    let (a_rs, a_cs) = if a_t { (1, m) } else { (kk, 1) };
    let (b_rs, b_cs) = if b_t { (1, kk) } else { (n, 1) };
    let p = MatmulParams {
        m: m as u32,
        n: n as u32,
        k: kk as u32,
        a_off: off.a as u32,
        a_rs: a_rs as u32,
        a_cs: a_cs as u32,
        b_off: off.b as u32,
        b_rs: b_rs as u32,
        b_cs: b_cs as u32,
        bias_off: (off.b + kk * n) as u32,
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
    let (aux64, prior64, scale) = (to64(&aux), to64(&prior), p.scale as f64);
    let epi64 = match epi {
        Epilogue::BiasRelu => MatmulEpilogue::BiasRelu,
        Epilogue::Bias => MatmulEpilogue::Bias,
        Epilogue::MaskPositive => MatmulEpilogue::MaskPositive { aux: &aux64 },
        Epilogue::Scale => MatmulEpilogue::Scale { scale },
        Epilogue::ScaleAdd => MatmulEpilogue::ScaleAdd {
            prior: &prior64,
            scale,
        },
    };
    let l = layout(&p);
    let want = reference::matmul(&to64(&a), &to64(&b), &l, epi64);
    // sum_q |A(i, q) B(q, j)|: the same product of the magnitudes
    let sum_abs = reference::matmul(
        &abs64(&a),
        &abs64(&b),
        &l,
        MatmulEpilogue::Scale { scale: 1.0 },
    );
    let tol: Vec<f64> = (0..m * n)
        .map(|c| {
            let extra = match epi {
                Epilogue::BiasRelu | Epilogue::Bias => b[l.bias_off + c % n].abs() as f64,
                Epilogue::ScaleAdd => prior[c].abs() as f64,
                Epilogue::MaskPositive | Epilogue::Scale => 0.0,
            };
            (kk as f64 + 3.0) * U * (sum_abs[c] + extra) + 1e-30
        })
        .collect();
    assert_close(
        &format!(
            "matmul {:?} {epi:?} {m}x{n}x{kk} offsets {} {}",
            mm.variant, off.a, off.b
        ),
        &got,
        &want,
        &tol,
    );
    got
}

#[test]
fn matmul_forward_backprop_and_grad_layouts() {
    let _serial = serial();
    let (g, _) = gpu();
    let tiled = Matmul::new(
        g,
        ShaderChecks::Trusted,
        Operands::Buffers,
        MatmulVariant::Tiled,
    );
    let cpu = Matmul::new(
        g,
        ShaderChecks::Bounds,
        Operands::Buffers,
        MatmulVariant::Cpu,
    );
    // the CPU variant reading A and B from texture mirrors (the cpu plan's operands)
    let cpu_tex = Matmul::new(
        g,
        ShaderChecks::Bounds,
        Operands::Textures,
        MatmulVariant::Cpu,
    );
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
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    for (i, &(epi, m, n, kk, at, bt)) in cases.iter().enumerate() {
        let a = check_matmul(&tiled, epi, m, n, kk, at, bt, NO_OFFSETS, i as u64);
        let b = check_matmul(&cpu, epi, m, n, kk, at, bt, NO_OFFSETS, i as u64);
        let c = check_matmul(&cpu_tex, epi, m, n, kk, at, bt, NO_OFFSETS, i as u64);
        // same summation order, so the variants agree bit for bit
        assert_eq!(bits(&a), bits(&b), "tiled vs cpu, case {i}");
        assert_eq!(bits(&b), bits(&c), "cpu: buffers vs textures, case {i}");
    }
    // operands inside larger buffers (a layer's segment of the parameters): offsets that
    // keep each of the CPU variant's vec4 layouts (multiples of 4) and offsets that do not
    let offset_cases = [
        (Epilogue::BiasRelu, 37, 13, 36, false, true, 4, 8),
        (Epilogue::Bias, 37, 10, 13, false, true, 3, 5),
        (Epilogue::MaskPositive, 37, 260, 12, false, false, 4, 4),
        (Epilogue::MaskPositive, 37, 20, 12, false, false, 2, 1),
        (Epilogue::Scale, 12, 260, 37, true, false, 4, 4),
        (Epilogue::ScaleAdd, 13, 100, 37, true, false, 1, 2),
    ];
    for (i, &(epi, m, n, kk, at, bt, a_off, b_off)) in offset_cases.iter().enumerate() {
        let off = Offsets { a: a_off, b: b_off };
        let seed = 100 + i as u64;
        let a = check_matmul(&tiled, epi, m, n, kk, at, bt, off, seed);
        let b = check_matmul(&cpu, epi, m, n, kk, at, bt, off, seed);
        let c = check_matmul(&cpu_tex, epi, m, n, kk, at, bt, off, seed);
        assert_eq!(bits(&a), bits(&b), "tiled vs cpu, offset case {i}");
        assert_eq!(
            bits(&b),
            bits(&c),
            "cpu: buffers vs textures, offset case {i}"
        );
    }
}

#[test]
fn softmax_xent_matches_reference() {
    let _serial = serial();
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
    let _serial = serial();
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
    let (want, want_correct) = reference::batch_stats(&to64(&loss), &corr);
    let got = f32::from_bits(s[0]) as f64;
    assert!(
        (got - want).abs() <= (rows as f64 + 2.0) * U * want,
        "{got} vs {want}"
    );
    assert_eq!(s[1], want_correct);

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
    // the kernel's scale is the f32 nearest 1 / rows
    let want = reference::bias_grad(&to64(&dv), rows, width, scale as f64);
    let tol: Vec<f64> = reference::bias_grad(&abs64(&dv), rows, width, 1.0 / rows as f64)
        .iter()
        .map(|s| (rows as f64 + 3.0) * U * s)
        .collect();
    assert_close("bias grad", &got, &want, &tol);
}

#[test]
fn sgd_update() {
    let _serial = serial();
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
    let mut want = to64(&w);
    reference::sgd(&mut want, &to64(&gr), 0.1f32 as f64);
    let tol: Vec<f64> = (0..n)
        .map(|i| 2.0 * U * (w[i].abs() + 0.1 * gr[i].abs()) as f64 * 2.0)
        .collect();
    assert_close("sgd", &got, &want, &tol);
    // the buffer's padding past n (to whole vec4s) is left alone
    let tail = g.read_f32(&wb, n as u64, 1004 - n).unwrap();
    assert!(tail.iter().all(|&x| x == 0.0), "{tail:?}");
}

/// The plan the selection tests build their kernels with where the path is given
/// explicitly: the adapter's (both presets give the partial path the same units).
fn adapter_plan() -> KernelPlan {
    gpu().1.plan
}

/// Runs a selection kernel over a layer and compares every coordinate with
/// `reference::select`: the partial path in both orientations (every example read, or only
/// those whose inputs are not all zero: select_partial_cols.wgsl), the sort path once.
#[allow(clippy::too_many_arguments)]
fn check_selection(
    plan: &KernelPlan,
    rule: Rule,
    select: Select,
    d: &[f32],
    a: &[f32],
    rows: usize,
    fo: usize,
    fi: usize,
) {
    let (g, _) = gpu();
    let kernel = Selection::new(g, plan, &rule, rows, select).unwrap();
    for sparse_inputs in [false, true] {
        if sparse_inputs && kernel.path() == Select::Sort {
            continue;
        }
        check_selection_with(&kernel, rule, select, sparse_inputs, d, a, rows, fo, fi);
    }
}

/// Tolerance per coordinate, with S = sum_e |v_e| over its per-example values, on the sum
/// before it is divided by the count the rule divides by: 4 B u S for the partial path (a
/// running sum in example order, worst case (B - 1) u S, then the clipped-sum correction),
/// and (log2(P) + 2) u S for the sort path (a pairwise tree over P padded values, then the
/// scale). The sign rules are compared exactly where the sign of the sum is certain, i.e.
/// where |sum| exceeds the sum's own rounding bound.
#[allow(clippy::too_many_arguments)]
fn check_selection_with(
    kernel: &Selection,
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
    let path = kernel.path();
    let what =
        format!("{rule} {select:?} ({path:?}) sparse inputs {sparse_inputs} B={rows} {fo}x{fi}");
    let got = selected(kernel, sparse_inputs, d, a, fo, fi);
    let db = g.storage_init("d", bytemuck::cast_slice(d));
    let ab = g.storage_init("a", bytemuck::cast_slice(a));
    // the same kernel applying its update as an SGD step, in place on parameters w:
    // reference::sgd from the stored update above, to rounding (2 u of |w| + lr |update|)
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
    let mut want_w = to64(&w);
    reference::sgd(&mut want_w, &to64(&got), lr as f64);
    let tol_w: Vec<f64> = w
        .iter()
        .zip(&got)
        .map(|(&w, &s)| 2.0 * U * (w.abs() as f64 + lr as f64 * s.abs() as f64) + 1e-38)
        .collect();
    assert_close(
        &format!("{what}, SGD applied in the kernel"),
        &stepped,
        &want_w,
        &tol_w,
    );
    let (d64, a64) = (to64(d), to64(a));
    let (mut want, want_bias) = reference::select(&rule, &d64, &a64, rows, fo, fi);
    want.extend(want_bias);
    // bound on the error of the sum, in units of u S
    let ulps = match path {
        Select::Sort => (rows.next_power_of_two().max(2).trailing_zeros() + 2) as f64,
        _ => 4.0 * rows as f64,
    };
    let tol: Vec<f64> = (0..fo * (fi + 1))
        .map(|c| {
            let v = reference::per_example_gradients(&d64, &a64, rows, fo, fi, c);
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
    assert_close(&what, &got, &want, &tol);
}

/// Both paths (the sign rules have only one), under the adapter's plan.
fn check_winsor(rule: Rule, d: &[f32], a: &[f32], rows: usize, fo: usize, fi: usize) {
    let plan = adapter_plan();
    let (k_lo, k_hi) = rule.clip_counts(rows);
    if k_lo.max(k_hi) <= PARTIAL_KMAX {
        check_selection(&plan, rule, Select::Partial, d, a, rows, fo, fi);
    }
    if rows <= SORT_PMAX && rule.selects() {
        check_selection(&plan, rule, Select::Sort, d, a, rows, fo, fi);
    }
}

#[test]
fn winsor_random_awkward_sizes() {
    let _serial = serial();
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
    let _serial = serial();
    let mut r = rng(12);
    let (rows, fo, fi) = (37, 6, 11);
    let d = uniform(&mut r, rows * fo, 1.0);
    let a = uniform(&mut r, rows * fi, 1.0);
    check_winsor(Rule::Winsor(0.0), &d, &a, rows, fo, fi);
    check_winsor(Rule::Mean, &d, &a, rows, fo, fi);
}

#[test]
fn winsor_ties_zeros_and_extremes() {
    let _serial = serial();
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
    let _serial = serial();
    let mut r = rng(17);
    for (rows, fo, fi) in [(100, 12, 30), (100, 13, 32), (37, 8, 9)] {
        let a = mostly_zero(&mut r, rows * fi, 85);
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
                check_selection(&adapter_plan(), rule, Select::Partial, d, &a, rows, fo, fi);
            }
        }
    }
}

#[test]
fn gpu_errors_become_errors_not_panics() {
    let _serial = serial();
    // a device of its own: the error would otherwise be reported to the other tests
    let adapter = std::env::var("WINSOR_ADAPTER").ok();
    winsor::gpu::validation::warnings_are_errors();
    let g = winsor::gpu::Gpu::with_options(
        adapter.as_deref(),
        winsor::gpu::LimitsChoice::Adapter,
        common::validation_unless(Validation::Off),
    )
    .unwrap();
    let b = g.storage("b", 16);
    let mut enc = g.device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(&b, 0, &b, 0, 16); // one buffer as source and destination: invalid
    g.queue.submit([enc.finish()]);
    let e = g.wait().expect_err("the invalid copy must be reported");
    assert!(format!("{e:#}").contains("GPU reported an error"), "{e:#}");
}

#[test]
fn trim_and_median_share_the_selection() {
    let _serial = serial();
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
    let _serial = serial();
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
    let _serial = serial();
    let mut r = rng(16);
    // P = 512, 1024 (fewer coordinates per workgroup), and the largest clip counts
    for (rows, fo, fi, c) in [(300, 2, 5, 49.0), (1000, 2, 3, 10.0), (1000, 1, 2, 0.0)] {
        let d = uniform(&mut r, rows * fo, 1.0);
        let a = uniform(&mut r, rows * fi, 1.0);
        check_selection(
            &adapter_plan(),
            Rule::Winsor(c),
            Select::Sort,
            &d,
            &a,
            rows,
            fo,
            fi,
        );
        check_selection(
            &adapter_plan(),
            Rule::Trim(c),
            Select::Sort,
            &d,
            &a,
            rows,
            fo,
            fi,
        );
    }
    let (rows, fo, fi) = (1000, 2, 3);
    let d = uniform(&mut r, rows * fo, 1.0);
    let a = uniform(&mut r, rows * fi, 1.0);
    check_selection(
        &adapter_plan(),
        Rule::Median,
        Select::Sort,
        &d,
        &a,
        rows,
        fo,
        fi,
    );
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
    let _serial = serial();
    let (g, _) = gpu();
    let err = |r: anyhow::Result<Selection>| format!("{:#}", r.err().expect("must fail"));
    for plan in KernelPlan::presets() {
        let name = format!("{:?} plan", plan.preset);
        // the partial path keeps at most 127 per side
        let e = err(Selection::new(
            g,
            &plan,
            &Rule::Median,
            300,
            Select::Partial,
        ));
        assert!(e.contains("--select sort"), "{name}: {e}");
        // the sort path sorts at most 4096 values per coordinate
        let e = err(Selection::new(
            g,
            &plan,
            &Rule::Winsor(1.0),
            5000,
            Select::Sort,
        ));
        assert!(e.contains("--select partial"), "{name}: {e}");
        // auto picks by clip count: the partial path up to the plan's partial_max_k per side
        for (rule, rows) in [
            (Rule::Winsor(2.0), 100),  // 2 per side
            (Rule::Winsor(25.0), 100), // 25 per side
            (Rule::Median, 100),       // 49 per side
            (Rule::Median, 300),       // 149 per side: past the partial path's 127
        ] {
            let (k_lo, k_hi) = rule.clip_counts(rows);
            let want = if k_lo.max(k_hi) <= plan.partial_max_k {
                Select::Partial
            } else {
                Select::Sort
            };
            let s = Selection::new(g, &plan, &rule, rows, Select::Auto).unwrap();
            assert_eq!(s.path(), want, "{name}: {rule} B={rows}");
        }
        // the sign rules stream whatever --select says
        for select in [Select::Sort, Select::Auto] {
            let s = Selection::new(g, &plan, &Rule::SignSum(0.001), 300, select).unwrap();
            assert_eq!(
                s.path(),
                Select::Partial,
                "{name}: sign-sum --select {select}"
            );
        }
    }
    // the presets differ: a CPU driver takes the partial path for every clip count it can
    let (cpu, gpu_plan) = (KernelPlan::cpu(), KernelPlan::gpu());
    let path = |plan: &KernelPlan| {
        Selection::new(g, plan, &Rule::Winsor(25.0), 100, Select::Auto)
            .unwrap()
            .path()
    };
    assert_eq!(path(&cpu), Select::Partial);
    assert_eq!(path(&gpu_plan), Select::Sort);
}

/// `--select auto` under both presets, on clip counts where they pick different paths
/// (the cpu plan's partial path, the gpu plan's sorting network beyond 16 per side) and
/// where they agree, against the reference.
#[test]
fn auto_selection_under_both_presets() {
    let _serial = serial();
    let mut r = rng(19);
    let (rows, fo, fi) = (100, 5, 9);
    let d = uniform(&mut r, rows * fo, 1.0);
    let a = uniform(&mut r, rows * fi, 1.0);
    for plan in KernelPlan::presets() {
        for rule in [
            Rule::Winsor(4.0),  // 4 per side: partial under both
            Rule::Winsor(25.0), // 25: partial on the cpu plan, sort on the gpu plan
            Rule::Trim(30.0),
            Rule::Median,
            Rule::SumSign(0.001), // no order statistics: always the partial path
        ] {
            check_selection(&plan, rule, Select::Auto, &d, &a, rows, fo, fi);
            let (g, _) = gpu();
            let path = Selection::new(g, &plan, &rule, rows, Select::Auto)
                .unwrap()
                .path();
            let (k_lo, k_hi) = rule.clip_counts(rows);
            let want = if rule.selects() && k_lo.max(k_hi) > plan.partial_max_k {
                Select::Sort
            } else {
                Select::Partial
            };
            assert_eq!(path, want, "{rule} under the {:?} plan", plan.preset);
        }
    }
    // the case that tells the presets apart
    let (g, _) = gpu();
    let w25 = Rule::Winsor(25.0);
    let path = |p: &KernelPlan| {
        Selection::new(g, p, &w25, rows, Select::Auto)
            .unwrap()
            .path()
    };
    assert_eq!(path(&KernelPlan::cpu()), Select::Partial);
    assert_eq!(path(&KernelPlan::gpu()), Select::Sort);
}

/// The partial path with a fixed number of units per invocation (`--partial-units` and
/// `--cols-units` 1, 4 and 16) instead of the presets' register budget, so that the
/// generated kernels of those counts run too: every finish, fan_out a multiple of 4 or not
/// (vec4 loads of d), fan_in a multiple of 4 or not (vec4 loads of a), fewer units than one
/// invocation holds, and inputs mostly zero (the column kernel skips whole groups).
#[test]
fn partial_selection_with_fixed_units() {
    let _serial = serial();
    let mut r = rng(20);
    for units in [1, 4, 16] {
        let plan = KernelPlan {
            partial_units: Units::Fixed(units),
            cols_units: Units::Fixed(units),
            ..KernelPlan::cpu()
        };
        for (rows, fo, fi) in [(17, 12, 9), (16, 5, 16), (13, 20, 3)] {
            let d = uniform(&mut r, rows * fo, 1.0);
            let a = mostly_zero(&mut r, rows * fi, 70);
            for rule in [
                Rule::Mean,
                Rule::Winsor(10.0),
                Rule::Trim(25.0),
                Rule::Median,
                Rule::SignSum(0.001),
                Rule::SumSign(0.001),
            ] {
                check_selection(&plan, rule, Select::Partial, &d, &a, rows, fo, fi);
            }
        }
    }
}

#[test]
fn temporal_rules_match_reference_over_steps() {
    let _serial = serial();
    use winsor::gpu::kernels::{step_buffer, step_bytes, StepInfo, TemporalCombine};
    use winsor::rule::Temporal;
    let (g, _) = gpu();
    let mut r = rng(17);
    let n = 1000; // not a multiple of the workgroup size
    for temporal in [Temporal::Rm3, Temporal::M3, Temporal::Ra3] {
        let rule = Rule::Temporal(temporal);
        let kernel = TemporalCombine::new(g, ShaderChecks::Trusted, temporal);
        let gb = g.storage("g", (n * 4) as u64);
        let hist = g.storage("hist", (3 * n * 4) as u64);
        let steps = step_buffer(g, 1, 1);
        let disp = kernel.bind(g, &gb, &hist, &steps, n as u32);
        // every step's gradient so far
        let mut history: Vec<Vec<f64>> = Vec::new();
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
            history.push(to64(&x));
            let recent: Vec<&[f64]> = history.iter().map(|h| &h[..]).collect();
            // no step: the kernel writes 0
            let want =
                reference::temporal(temporal, t as u64, &recent).unwrap_or_else(|| vec![0.0; n]);
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
    let _serial = serial();
    // most inputs zero (MNIST's background pixels): whole groups of four zero inputs are
    // counted instead of inserted, so their zeros must still count as order statistics
    let mut r = rng(18);
    for fi in [12, 13] {
        let (rows, fo) = (100, 5);
        let d = uniform(&mut r, rows * fo, 1.0);
        let a = mostly_zero(&mut r, rows * fi, 85);
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

/// The first layer's forward product that skips zero groups of inputs (the CPU variant's
/// `SparseMatmul`) against the tiled GPU kernel, bit for bit, and against
/// `reference::matmul`, on inputs that are mostly zero (whole 8-row blocks zero in some
/// columns, as MNIST's borders), at awkward sizes: m not a multiple of 8, n past one
/// workgroup of 256 columns.
#[test]
fn matmul_skipping_zero_inputs_is_bit_identical() {
    let _serial = serial();
    let (g, _) = gpu();
    let tiled = Matmul::new(
        g,
        ShaderChecks::Trusted,
        Operands::Buffers,
        MatmulVariant::Tiled,
    );
    let sparse = SparseMatmul::new(g, ShaderChecks::Bounds, Operands::Buffers);
    let sparse_tex = SparseMatmul::new(g, ShaderChecks::Bounds, Operands::Textures);
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
        let l = layout(&p);
        // sum_q |A(i, q) B(q, j)| + |bias_j|
        let sum_abs = reference::matmul(&abs64(&a), &abs64(&b), &l, MatmulEpilogue::Bias);
        for (epi, epi64) in [
            (Epilogue::BiasRelu, MatmulEpilogue::BiasRelu),
            (Epilogue::Bias, MatmulEpilogue::Bias),
        ] {
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
            // reading A and B from the buffers, and from texture mirrors (the cpu plan's)
            let c3 = g.storage("c3", (m * n * 4) as u64);
            let [d2, d3] = [(&sparse, &c2), (&sparse_tex, &c3)].map(|(kernel, c)| {
                kernel
                    .bind(
                        g,
                        epi,
                        Slice::all(&ab),
                        Slice::all(&bb),
                        Slice::all(c),
                        p,
                        1,
                    )
                    .expect("the forward layout has the sparse product")
            });
            run(g, &[&d1, &d2[0], &d2[1], &d3[0], &d3[1]]).unwrap();
            let want = g.read_f32(&c1, 0, m * n).unwrap();
            let got = g.read_f32(&c2, 0, m * n).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{epi:?} {m}x{n}x{kk}");
            let tex = g.read_f32(&c3, 0, m * n).unwrap();
            assert_eq!(bits(&tex), bits(&want), "textures: {epi:?} {m}x{n}x{kk}");
            // and the product itself against the f64 reference
            let exact = reference::matmul(&to64(&a), &to64(&b), &l, epi64);
            let tol: Vec<f64> = sum_abs
                .iter()
                .map(|s| (kk as f64 + 3.0) * U * s + 1e-30)
                .collect();
            assert_close(
                &format!("sparse matmul {epi:?} {m}x{n}x{kk}"),
                &got,
                &exact,
                &tol,
            );
        }
    }
    // a layout or an epilogue it does not cover gets None (the caller falls back to
    // `Matmul::bind`): B not contiguous in k, k not a multiple of 4, the backward product
    let (ab, bb, cb) = (g.storage("a", 64), g.storage("b", 64), g.storage("c", 64));
    let forward = MatmulParams {
        m: 2,
        n: 2,
        k: 4,
        a_rs: 4,
        a_cs: 1,
        b_rs: 1,
        b_cs: 4,
        ..Default::default()
    };
    for (what, epi, p) in [
        (
            "B along n",
            Epilogue::Bias,
            MatmulParams {
                b_rs: 2,
                b_cs: 1,
                ..forward
            },
        ),
        (
            "k = 3",
            Epilogue::Bias,
            MatmulParams {
                k: 3,
                a_rs: 3,
                b_cs: 3,
                ..forward
            },
        ),
        ("MaskPositive", Epilogue::MaskPositive, forward),
        ("Scale", Epilogue::Scale, forward),
    ] {
        let d = sparse.bind(
            g,
            epi,
            Slice::all(&ab),
            Slice::all(&bb),
            Slice::all(&cb),
            p,
            1,
        );
        assert!(d.is_none(), "{what}: no sparse product");
    }
}

#[test]
fn row_dot_matches_reference() {
    let _serial = serial();
    let (g, k) = gpu();
    let mut r = rng(21);
    for (rows, width, base) in [(37, 13, 0), (70, 257, 5), (1, 1, 3)] {
        let x = uniform(&mut r, rows * width, 2.0);
        let y = uniform(&mut r, rows * width, 1e3);
        let xb = g.storage_init("x", bytemuck::cast_slice(&x));
        let yb = g.storage_init("y", bytemuck::cast_slice(&y));
        let out = g.storage("out", ((rows + base) * 4) as u64);
        for (a, b, yv) in [(&xb, &yb, &y), (&xb, &xb, &x)] {
            let d = k
                .row_dot
                .bind(g, a, b, &out, rows as u32, width as u32, base as u32);
            run(g, &[&d]).unwrap();
            let got = g.read_f32(&out, base as u64, rows).unwrap();
            let want = reference::row_dot(&to64(&x), &to64(yv), rows, width);
            // sum_i |x_i y_i|
            let tol: Vec<f64> = reference::row_dot(&abs64(&x), &abs64(yv), rows, width)
                .iter()
                .map(|s| (width + 2) as f64 * U * s)
                .collect();
            assert_close(&format!("row_dot {rows}x{width}"), &got, &want, &tol);
        }
    }
}

/// The update `kernel` selects (stores, does not apply) on (d, a).
fn selected(
    kernel: &Selection,
    sparse_inputs: bool,
    d: &[f32],
    a: &[f32],
    fo: usize,
    fi: usize,
) -> Vec<f32> {
    let (g, _) = gpu();
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
    g.read_f32(&gb, 0, fo * (fi + 1)).unwrap()
}

/// The partial path's update of `rule` on (d, a) under `plan`.
#[allow(clippy::too_many_arguments)]
fn partial_update(
    plan: &KernelPlan,
    rule: Rule,
    d: &[f32],
    a: &[f32],
    rows: usize,
    fo: usize,
    fi: usize,
) -> Vec<f32> {
    let (g, _) = gpu();
    let kernel = Selection::new(g, plan, &rule, rows, Select::Partial).unwrap();
    selected(&kernel, plan.sparse_inputs, d, a, fo, fi)
}

/// A partial-selection choice of the plan, on and off under both presets' other choices:
/// against the reference, and value for value (a zero's sign aside) between on and off, on
/// awkward sizes, heavy ties (values from a few levels), extreme magnitudes and subnormals,
/// for every finish.
fn partial_choice_changes_no_value(what: &str, seed: u64, set: fn(&mut KernelPlan, bool)) {
    let mut r = rng(seed);
    let levels = |r: &mut winsor::rng::Rng, n: usize, vals: &[f32]| -> Vec<f32> {
        (0..n)
            .map(|_| vals[r.below(vals.len() as u64) as usize])
            .collect()
    };
    for base in KernelPlan::presets() {
        let (mut on, mut off) = (base, base);
        set(&mut on, true);
        set(&mut off, false);
        for (rows, fo, fi) in [(37, 13, 7), (100, 6, 9), (23, 4, 16)] {
            let inputs = [
                (
                    uniform(&mut r, rows * fo, 1.0),
                    uniform(&mut r, rows * fi, 1.0),
                ),
                // ties: a handful of levels, so that many values equal a kept one
                (
                    levels(&mut r, rows * fo, &[-1.0, 0.0, 0.5, 1.0]),
                    levels(&mut r, rows * fi, &[0.0, 0.25, 1.0]),
                ),
                // extremes and subnormals next to ordinary values
                (
                    levels(&mut r, rows * fo, &[-3e16, -1.0, 1e-20, 2.0, 3e16]),
                    levels(&mut r, rows * fi, &[0.0, 1e-25, 0.75, 4e19]),
                ),
            ];
            for (d, a) in &inputs {
                for rule in [
                    Rule::Winsor(2.0),
                    Rule::Winsor(8.0),
                    Rule::Winsor(10.0),
                    Rule::Winsor(25.0),
                    Rule::Trim(20.0),
                    Rule::Median,
                    Rule::Mean,
                ] {
                    check_selection(&on, rule, Select::Partial, d, a, rows, fo, fi);
                    // the same values; only a zero's sign may differ (where +0 and -0 tie,
                    // max(+0, -0) may pick either)
                    let (with, without) = (
                        partial_update(&on, rule, d, a, rows, fo, fi),
                        partial_update(&off, rule, d, a, rows, fo, fi),
                    );
                    assert!(
                        with.iter().zip(&without).all(|(x, y)| x == y),
                        "{rule} B={rows} {fo}x{fi} ({:?} preset): {what} changed a value:\n{with:?}\n{without:?}",
                        base.preset
                    );
                }
            }
        }
    }
}

/// Early rejection (a value that cannot enter the kept set skips the insertion; the gpu
/// plan's).
#[test]
fn partial_selection_with_early_rejection() {
    let _serial = serial();
    partial_choice_changes_no_value("early rejection", 41, |p, on| p.partial_early_reject = on);
}

/// Chunk merges (chunks of examples sorted and merged into the kept values by a network;
/// the cpu plan's): minibatches of 23 to 100 take 2 to 12 chunks and a remainder.
#[test]
fn partial_selection_with_chunk_merges() {
    let _serial = serial();
    partial_choice_changes_no_value("chunk merges", 43, |p, on| p.partial_chunk_merge = on);
}
