// Mean bias gradient of a layer: g_b[j] = scale * sum_e d[e, j], summed in ascending e.
// Written after the weight gradient inside the layer's gradient segment (at p.off).

struct Params {
    rows: u32,
    width: u32,
    off: u32,
    scale: f32,
    // 1: add to the existing value (row chunks of a large batch)
    accumulate: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> d: array<f32>;
@group(0) @binding(1) var<storage, read_write> g: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    run = gid.z;
    let j = gid.x;
    if (j >= p.width) {
        return;
    }
    var s = 0.0;
    for (var e = 0u; e < p.rows; e++) {
        s += d[ro(0u) + e * p.width + j];
    }
    let at = ro(1u) + p.off + j;
    g[at] = select(0.0, g[at], p.accumulate == 1u) + s * p.scale;
}
