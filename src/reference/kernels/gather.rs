//! The twin of shaders/gather.wgsl.

/// Kernel `gather` (shaders/gather.wgsl): row r of the minibatch is example `examples[r]`
/// of the u8 data set (`dim` pixels per example, row-major): its pixels as inputs (byte /
/// 255) and its label. Training passes the minibatch's indices, evaluation a contiguous
/// range of examples.
pub fn gather(
    pixels: &[u8],
    labels: &[u32],
    dim: usize,
    examples: &[usize],
) -> (Vec<f64>, Vec<u32>) {
    let mut x = Vec::with_capacity(examples.len() * dim);
    let mut row_labels = Vec::with_capacity(examples.len());
    for &e in examples {
        x.extend(crate::reference::inputs(&pixels[e * dim..(e + 1) * dim]));
        row_labels.push(labels[e]);
    }
    (x, row_labels)
}
