//! The test of shaders/softmax_xent.wgsl against its CPU twin in `winsor::reference::softmax_xent`.

use super::*;

#[test]
fn softmax_xent_matches_reference() {
    let _serial = serial();
    let (g, k) = gpu();
    let mut r = rng(8);
    let (rows, classes) = (37usize, 10usize);
    let mut logits = uniform(&mut r, rows * classes, 5.0);
    // ties (first maximum wins) and large logits (must not overflow)
    for c in 0..classes {
        logits[c] = 2.0;
        logits[classes + c] = 80.0 + c as f32 * 0.0;
    }
    logits[2 * classes + 3] = 1e4;
    let labels: Vec<u8> = (0..rows).map(|i| (i % classes) as u8).collect();
    let lab32: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    let lb = g.storage_init("logits", bytemuck::cast_slice(&logits));
    let rl = g.storage_init("labels", bytemuck::cast_slice(&lab32));
    let db = g.storage("d", (rows * classes * 4) as u64);
    let base = 5usize;
    let loss = g.storage("loss", ((rows + base) * 4) as u64);
    let corr = g.storage("correct", ((rows + base) * 4) as u64);
    let io = XentSlices {
        logits: Slice::all(&lb),
        row_labels: Slice::all(&rl),
        d: Slice::all(&db),
        loss: Slice::all(&loss),
        correct: Slice::all(&corr),
    };
    let d = k
        .softmax
        .bind(g, io, true, rows as u32, classes as u32, base as u32);
    run(g, &[&d]).unwrap();
    let want = reference::softmax_xent(&to64(&logits), &labels, classes);
    let gl = g.read_f32(&loss, base as u64, rows).unwrap();
    let gc = g.read_u32(&corr, base as u64, rows).unwrap();
    let gd = g.read_f32(&db, 0, rows * classes).unwrap();
    // exp/log in WGSL are accurate to a few ulp of their argument's scale: tolerance relative
    // to the logits' magnitude
    let tol: Vec<f64> = (0..rows)
        .map(|i| {
            let zmax = logits[i * classes..(i + 1) * classes]
                .iter()
                .fold(0f32, |m, z| m.max(z.abs()));
            1e-5 * (1.0 + zmax as f64)
        })
        .collect();
    assert_close("loss", &gl, &want.loss, &tol);
    assert_close("d", &gd, &want.d, &vec![1e-5; rows * classes]);
    let wc: Vec<u32> = want.correct.iter().map(|&c| c as u32).collect();
    assert_eq!(gc, wc, "correctness (first maximum wins ties)");
    assert_eq!(gc[0], 1, "row 0: all tied, label 0 is the first maximum");
}
