//! The twin of shaders/bias_grad.wgsl.

/// Kernel `bias_grad` (shaders/bias_grad.wgsl): `g_b[j] = scale * sum_e d[e, j]` for the
/// `rows` x `width` errors `d` (the mean bias gradient with scale = 1 / rows).
pub fn bias_grad(d: &[f64], rows: usize, width: usize, scale: f64) -> Vec<f64> {
    (0..width)
        .map(|j| scale * (0..rows).map(|e| d[e * width + j]).sum::<f64>())
        .collect()
}
