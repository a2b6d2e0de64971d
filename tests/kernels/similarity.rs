//! The test of shaders/similarity.wgsl against its CPU twin in
//! `winsor::reference::similarity`, alone and behind the Gram products that feed it.

use super::*;

/// The kernel alone: Gram matrices that are *not* symmetric (so reading below the diagonal
/// would show), n not a multiple of the 64-wide workgroups, ties, zeros and extreme values,
/// three layers each after the first accumulating. Tolerance per element: one product, one
/// addition of 1 and one of the prior: 3 u (|gd| (|ga| + 1) + |prior|).
#[test]
fn similarity_matches_reference() {
    let _serial = serial();
    let (g, _) = gpu();
    let kernel = Similarity::new(g, ShaderChecks::Bounds);
    let mut r = rng(28);
    for n in [1usize, 5, 37, 65, 130] {
        let kb = g.storage("K", (n * n * 4) as u64);
        let mut want: Option<Vec<f64>> = None;
        let mut tol = vec![0.0f64; n * n];
        for l in 0..3 {
            let mut gd = uniform(&mut r, n * n, 1.0);
            let mut ga = uniform(&mut r, n * n, 2.0);
            // ties, zeros, an extreme value and a -1 that cancels the + 1
            gd[0] = 1e30;
            if n > 3 {
                gd[1] = gd[n + 2];
                ga[2] = 0.0;
                ga[3] = -1.0;
            }
            let gdb = g.storage_init("gd", bytemuck::cast_slice(&gd));
            let gab = g.storage_init("ga", bytemuck::cast_slice(&ga));
            let disp = kernel.bind(
                g,
                SimilarityLayer {
                    gd: Slice::all(&gdb),
                    ga: Slice::all(&gab),
                    k: Slice::all(&kb),
                    n: n as u32,
                    accumulate: l > 0,
                },
            );
            run(g, &[&disp]).unwrap();
            let (gd64, ga64) = (to64(&gd), to64(&ga));
            let prior = want.clone();
            want = Some(reference::similarity(&gd64, &ga64, n, prior.as_deref()));
            for i in 0..n {
                for j in 0..n {
                    let u = i.min(j) * n + i.max(j);
                    let p = prior.as_ref().map_or(0.0, |p| p[i * n + j].abs());
                    tol[i * n + j] += 3.0 * U * (gd64[u].abs() * (ga64[u].abs() + 1.0) + p);
                }
            }
        }
        let got = g.read_f32(&kb, 0, n * n).unwrap();
        assert_close(&format!("similarity n = {n}"), &got, &want.unwrap(), &tol);
    }
}

/// One layer's share through the pass's own chain, the Gram products of the errors and the
/// inputs (`Matmul::gram`, in both plans' products) and then the kernel, against the twins
/// in f64: n not a multiple of the products' blocks, widths multiples of 4 (the CPU
/// product's vec4 path) and not, a repeated row, a zero row, a large value. Tolerance per
/// pair, with S_d = sum_k |d_ik d_jk| and S_a likewise: (fo + 3) u S_d (|a_i . a_j| + 1) +
/// (fi + 3) u S_a |d_i . d_j| plus the kernel's 3 u. K is symmetric bit for bit.
#[test]
fn similarity_behind_gram_products_matches_reference() {
    let _serial = serial();
    let (g, _) = gpu();
    let kernel = Similarity::new(g, ShaderChecks::Bounds);
    let products = [
        Matmul::new(
            g,
            ShaderChecks::Bounds,
            Operands::Buffers,
            MatmulVariant::Tiled,
        ),
        Matmul::new(
            g,
            ShaderChecks::Bounds,
            Operands::Buffers,
            MatmulVariant::Cpu,
        ),
        Matmul::new(
            g,
            ShaderChecks::Bounds,
            Operands::Textures,
            MatmulVariant::Cpu,
        ),
    ];
    let mut r = rng(29);
    for (n, fo, fi) in [
        (1usize, 3usize, 5usize),
        (37, 13, 257),
        (45, 16, 12),
        (70, 10, 256),
        (133, 4, 784),
    ] {
        let mut d = uniform(&mut r, n * fo, 1.0);
        let mut a = uniform(&mut r, n * fi, 2.0);
        if n > 3 {
            d.copy_within(0..fo, fo);
            for v in &mut a[2 * fi..3 * fi] {
                *v = 0.0;
            }
            a[fi * 3] = 1e3;
        }
        let (d64, a64) = (to64(&d), to64(&a));
        let (gd, ga) = (reference::gram(&d64, n, fo), reference::gram(&a64, n, fi));
        let want = reference::similarity(&gd, &ga, n, None);
        let (sd, sa) = (
            reference::gram(&abs64(&d), n, fo),
            reference::gram(&abs64(&a), n, fi),
        );
        let tol: Vec<f64> = (0..n * n)
            .map(|i| {
                (fo as f64 + 3.0) * U * sd[i] * (ga[i].abs() + 1.0)
                    + (fi as f64 + 3.0) * U * sa[i] * gd[i].abs()
                    + 3.0 * U * want[i].abs()
            })
            .collect();
        let db = g.storage_init("d", bytemuck::cast_slice(&d));
        let ab = g.storage_init("a", bytemuck::cast_slice(&a));
        let bytes = (n * n * 4) as u64;
        let (gdb, gab, kb) = (
            g.storage("gd", bytes),
            g.storage("ga", bytes),
            g.storage("K", bytes),
        );
        for mm in &products {
            let chain = [
                mm.gram(g, Slice::all(&db), n as u32, fo as u32, Slice::all(&gdb)),
                mm.gram(g, Slice::all(&ab), n as u32, fi as u32, Slice::all(&gab)),
                kernel.bind(
                    g,
                    SimilarityLayer {
                        gd: Slice::all(&gdb),
                        ga: Slice::all(&gab),
                        k: Slice::all(&kb),
                        n: n as u32,
                        accumulate: false,
                    },
                ),
            ];
            run(g, &chain.iter().collect::<Vec<_>>()).unwrap();
            let got = g.read_f32(&kb, 0, n * n).unwrap();
            let what = format!(
                "similarity behind {:?} gram, n = {n}, fo = {fo}, fi = {fi}",
                mm.variant
            );
            assert_close(&what, &got, &want, &tol);
            for i in 0..n {
                for j in 0..n {
                    assert_eq!(
                        got[i * n + j].to_bits(),
                        got[j * n + i].to_bits(),
                        "{what}: K[{i}, {j}]"
                    );
                }
            }
        }
    }
}
