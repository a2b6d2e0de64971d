// Softmax cross-entropy, one invocation per row.
//   loss = logsumexp(z) - z[y]; correct = (first argmax of z) == y
// Training (mode 0) also writes the per-example error d = softmax(z) - onehot(y), the gradient
// of the example's own loss (the 1/B of the minibatch mean is applied by the aggregation).
// Per-example loss and correctness go to loss_out/correct_out at p.base + row, so evaluation
// can fill whole-set arrays chunk by chunk.

struct Params {
    rows: u32,
    classes: u32,
    base: u32,
    mode: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> row_labels: array<u32>;
@group(0) @binding(2) var<storage, read_write> d: array<f32>;
@group(0) @binding(3) var<storage, read_write> loss_out: array<f32>;
@group(0) @binding(4) var<storage, read_write> correct_out: array<u32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    run = gid.z;
    let r = gid.x + gid.y * nwg.x * 64u;
    if (r >= p.rows) {
        return;
    }
    let o = ro(0u) + r * p.classes;
    let od = ro(2u) + r * p.classes;
    let y = row_labels[ro(1u) + r];
    var zmax = logits[o];
    var arg = 0u;
    for (var c = 1u; c < p.classes; c++) {
        let z = logits[o + c];
        if (z > zmax) {
            zmax = z;
            arg = c;
        }
    }
    var s = 0.0;
    for (var c = 0u; c < p.classes; c++) {
        s += exp(logits[o + c] - zmax);
    }
    let lse = zmax + log(s);
    loss_out[ro(3u) + p.base + r] = lse - logits[o + y];
    correct_out[ro(4u) + p.base + r] = select(0u, 1u, arg == y);
    if (p.mode == 0u) {
        for (var c = 0u; c < p.classes; c++) {
            let sm = exp(logits[o + c] - zmax) / s;
            d[od + c] = sm - select(0.0, 1.0, c == y);
        }
    }
}
