// Gather: copy the selected examples of the resident u8 data set into the f32 input rows
// (pixel / 255) and their labels into the row labels. The data set lives on the GPU packed
// four bytes to a u32 word; only the minibatch indices are streamed from the host.
//
// Mode 0 (training): example of row r is indices[step.index_base + p.base + r], where `step` is a
// per-step uniform selected by a dynamic offset, so many steps share one bind group.
// Mode 1 (evaluation): example of row r is p.base + r.

struct Params {
    rows: u32,
    dim: u32,
    base: u32,
    mode: u32,
}

@group(0) @binding(0) var<storage, read> pixels: array<u32>;
@group(0) @binding(1) var<storage, read> labels: array<u32>;
@group(0) @binding(2) var<storage, read> indices: array<u32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> row_labels: array<u32>;
@group(0) @binding(5) var<uniform> p: Params;
@group(0) @binding(6) var<uniform> step: Step;

// Each invocation copies four neighbouring pixels: when rows are whole words (dim a multiple
// of 4, as for MNIST's 784) that is one load of the packed word, where one pixel per
// invocation loaded it four times (on CPU drivers every load is a loop over the lanes).
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    run = gid.z;
    let q0 = 4u * gid.x;
    let r = gid.y;
    if (r >= p.rows || q0 >= p.dim) {
        return;
    }
    var ex: u32;
    if (p.mode == 0u) {
        ex = indices[ro(2u) + step.index_base + p.base + r];
    } else {
        ex = p.base + r;
    }
    let first = ex * p.dim + q0;
    let out = ro(3u) + r * p.dim + q0;
    if (p.dim % 4u == 0u) {
        let word = pixels[ro(0u) + first / 4u];
        for (var c = 0u; c < 4u; c++) {
            x[out + c] = f32((word >> (8u * c)) & 0xffu) / 255.0;
        }
    } else {
        for (var c = 0u; c < min(4u, p.dim - q0); c++) {
            let byte = first + c;
            let word = pixels[ro(0u) + byte / 4u];
            x[out + c] = f32((word >> ((byte % 4u) * 8u)) & 0xffu) / 255.0;
        }
    }
    if (q0 == 0u) {
        row_labels[ro(4u) + r] = labels[ro(1u) + ex];
    }
}
