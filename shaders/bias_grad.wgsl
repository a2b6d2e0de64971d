// Mean bias gradient of a layer: g_b[j] = scale * sum_e d[e, j], summed in ascending e.
// Written after the weight gradient inside the layer's gradient segment (at p.off).

struct Params {
    rows: u32,
    width: u32,
    off: u32,
    scale: f32,
}

@group(0) @binding(0) var<storage, read> d: array<f32>;
@group(0) @binding(1) var<storage, read_write> g: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if (j >= p.width) {
        return;
    }
    var s = 0.0;
    for (var e = 0u; e < p.rows; e++) {
        s += d[e * p.width + j];
    }
    g[p.off + j] = s * p.scale;
}
