//! The test of shaders/similarity.wgsl against its CPU twin in
//! `winsor::reference::similarity`.

use super::*;

/// Every pair of `n` examples, n not a multiple of the 4 x 4 blocks or the 8 x 8
/// workgroups, widths multiples of 4 (vec4 loads) and not, over up to three layers (each
/// after the first accumulating), with
/// ties, zeros and a large value. Tolerance per pair, with S_d = sum_k |d_ik d_jk| and S_a
/// likewise: (fo + 2) u S_d (|a_i . a_j| + 1) + (fi + 2) u S_a |d_i . d_j| for the layer's
/// product, plus the prior layer's bound and one rounding of the sum.
#[test]
fn similarity_matches_reference() {
    let _serial = serial();
    let (g, _) = gpu();
    let kernel = Similarity::new(g, ShaderChecks::Bounds);
    let mut r = rng(28);
    for (n, layers) in [
        (1usize, vec![(3usize, 5usize)]),
        (5, vec![(13, 7)]),
        (37, vec![(13, 257), (10, 13)]),
        (70, vec![(4, 4), (1, 1)]),
        // widths that are multiples of 4 (vec4 loads) beside ones that are not
        (45, vec![(16, 12), (8, 13), (10, 256)]),
    ] {
        let kb = g.storage("K", (n * n * 4) as u64);
        let mut want: Option<Vec<f64>> = None;
        let mut tol = vec![0.0f64; n * n];
        for (l, &(fo, fi)) in layers.iter().enumerate() {
            let mut d = uniform(&mut r, n * fo, 1.0);
            let mut a = uniform(&mut r, n * fi, 2.0);
            // ties and zeros: a repeated row, a zero row, a large value
            if n > 3 {
                let (src, dst) = (0..fo, fo..2 * fo);
                d.copy_within(src, dst.start);
                for v in &mut a[2 * fi..3 * fi] {
                    *v = 0.0;
                }
                a[fi * 3] = 1e3;
            }
            let db = g.storage_init("d", bytemuck::cast_slice(&d));
            let ab = g.storage_init("a", bytemuck::cast_slice(&a));
            let disp = kernel.bind(
                g,
                SimilarityLayer {
                    d: Slice::all(&db),
                    a: Slice::all(&ab),
                    k: Slice::all(&kb),
                    n: n as u32,
                    fo: fo as u32,
                    fi: fi as u32,
                    accumulate: l > 0,
                },
            );
            run(g, &[&disp]).unwrap();
            let (d64, a64) = (to64(&d), to64(&a));
            let layer = reference::similarity(&d64, &a64, n, fo, fi, None);
            let sd = reference::similarity(&abs64(&d), &vec![0.0; n * fi], n, fo, fi, None);
            let sa = reference::similarity(&vec![1.0; n], &abs64(&a), n, 1, fi, None);
            let dd = reference::similarity(&d64, &vec![0.0; n * fi], n, fo, fi, None);
            let aa = reference::similarity(&vec![1.0; n], &a64, n, 1, fi, None);
            for i in 0..n * n {
                // sa and aa hold a . a + 1; sd and dd hold d . d
                let bound = (fo as f64 + 2.0) * U * sd[i] * aa[i].abs()
                    + (fi as f64 + 2.0) * U * sa[i] * dd[i].abs();
                tol[i] +=
                    bound + 2.0 * U * (layer[i].abs() + want.as_ref().map_or(0.0, |w| w[i].abs()));
            }
            want = Some(reference::similarity(
                &d64,
                &a64,
                n,
                fo,
                fi,
                want.as_deref(),
            ));
        }
        let got = g.read_f32(&kb, 0, n * n).unwrap();
        let want = want.unwrap();
        assert_close(&format!("similarity n = {n}"), &got, &want, &tol);
        // symmetric bit for bit
        for i in 0..n {
            for j in 0..n {
                assert_eq!(
                    got[i * n + j].to_bits(),
                    got[j * n + i].to_bits(),
                    "K[{i}, {j}]"
                );
            }
        }
    }
}
