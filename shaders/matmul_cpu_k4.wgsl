// matmul_cpu.wgsl for the forward pass, where both operands are contiguous along k
// (A = activations, row-major; B = weights, row-major out x in) and k, the row strides and
// the offsets are multiples of 4. Operands are read four k at a time as vec4: a 4x8 block
// then costs 12 loads per 128 fused multiply-adds instead of per 32. The products are still
// accumulated one k at a time in ascending order, so results are bit-identical to the other
// matmul kernels. Strides and offsets in `p` (matmul_params.wgsl, prepended) are in floats.

// 0: + bias, ReLU   1: + bias
override MODE: u32 = 0u;

@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let m0 = wid.y * 32u + (lid / 8u) * 4u;
    let n0 = wid.x * 64u + (lid % 8u) * 8u;
    if (m0 >= p.m || n0 >= p.n) {
        return;
    }
    let lm = p.m - 1u;
    let ln = p.n - 1u;
    // row starts in vec4 units
    var ra: array<u32, 4>;
    for (var i = 0u; i < 4u; i++) {
        ra[i] = (p.a_off + min(m0 + i, lm) * p.a_rs) / 4u;
    }
    var cb: array<u32, 8>;
    for (var j = 0u; j < 8u; j++) {
        cb[j] = (p.b_off + min(n0 + j, ln) * p.b_cs) / 4u;
    }
    // acc[i][j] for row m0+i, column n0+j: c* hold columns 0..3, d* columns 4..7
    var c0 = vec4<f32>(0.0);
    var c1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    var d0 = vec4<f32>(0.0);
    var d1 = vec4<f32>(0.0);
    var d2 = vec4<f32>(0.0);
    var d3 = vec4<f32>(0.0);
    for (var q = 0u; q < p.k / 4u; q++) {
        let a0 = A[ra[0] + q];
        let a1 = A[ra[1] + q];
        let a2 = A[ra[2] + q];
        let a3 = A[ra[3] + q];
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
            c1 = fma(vec4<f32>(a1[t]), lo, c1);
            c2 = fma(vec4<f32>(a2[t]), lo, c2);
            c3 = fma(vec4<f32>(a3[t]), lo, c3);
            d0 = fma(vec4<f32>(a0[t]), hi, d0);
            d1 = fma(vec4<f32>(a1[t]), hi, d1);
            d2 = fma(vec4<f32>(a2[t]), hi, d2);
            d3 = fma(vec4<f32>(a3[t]), hi, d3);
        }
    }
    store8(m0, n0, c0, d0);
    store8(m0 + 1u, n0, c1, d1);
    store8(m0 + 2u, n0, c2, d2);
    store8(m0 + 3u, n0, c3, d3);
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
