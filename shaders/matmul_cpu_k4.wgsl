// matmul_cpu_k4.wgsl, for CPU drivers (lavapipe): the forward pass, where both operands are
// contiguous along k (A = activations, row-major; B = weights, row-major out x in) and k, the
// row strides and the offsets are multiples of 4. Operands are read four k at a time as vec4,
// and each invocation owns an 8x8 block of C: 16 vec4 loads per 256 fused multiply-adds (on a
// CPU driver every per-lane load is a loop over the SIMD lanes, so loads, not arithmetic, set
// the speed; the accumulators spilling to the stack costs less). The products are still
// accumulated one k at a time in ascending order, so results are bit-identical to the other
// matmul kernels. Strides and offsets in `p` (matmul_params.wgsl, prepended) are in floats.

// 0: + bias, ReLU   1: + bias
override MODE: u32 = 0u;

@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

// rows of C per invocation (a workgroup of 64 covers 8 * ROWS rows x 64 columns)
const ROWS: u32 = 8u;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let m0 = wid.y * 8u * ROWS + (lid / 8u) * ROWS;
    let n0 = wid.x * 64u + (lid % 8u) * 8u;
    if (m0 >= p.m || n0 >= p.n) {
        return;
    }
    let lm = p.m - 1u;
    let ln = p.n - 1u;
    // row starts in vec4 units (rows and columns past the end re-read the last one)
    var ra: array<u32, ROWS>;
    for (var i = 0u; i < ROWS; i++) {
        ra[i] = (p.a_off + min(m0 + i, lm) * p.a_rs) / 4u;
    }
    var cb: array<u32, 8>;
    for (var j = 0u; j < 8u; j++) {
        cb[j] = (p.b_off + min(n0 + j, ln) * p.b_cs) / 4u;
    }
    // c{i}: row m0+i, columns n0..n0+3; d{i}: columns n0+4..n0+7
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
    for (var q = 0u; q < p.k / 4u; q++) {
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
        for (var t = 0u; t < 4u; t++) {
            // column vectors of this k: b for columns 0..3 and 4..7
            let lo = vec4<f32>(b0[t], b1[t], b2[t], b3[t]);
            let hi = vec4<f32>(b4[t], b5[t], b6[t], b7[t]);
            c0 = fma(vec4<f32>(a0[t]), lo, c0);
            d0 = fma(vec4<f32>(a0[t]), hi, d0);
            c1 = fma(vec4<f32>(a1[t]), lo, c1);
            d1 = fma(vec4<f32>(a1[t]), hi, d1);
            c2 = fma(vec4<f32>(a2[t]), lo, c2);
            d2 = fma(vec4<f32>(a2[t]), hi, d2);
            c3 = fma(vec4<f32>(a3[t]), lo, c3);
            d3 = fma(vec4<f32>(a3[t]), hi, d3);
            c4 = fma(vec4<f32>(a4[t]), lo, c4);
            d4 = fma(vec4<f32>(a4[t]), hi, d4);
            c5 = fma(vec4<f32>(a5[t]), lo, c5);
            d5 = fma(vec4<f32>(a5[t]), hi, d5);
            c6 = fma(vec4<f32>(a6[t]), lo, c6);
            d6 = fma(vec4<f32>(a6[t]), hi, d6);
            c7 = fma(vec4<f32>(a7[t]), lo, c7);
            d7 = fma(vec4<f32>(a7[t]), hi, d7);
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
