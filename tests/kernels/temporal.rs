//! The test of shaders/temporal.wgsl against its CPU twin in `winsor::reference::temporal`.

use super::*;

#[test]
fn temporal_rules_match_reference_over_steps() {
    let _serial = serial();
    use winsor::gpu::kernels::{step_buffer, step_bytes, StepInfo, TemporalCombine};
    use winsor::rule::Temporal;
    let (g, _) = gpu();
    let mut r = rng(17);
    let n = 1000; // not a multiple of the workgroup size
    for temporal in [Temporal::Rm3, Temporal::M3, Temporal::Ra3] {
        let rule = Rule::Temporal(temporal);
        let kernel = TemporalCombine::new(g, ShaderChecks::Trusted, temporal);
        let gb = g.storage("g", (n * 4) as u64);
        let hist = g.storage("hist", (3 * n * 4) as u64);
        let steps = step_buffer(g, 1, 1);
        let disp = kernel.bind(g, &gb, &hist, &steps, n as u32);
        // every step's gradient so far
        let mut history: Vec<Vec<f64>> = Vec::new();
        for t in 0..8u32 {
            // ties (a few levels) in half the coordinates, random values in the rest
            let x: Vec<f32> = (0..n)
                .map(|i| {
                    if i % 2 == 0 {
                        [-1.0, 0.0, -0.0, 2.0][r.below(4) as usize]
                    } else {
                        (2.0 * r.uniform() - 1.0) as f32 * 1e3
                    }
                })
                .collect();
            g.queue.write_buffer(&gb, 0, bytemuck::cast_slice(&x));
            g.queue
                .write_buffer(&steps, 0, &step_bytes(&[StepInfo::new(0, 1, t)]));
            run(g, &[&disp]).unwrap();
            let got = g.read_f32(&gb, 0, n).unwrap();
            history.push(to64(&x));
            let recent: Vec<&[f64]> = history.iter().map(|h| &h[..]).collect();
            // no step: the kernel writes 0
            let want =
                reference::temporal(temporal, t as u64, &recent).unwrap_or_else(|| vec![0.0; n]);
            // the median is exact; the mean of three is within 2 u of (|x0| + |x1| + |x2|) / 3
            // plus the division's rounding
            let tol: Vec<f64> = want.iter().map(|w| 3.0 * U * 1e3 + U * w.abs()).collect();
            let tol: Vec<f64> = match temporal {
                Temporal::Ra3 => tol,
                _ => vec![0.0; n],
            };
            assert_close(&format!("{rule} step {t}"), &got, &want, &tol);
        }
    }
}
