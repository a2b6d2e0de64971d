//! The twin of shaders/batch_stats.wgsl.

/// Kernel `batch_stats` (shaders/batch_stats.wgsl): a training step's mean loss over its
/// rows and its number of correct rows (`correct` is 0 or 1 per row, as softmax_xent writes
/// it).
pub fn batch_stats(loss: &[f64], correct: &[u32]) -> (f64, u32) {
    let mean = loss.iter().sum::<f64>() / loss.len() as f64;
    (mean, correct.iter().sum())
}
