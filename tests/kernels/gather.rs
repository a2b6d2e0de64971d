//! The test of shaders/gather.wgsl against its CPU twin in `winsor::reference::gather`.

use super::*;

#[test]
fn gather_reads_selected_examples_and_labels() {
    let _serial = serial();
    // rows of whole packed words (28) and rows that straddle words (13, 6)
    for dim in [13usize, 28, 6] {
        gather_case(dim);
    }
}

/// The gathered rows against `reference::gather`: labels exactly, pixels to the division's
/// rounding (WGSL allows 2.5 ulp for division).
fn check_gather(what: &str, got_x: &[f32], got_labels: &[u32], want: (Vec<f64>, Vec<u32>)) {
    let (want_x, want_labels) = want;
    assert_eq!(got_labels, want_labels, "{what}: labels");
    let tol: Vec<f64> = want_x.iter().map(|w| 3.0 * 2.0 * U * w.abs()).collect();
    assert_close(&format!("{what}: pixels"), got_x, &want_x, &tol);
}

fn gather_case(dim: usize) {
    let (g, k) = gpu();
    let mut r = rng(1);
    let (n, rows) = (53usize, 37usize);
    let pixels: Vec<u8> = (0..n * dim).map(|_| r.below(256) as u8).collect();
    let labels: Vec<u32> = (0..n).map(|_| r.below(10) as u32).collect();
    let idx: Vec<u32> = (0..rows).map(|_| r.below(n as u64) as u32).collect();
    let px = g.storage_init("px", bytemuck::cast_slice(&pack_bytes(&pixels)));
    let lab = g.storage_init("lab", bytemuck::cast_slice(&labels));
    let ib = g.storage_init("idx", bytemuck::cast_slice(&idx));
    let steps = winsor::gpu::kernels::step_buffer(g, 1, rows as u32);
    let x = g.storage("x", (rows * dim * 4) as u64);
    let rl = g.storage("rl", (rows * 4) as u64);
    let d = k.gather.bind(
        g,
        GatherSlices {
            pixels: Slice::all(&px),
            labels: Slice::all(&lab),
            x: Slice::all(&x),
            row_labels: Slice::all(&rl),
        },
        GatherFrom::Indices {
            indices: Slice::all(&ib),
            step: &steps,
            base: 0,
        },
        rows as u32,
        dim as u32,
    );
    run(g, &[&d]).unwrap();
    let examples: Vec<usize> = idx.iter().map(|&e| e as usize).collect();
    check_gather(
        &format!("dim {dim} indices"),
        &g.read_f32(&x, 0, rows * dim).unwrap(),
        &g.read_u32(&rl, 0, rows).unwrap(),
        reference::gather(&pixels, &labels, dim, &examples),
    );
    // evaluation mode: a contiguous range starting at `base`
    let d = k.gather.bind(
        g,
        GatherSlices {
            pixels: Slice::all(&px),
            labels: Slice::all(&lab),
            x: Slice::all(&x),
            row_labels: Slice::all(&rl),
        },
        GatherFrom::Range {
            base: 9,
            step: &steps,
        },
        17,
        dim as u32,
    );
    run(g, &[&d]).unwrap();
    let examples: Vec<usize> = (9..26).collect();
    check_gather(
        &format!("dim {dim} range"),
        &g.read_f32(&x, 0, 17 * dim).unwrap(),
        &g.read_u32(&rl, 0, 17).unwrap(),
        reference::gather(&pixels, &labels, dim, &examples),
    );
}
