// One layer's share of the per-example gradient similarity matrix K of N examples:
//
//   K[n, m] (+)= GD[n, m] * (GA[n, m] + 1)
//
// GD = D D^T and GA = A A^T are the Gram matrices (N x N, row-major) of the layer's output
// errors D and of its inputs A, one row per example (Matmul::gram). An example's gradient of
// this layer is the outer product d a^T plus the bias d, so the inner product of two
// examples' gradients is (d_n . d_m)(a_n . a_m) + d_n . d_m, and K summed over the layers
// (one dispatch per layer, `accumulate` after the first) is g_n . g_m with no gradient ever
// formed. Keeping the Gram products apart lets them run in the fastest matrix product, and
// lets the first layer's GA (of the pixels, which training never changes) be computed once.
//
// Both entries of a pair read the Gram matrices' element at or above the diagonal, so K is
// symmetric bit for bit whatever the product did below it. One invocation per element, no
// atomics: deterministic.

struct Params {
    n: u32,
    // 1: add to K; 0: overwrite it (the first layer)
    accumulate: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<storage, read> GD: array<f32>;
@group(0) @binding(1) var<storage, read> GA: array<f32>;
@group(0) @binding(2) var<storage, read_write> K: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    // gid.x: the column m, gid.y: the row n
    let n = gid.y;
    let m = gid.x;
    if (n >= p.n || m >= p.n) {
        return;
    }
    let u = min(n, m) * p.n + max(n, m);
    var v = GD[u] * (GA[u] + 1.0);
    if (p.accumulate == 1u) {
        v = K[n * p.n + m] + v;
    }
    K[n * p.n + m] = v;
}
