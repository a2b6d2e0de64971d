//! The twin of shaders/similarity.wgsl.

/// Kernel `similarity` (shaders/similarity.wgsl): one layer's share of the per-example
/// gradient inner products of `n` examples, `prior + (d_i . d_j)(a_i . a_j + 1)` for every
/// pair (i, j), with `d` the layer's errors (n x fo) and `a` its inputs (n x fi), row-major;
/// `prior` is the sum over the layers before (None: zeros).
pub fn similarity(
    d: &[f64],
    a: &[f64],
    n: usize,
    fo: usize,
    fi: usize,
    prior: Option<&[f64]>,
) -> Vec<f64> {
    let dot = |x: &[f64], w: usize, i: usize, j: usize| -> f64 {
        (0..w).map(|k| x[i * w + k] * x[j * w + k]).sum()
    };
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let before = prior.map_or(0.0, |p| p[i * n + j]);
            out[i * n + j] = before + dot(d, fo, i, j) * (dot(a, fi, i, j) + 1.0);
        }
    }
    out
}
