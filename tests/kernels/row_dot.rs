//! The test of shaders/row_dot.wgsl against its CPU twin in `winsor::reference::row_dot`.

use super::*;

#[test]
fn row_dot_matches_reference() {
    let _serial = serial();
    let (g, k) = gpu();
    let mut r = rng(21);
    for (rows, width, base) in [(37, 13, 0), (70, 257, 5), (1, 1, 3)] {
        let x = uniform(&mut r, rows * width, 2.0);
        let y = uniform(&mut r, rows * width, 1e3);
        let xb = g.storage_init("x", bytemuck::cast_slice(&x));
        let yb = g.storage_init("y", bytemuck::cast_slice(&y));
        let out = g.storage("out", ((rows + base) * 4) as u64);
        for (a, b, yv) in [(&xb, &yb, &y), (&xb, &xb, &x)] {
            let d = k.row_dot.bind(
                g,
                a,
                b,
                &out,
                width as u32,
                base as u32..(base + rows) as u32,
            );
            run(g, &[&d]).unwrap();
            let got = g.read_f32(&out, base as u64, rows).unwrap();
            let want = reference::row_dot(&to64(&x), &to64(yv), rows, width);
            // sum_i |x_i y_i|
            let tol: Vec<f64> = reference::row_dot(&abs64(&x), &abs64(yv), rows, width)
                .iter()
                .map(|s| (width + 2) as f64 * U * s)
                .collect();
            assert_close(&format!("row_dot {rows}x{width}"), &got, &want, &tol);
        }
    }
}
