// Per-row dot products of two row-major matrices x and y (rows x width, each with its own row
// stride): out[out_base + r] = sum_i x[r, i] * y[r, i], summed serially in index order (no
// atomics, so the result is deterministic). With x = y it is each row's squared norm.
//
// The coherence statistics use it for per-example gradient norms and dot products through
// the outer-product identities: g_e = d_e a_e^T per layer, so ||g_e||^2 = ||d_e||^2 (||a_e||^2
// + 1) (the 1 is the bias) and g_e . G = d_e . (G_W a_e + G_b).

struct Params {
    rows: u32,
    width: u32,
    out_base: u32,
    _pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    run = gid.z;
    let r = gid.x + gid.y * nwg.x * 64u;
    if (r >= p.rows) {
        return;
    }
    var s = 0.0;
    let xb = ro(0u) + r * p.width;
    let yb = ro(1u) + r * p.width;
    for (var i = 0u; i < p.width; i++) {
        s += x[xb + i] * y[yb + i];
    }
    out[ro(2u) + p.out_base + r] = s;
}
