//! The tests of the matrix-product family, shaders/matmul/ (matmul, matmul_cpu, matmul_k4,
//! matmul_n4, matmul_mn4, and matmul_sparse with nonzero_blocks), against its CPU twin in
//! `winsor::reference::matmul`.

use super::*;

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
        Product {
            epilogue: epi,
            a: Slice::all(&ab),
            b: Slice::all(&bb),
            aux: Slice::all(&xb),
            c: Slice::all(&cb),
            p,
        },
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
        // the same layout without a bias: the similarity measurement's Gram products
        // (Matmul::gram), through the vec4 kernel's MODE 3
        (Epilogue::Scale, 37, 45, 256, false, true),
        (Epilogue::Scale, 130, 70, 12, false, true),
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
        (Epilogue::Scale, 37, 45, 36, false, true, 4, 8),
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
                Product {
                    epilogue: epi,
                    a: Slice::all(&ab),
                    b: Slice::all(&bb),
                    aux: Slice::all(&ab),
                    c: Slice::all(&c1),
                    p,
                },
            );
            // reading A and B from the buffers, and from texture mirrors (the cpu plan's)
            let c3 = g.storage("c3", (m * n * 4) as u64);
            let [d2, d3] = [(&sparse, &c2), (&sparse_tex, &c3)].map(|(kernel, c)| {
                kernel
                    .bind(
                        g,
                        Product {
                            epilogue: epi,
                            a: Slice::all(&ab),
                            b: Slice::all(&bb),
                            aux: Slice::all(&ab),
                            c: Slice::all(c),
                            p,
                        },
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
            Product {
                epilogue: epi,
                a: Slice::all(&ab),
                b: Slice::all(&bb),
                aux: Slice::all(&ab),
                c: Slice::all(&cb),
                p,
            },
            1,
        );
        assert!(d.is_none(), "{what}: no sparse product");
    }
}
