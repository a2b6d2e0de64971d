//! The test of shaders/batch_stats.wgsl against its CPU twin in `winsor::reference::batch_stats`.

use super::*;

#[test]
fn batch_stats_reduces_in_order() {
    let _serial = serial();
    let (g, k) = gpu();
    let mut r = rng(9);
    let rows = 299usize; // more than one pass of the 256-wide reduction
    let loss: Vec<f32> = (0..rows).map(|_| r.uniform() as f32 * 3.0).collect();
    let corr: Vec<u32> = (0..rows).map(|_| r.below(2) as u32).collect();
    let lb = g.storage_init("loss", bytemuck::cast_slice(&loss));
    let cb = g.storage_init("corr", bytemuck::cast_slice(&corr));
    let stats = g.storage("stats", 64);
    let steps = winsor::gpu::kernels::step_buffer(g, 3, 1);
    let d = k.batch_stats.bind(g, &lb, &cb, &stats, &steps, rows as u32);
    // record in slot 2 to check the dynamic offset
    let mut enc = g.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        d.record(&mut pass, 2);
    }
    g.queue.submit([enc.finish()]);
    let s = g.read_u32(&stats, 4, 2).unwrap();
    let (want, want_correct) = reference::batch_stats(&to64(&loss), &corr);
    let got = f32::from_bits(s[0]) as f64;
    assert!(
        (got - want).abs() <= (rows as f64 + 2.0) * U * want,
        "{got} vs {want}"
    );
    assert_eq!(s[1], want_correct);
}
