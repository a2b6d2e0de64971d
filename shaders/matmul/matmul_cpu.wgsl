// Matrix product for CPU drivers (lavapipe): same bindings, parameters, epilogues and
// summation order (fma in ascending k) as matmul.wgsl, hence bit-identical results, but no
// workgroup memory and no barriers.
//
// A CPU driver runs a workgroup as SIMD lanes on one core, and every per-lane memory access
// is a gather, so what counts is multiply-adds per load. Each invocation here owns a 4x8
// block of C and, per k, loads 4 values of A and 8 of B for 32 fused multiply-adds (the tiled
// GPU kernel's workgroup-memory reads would be gathers too, with barriers on top). A
// workgroup of 64 covers 32 rows x 64 columns.

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    run = wid.z;
    let m0 = wid.y * 32u + (lid / 8u) * 4u;
    let n0 = wid.x * 64u + (lid % 8u) * 8u;
    if (m0 >= p.m || n0 >= p.n) {
        return;
    }
    // Rows and columns past the end re-read the last one (valid memory) and are not stored.
    let lm = p.m - 1u;
    let ln = p.n - 1u;
    var ra: array<u32, 4>;
    for (var i = 0u; i < 4u; i++) {
        ra[i] = ro(0u) + p.a_off + min(m0 + i, lm) * p.a_rs;
    }
    var cb: array<u32, 8>;
    for (var j = 0u; j < 8u; j++) {
        cb[j] = ro(1u) + p.b_off + min(n0 + j, ln) * p.b_cs;
    }
    var c0 = vec4<f32>(0.0);
    var c1 = vec4<f32>(0.0);
    var c2 = vec4<f32>(0.0);
    var c3 = vec4<f32>(0.0);
    var d0 = vec4<f32>(0.0);
    var d1 = vec4<f32>(0.0);
    var d2 = vec4<f32>(0.0);
    var d3 = vec4<f32>(0.0);
    for (var k = 0u; k < p.k; k++) {
        let ka = k * p.a_cs;
        let kb = k * p.b_rs;
        let a = vec4<f32>(A[ra[0] + ka], A[ra[1] + ka], A[ra[2] + ka], A[ra[3] + ka]);
        let b = vec4<f32>(B[cb[0] + kb], B[cb[1] + kb], B[cb[2] + kb], B[cb[3] + kb]);
        let bb = vec4<f32>(B[cb[4] + kb], B[cb[5] + kb], B[cb[6] + kb], B[cb[7] + kb]);
        c0 = fma(vec4<f32>(a.x), b, c0);
        c1 = fma(vec4<f32>(a.y), b, c1);
        c2 = fma(vec4<f32>(a.z), b, c2);
        c3 = fma(vec4<f32>(a.w), b, c3);
        d0 = fma(vec4<f32>(a.x), bb, d0);
        d1 = fma(vec4<f32>(a.y), bb, d1);
        d2 = fma(vec4<f32>(a.z), bb, d2);
        d3 = fma(vec4<f32>(a.w), bb, d3);
    }
    let lo = array<vec4<f32>, 4>(c0, c1, c2, c3);
    let hi = array<vec4<f32>, 4>(d0, d1, d2, d3);
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            store(m0 + i, n0 + j, lo[i][j]);
            store(m0 + i, n0 + 4u + j, hi[i][j]);
        }
    }
}
