//! The twin of shaders/similarity.wgsl.

/// Kernel `similarity` (shaders/similarity.wgsl): one layer's share of the per-example
/// gradient inner products of `n` examples from the Gram matrices of the layer's errors
/// (`gd` = D D^T) and inputs (`ga` = A A^T), n x n row-major: `prior + gd(i, j) (ga(i, j) +
/// 1)` for every pair (i, j), both Gram matrices read at or above the diagonal (i <= j).
/// `prior` is the sum over the layers before (None: zeros).
pub fn similarity(gd: &[f64], ga: &[f64], n: usize, prior: Option<&[f64]>) -> Vec<f64> {
    let mut out = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let u = i.min(j) * n + i.max(j);
            let before = prior.map_or(0.0, |p| p[i * n + j]);
            out[i * n + j] = before + gd[u] * (ga[u] + 1.0);
        }
    }
    out
}
