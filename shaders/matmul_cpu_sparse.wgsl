// matmul_cpu_k4.wgsl for the first layer's forward product on CPU drivers (lavapipe), whose
// inputs (MNIST pixels) are mostly zero: the workgroup shares one block of 8 rows of A, and
// reads only the groups of 4 columns that nonzero_blocks.wgsl listed as holding a non-zero
// value in one of those rows; the loop bound is then the same for every lane, which is the
// one kind of skipping a CPU driver rewards. Each of the 32 invocations owns 8 columns of the
// block. The skipped products are exact zeros: fma(0, w, acc) is acc, so the sums (in
// ascending k) are bit-identical to the other matmul kernels. Same bindings and epilogues as
// matmul_cpu_k4.wgsl, plus the list.

// 0: + bias, ReLU   1: + bias
override MODE: u32 = 0u;

@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> list: array<u32>;

@compute @workgroup_size(32)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let n0 = wid.x * 256u + lid * 8u;
    let b = wid.y;
    let m0 = 8u * b;
    if (n0 >= p.n || m0 >= p.m) {
        return;
    }
    let lm = p.m - 1u;
    let ln = p.n - 1u;
    var ra: array<u32, 8>;
    for (var i = 0u; i < 8u; i++) {
        ra[i] = (p.a_off + min(m0 + i, lm) * p.a_rs) / 4u;
    }
    var cb: array<u32, 8>;
    for (var j = 0u; j < 8u; j++) {
        cb[j] = (p.b_off + min(n0 + j, ln) * p.b_cs) / 4u;
    }
    var c0 = vec4<f32>(0.0);
    var d0 = vec4<f32>(0.0);
    var c1 = vec4<f32>(0.0);
    var d1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var d2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    var d3 = vec4<f32>(0.0);
    var c4 = vec4<f32>(0.0);
    var d4 = vec4<f32>(0.0);
    var c5 = vec4<f32>(0.0);
    var d5 = vec4<f32>(0.0);
    var c6 = vec4<f32>(0.0);
    var d6 = vec4<f32>(0.0);
    var c7 = vec4<f32>(0.0);
    var d7 = vec4<f32>(0.0);
    let n_blocks = (p.m + 7u) / 8u;
    let listed = list[b];
    let first = n_blocks + b * (p.k / 4u);
    for (var t = 0u; t < listed; t++) {
        let q = list[first + t];
        let a0 = A[ra[0] + q];
        let a1 = A[ra[1] + q];
        let a2 = A[ra[2] + q];
        let a3 = A[ra[3] + q];
        let a4 = A[ra[4] + q];
        let a5 = A[ra[5] + q];
        let a6 = A[ra[6] + q];
        let a7 = A[ra[7] + q];
        let b0 = B[cb[0] + q];
        let b1 = B[cb[1] + q];
        let b2 = B[cb[2] + q];
        let b3 = B[cb[3] + q];
        let b4 = B[cb[4] + q];
        let b5 = B[cb[5] + q];
        let b6 = B[cb[6] + q];
        let b7 = B[cb[7] + q];
        for (var u = 0u; u < 4u; u++) {
            let lo = vec4<f32>(b0[u], b1[u], b2[u], b3[u]);
            let hi = vec4<f32>(b4[u], b5[u], b6[u], b7[u]);
            c0 = fma(vec4<f32>(a0[u]), lo, c0);
            d0 = fma(vec4<f32>(a0[u]), hi, d0);
            c1 = fma(vec4<f32>(a1[u]), lo, c1);
            d1 = fma(vec4<f32>(a1[u]), hi, d1);
            c2 = fma(vec4<f32>(a2[u]), lo, c2);
            d2 = fma(vec4<f32>(a2[u]), hi, d2);
            c3 = fma(vec4<f32>(a3[u]), lo, c3);
            d3 = fma(vec4<f32>(a3[u]), hi, d3);
            c4 = fma(vec4<f32>(a4[u]), lo, c4);
            d4 = fma(vec4<f32>(a4[u]), hi, d4);
            c5 = fma(vec4<f32>(a5[u]), lo, c5);
            d5 = fma(vec4<f32>(a5[u]), hi, d5);
            c6 = fma(vec4<f32>(a6[u]), lo, c6);
            d6 = fma(vec4<f32>(a6[u]), hi, d6);
            c7 = fma(vec4<f32>(a7[u]), lo, c7);
            d7 = fma(vec4<f32>(a7[u]), hi, d7);
        }
    }
    store8(m0 + 0u, n0, c0, d0);
    store8(m0 + 1u, n0, c1, d1);
    store8(m0 + 2u, n0, c2, d2);
    store8(m0 + 3u, n0, c3, d3);
    store8(m0 + 4u, n0, c4, d4);
    store8(m0 + 5u, n0, c5, d5);
    store8(m0 + 6u, n0, c6, d6);
    store8(m0 + 7u, n0, c7, d7);
}

fn store8(m: u32, n0: u32, lo: vec4<f32>, hi: vec4<f32>) {
    if (m >= p.m) {
        return;
    }
    for (var j = 0u; j < 8u; j++) {
        let n = n0 + j;
        if (n >= p.n) {
            return;
        }
        var v = select(hi[j & 3u], lo[j & 3u], j < 4u) + bias[p.bias_off + n];
        if (MODE == 0u) {
            v = max(v, 0.0);
        }
        C[m * p.n + n] = v;
    }
}
