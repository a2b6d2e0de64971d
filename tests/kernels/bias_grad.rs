//! The test of shaders/bias_grad.wgsl against its CPU twin in `winsor::reference::bias_grad`.

use super::*;

#[test]
fn bias_grad_reduces_in_order_and_accumulates() {
    let _serial = serial();
    let (g, k) = gpu();
    let mut r = rng(10);
    let rows = 299usize; // more than one pass of the 256-wide reduction
    let (width, off) = (13usize, 3usize);
    let dv = uniform(&mut r, rows * width, 2.0);
    let db = g.storage_init("d", bytemuck::cast_slice(&dv));
    let gb = g.storage("g", ((width + off) * 4) as u64);
    let scale = 1.0 / rows as f32;
    let first = k.bias_grad.bind(
        g,
        &db,
        Slice::all(&gb),
        BiasSum {
            rows: rows as u32,
            width: width as u32,
            off: off as u32,
            scale,
            accumulate: false,
        },
    );
    let again = k.bias_grad.bind(
        g,
        &db,
        Slice::all(&gb),
        BiasSum {
            rows: rows as u32,
            width: width as u32,
            off: off as u32,
            scale,
            accumulate: true,
        },
    );
    run(g, &[&first]).unwrap();
    let once = g.read_f32(&gb, off as u64, width).unwrap();
    // accumulating the same chunk again doubles it exactly (x + x is exact in binary)
    run(g, &[&again]).unwrap();
    let twice = g.read_f32(&gb, off as u64, width).unwrap();
    for j in 0..width {
        assert_eq!(twice[j], 2.0 * once[j], "accumulate, column {j}");
    }
    run(g, &[&first]).unwrap();
    let got = g.read_f32(&gb, off as u64, width).unwrap();
    // the kernel's scale is the f32 nearest 1 / rows
    let want = reference::bias_grad(&to64(&dv), rows, width, scale as f64);
    let tol: Vec<f64> = reference::bias_grad(&abs64(&dv), rows, width, 1.0 / rows as f64)
        .iter()
        .map(|s| (rows as f64 + 3.0) * U * s)
        .collect();
    assert_close("bias grad", &got, &want, &tol);
}
