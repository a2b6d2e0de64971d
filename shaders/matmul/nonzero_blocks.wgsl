// For matmul_sparse.wgsl: for each block b of 8 rows of A (m x k, k a multiple of 4,
// read as vec4; matmul_params.wgsl prepended), the groups q of 4 columns k = 4q..4q+3 in which
// one of the 8 x 4 values is non-zero, in ascending order. list[b] is their count and they
// are list[n_blocks + b * k/4 + i]. One invocation per block.

@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> list: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    run = gid.z;
    let lr = ro(1u);
    let n_blocks = (p.m + 7u) / 8u;
    let b = gid.x;
    if (b >= n_blocks) {
        return;
    }
    let k4 = p.k / 4u;
    let lm = p.m - 1u;
    var n = 0u;
    for (var q = 0u; q < k4; q++) {
        var nz = false;
        for (var i = 0u; i < 8u; i++) {
            let row = (ro(0u) + p.a_off + min(8u * b + i, lm) * p.a_rs) / 4u;
            nz = nz || any(A[row + q] != vec4<f32>(0.0));
        }
        if (nz) {
            list[lr + n_blocks + b * k4 + n] = q;
            n += 1u;
        }
    }
    list[lr + b] = n;
}
