//! The twin of shaders/softmax_xent.wgsl.

/// Per-row softmax cross-entropy against `labels`.
pub struct Xent {
    pub loss: Vec<f64>,
    pub correct: Vec<bool>,
    /// softmax - onehot: the gradient of each example's own loss w.r.t. its logits.
    pub d: Vec<f64>,
}

/// Kernel `softmax_xent` (shaders/softmax_xent.wgsl): each row's loss, whether its first
/// maximum is the label, and softmax - onehot.
pub fn softmax_xent(logits: &[f64], labels: &[u8], classes: usize) -> Xent {
    let rows = labels.len();
    let mut out = Xent {
        loss: vec![0.0; rows],
        correct: vec![false; rows],
        d: vec![0.0; rows * classes],
    };
    for r in 0..rows {
        let z = &logits[r * classes..(r + 1) * classes];
        let y = labels[r] as usize;
        // first index of the maximum, as the shader does
        let mut arg = 0;
        for c in 1..classes {
            if z[c] > z[arg] {
                arg = c;
            }
        }
        let m = z[arg];
        let s: f64 = z.iter().map(|&v| (v - m).exp()).sum();
        out.loss[r] = m + s.ln() - z[y];
        out.correct[r] = arg == y;
        for c in 0..classes {
            out.d[r * classes + c] = (z[c] - m).exp() / s - if c == y { 1.0 } else { 0.0 };
        }
    }
    out
}
