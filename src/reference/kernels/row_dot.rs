//! The twin of shaders/row_dot.wgsl.

/// Kernel `row_dot` (shaders/row_dot.wgsl): `out[r] = x[r, :] . y[r, :]` for `rows` rows of
/// `width` values (a squared norm when x and y are the same).
pub fn row_dot(x: &[f64], y: &[f64], rows: usize, width: usize) -> Vec<f64> {
    (0..rows)
        .map(|r| {
            (0..width)
                .map(|i| x[r * width + i] * y[r * width + i])
                .sum()
        })
        .collect()
}
