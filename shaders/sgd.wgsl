// Plain SGD over the flat parameter buffer: w -= lr * g.

struct Params {
    count: u32,
    lr: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> w: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    run = gid.z;
    let j = gid.x + gid.y * nwg.x * 256u;
    if (j >= p.count) {
        return;
    }
    let i = ro(0u) + j;
    w[i] = w[i] - p.lr * g[ro(1u) + j];
}
