// matmul_mn4.wgsl, for CPU drivers (lavapipe): the summed gradient G = scale * d^T a (+ G),
// a product over the example dimension k where A (d^T: A(m, k) = d[k * a_cs + m]) is contiguous
// along m and B (a: B(k, n) = a[k * b_rs + n]) along n, with m, n, the strides and the offsets
// multiples of 4. Per k, each invocation loads two vec4s of A (its 8 rows) and two of B (its 8
// columns) for 64 fused multiply-adds, where matmul_cpu.wgsl gathers 12 scalars for 32 (each
// per-lane load is a loop over the SIMD lanes on a CPU driver). The products are accumulated
// one k at a time in ascending order with fma, so results are bit-identical to the other
// matmul kernels. Epilogues: matmul_io.wgsl's MODE 3 (* scale) and 4 (C + * scale).

override MODE: u32 = 3u;

@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    run = wid.z;
    let m0 = wid.y * 64u + (lid / 8u) * 8u;
    let n0 = wid.x * 64u + (lid % 8u) * 8u;
    if (m0 >= p.m || n0 >= p.n) {
        return;
    }
    // vec4 columns of A (rows m0..m0+3, m0+4..m0+7) and of B (columns n0.., n0+4..); past
    // the end they re-read the last vec4 (valid memory), and those outputs are not stored
    let am_lo = m0 / 4u;
    let am_hi = min(m0 / 4u + 1u, p.m / 4u - 1u);
    let bn_lo = n0 / 4u;
    let bn_hi = min(n0 / 4u + 1u, p.n / 4u - 1u);
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
    let aoff = (ro(0u) + p.a_off) / 4u;
    let boff = (ro(1u) + p.b_off) / 4u;
    for (var k = 0u; k < p.k; k++) {
        let ar = aoff + k * (p.a_cs / 4u);
        let br = boff + k * (p.b_rs / 4u);
        let alo = A[ar + am_lo];
        let ahi = A[ar + am_hi];
        let lo = B[br + bn_lo];
        let hi = B[br + bn_hi];
        c0 = fma(vec4<f32>(alo[0]), lo, c0);
        d0 = fma(vec4<f32>(alo[0]), hi, d0);
        c1 = fma(vec4<f32>(alo[1]), lo, c1);
        d1 = fma(vec4<f32>(alo[1]), hi, d1);
        c2 = fma(vec4<f32>(alo[2]), lo, c2);
        d2 = fma(vec4<f32>(alo[2]), hi, d2);
        c3 = fma(vec4<f32>(alo[3]), lo, c3);
        d3 = fma(vec4<f32>(alo[3]), hi, d3);
        c4 = fma(vec4<f32>(ahi[0]), lo, c4);
        d4 = fma(vec4<f32>(ahi[0]), hi, d4);
        c5 = fma(vec4<f32>(ahi[1]), lo, c5);
        d5 = fma(vec4<f32>(ahi[1]), hi, d5);
        c6 = fma(vec4<f32>(ahi[2]), lo, c6);
        d6 = fma(vec4<f32>(ahi[2]), hi, d6);
        c7 = fma(vec4<f32>(ahi[3]), lo, c7);
        d7 = fma(vec4<f32>(ahi[3]), hi, d7);
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
        let at = ro(2u) + m * p.n + n;
        var v = select(hi[j & 3u], lo[j & 3u], j < 4u) * p.scale;
        if (MODE == 4u) {
            v = C[at] + v;
        }
        C[at] = v;
    }
}
