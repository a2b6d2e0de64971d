// Shared by matmul_k4.wgsl and matmul_sparse.wgsl (appended to them): the forward
// epilogue of one row of an invocation's ROWS x 8 block, columns n0..n0+3 in `lo` and n0+4..n0+7 in
// `hi` (+ bias, then ReLU for MODE 0; MODE 3, matmul_io.wgsl's scale, for the Gram products of
// the similarity measurement, adds no bias). Outputs outside C are skipped.
//
// The block itself is written out by the host (src/gpu/kernels/matmul.rs, cpu_block), since WGSL
// has no macros, at the marked places: ACC declares the accumulators c{i} (row i, columns 0..3) and d{i}
// (columns 4..7) for each of the ROWS rows, AB declares A and B and their readers ld_a and ld_b
// (storage arrays of vec4, or texture mirrors read through shaders/texel.wgsl), LOAD_A loads
// a{i} = ld_a(ra[i] + q) (row i, four k), LOAD_B loads b0..b7 = ld_b(cb[j] + q) (column j,
// four k), FMA adds a{i}[t] * lo and a{i}[t] * hi for the
// column vectors lo and hi of this k, and STORE calls store8 for each row.

fn store8(m: u32, n0: u32, lo: vec4<f32>, hi: vec4<f32>) {
    if (m >= p.m) {
        return;
    }
    for (var j = 0u; j < 8u; j++) {
        let n = n0 + j;
        if (n >= p.n) {
            return;
        }
        var v = select(hi[j & 3u], lo[j & 3u], j < 4u);
        if (MODE == 3u) {
            v *= p.scale;
        } else {
            v += bias[ro(2u) + p.bias_off + n];
        }
        if (MODE == 0u) {
            v = max(v, 0.0);
        }
        C[ro(3u) + m * p.n + n] = v;
    }
}
