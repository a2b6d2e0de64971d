//! The test of shaders/sgd.wgsl against its CPU twin in `winsor::reference::sgd`.

use super::*;

#[test]
fn sgd_update() {
    let _serial = serial();
    let (g, k) = gpu();
    let mut r = rng(10);
    let n = 1001usize;
    let w = uniform(&mut r, n, 1.0);
    let gr = uniform(&mut r, n, 1.0);
    let wb = g.storage_init("w", bytemuck::cast_slice(&w));
    let gb = g.storage_init("g", bytemuck::cast_slice(&gr));
    let d = k.sgd.bind(g, &wb, &gb, n as u32, 0.1);
    run(g, &[&d]).unwrap();
    let got = g.read_f32(&wb, 0, n).unwrap();
    let mut want = to64(&w);
    reference::sgd(&mut want, &to64(&gr), 0.1f32 as f64);
    let tol: Vec<f64> = (0..n)
        .map(|i| 2.0 * U * (w[i].abs() + 0.1 * gr[i].abs()) as f64 * 2.0)
        .collect();
    assert_close("sgd", &got, &want, &tol);
    // the buffer's padding past n (to whole vec4s) is left alone
    let tail = g.read_f32(&wb, n as u64, 1004 - n).unwrap();
    assert!(tail.iter().all(|&x| x == 0.0), "{tail:?}");
}
