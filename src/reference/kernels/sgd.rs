//! The twin of shaders/sgd.wgsl.

/// Kernel `sgd` (shaders/sgd.wgsl): w -= lr * g, element by element.
pub fn sgd(w: &mut [f64], g: &[f64], lr: f64) {
    assert_eq!(w.len(), g.len(), "one gradient per parameter");
    for (w, g) in w.iter_mut().zip(g) {
        *w -= lr * g;
    }
}
