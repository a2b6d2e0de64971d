// matmul_n4.wgsl, for CPU drivers (lavapipe): the backward product d_prev = d * W masked
// by relu', where A (the errors, row-major) is contiguous along k and B (the weights, row-major
// out x in, read as k x n) is contiguous along n. Requires k, n, the row strides and the
// offsets to be multiples of 4. A is read four k at a time as vec4, B as two vec4s per k
// covering the invocation's 8 columns. Each invocation owns a ROWS x 8 block of C (ROWS = 16, set
// by the host): per four k, 24 vec4 loads for 512 fused multiply-adds (an 8x8 block: 16 for 256), against 96 scalar loads in matmul_cpu.wgsl (each
// per-lane load is a loop over the SIMD lanes on a CPU driver; the accumulators spilling to
// the stack costs less). The products are accumulated one k at a time in ascending order with
// fma, so results are bit-identical to the other matmul kernels.
// Epilogue: zero where aux <= 0 (matmul_io.wgsl's MODE 2). Strides and offsets in `p`
// (matmul_params.wgsl, prepended) are in floats.

// A and B with their readers ld_a and ld_b: storage arrays of vec4, or texture mirrors of
// them (the host fills this in; matmul_cpu_block.wgsl)
/*AB*/
@group(0) @binding(2) var<storage, read> aux: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

// rows of C per invocation (a workgroup of 64 covers 8 * ROWS rows x 64 columns): the host
// fills in its N4_ROWS (src/gpu/kernels/matmul.rs)
const ROWS: u32 = /*ROWS*/;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    run = wid.z;
    let m0 = wid.y * 8u * ROWS + (lid / 8u) * ROWS;
    let n0 = wid.x * 64u + (lid % 8u) * 8u;
    if (m0 >= p.m || n0 >= p.n) {
        return;
    }
    // Rows past the end re-read the last one, columns past the end the last vec4 (valid
    // memory); neither is stored.
    let lm = p.m - 1u;
    var ra: array<u32, ROWS>;
    for (var i = 0u; i < ROWS; i++) {
        ra[i] = (ro(0u) + p.a_off + min(m0 + i, lm) * p.a_rs) / 4u;
    }
    // vec4 columns of B: n0..n0+3 and n0+4..n0+7 (or the last one)
    let nb_lo = n0 / 4u;
    let nb_hi = min(n0 / 4u + 1u, p.n / 4u - 1u);
    let brs = p.b_rs / 4u;
    let boff = (ro(1u) + p.b_off) / 4u;
    /*ACC*/
    for (var q = 0u; q < p.k / 4u; q++) {
        /*LOAD_A*/
        for (var t = 0u; t < 4u; t++) {
            let row = boff + (4u * q + t) * brs;
            let lo = ld_b(row + nb_lo);
            let hi = ld_b(row + nb_hi);
            /*FMA*/
        }
    }
    /*STORE*/
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
        var v = select(hi[j & 3u], lo[j & 3u], j < 4u);
        if (aux[ro(2u) + m * p.n + n] <= 0.0) {
            v = 0.0;
        }
        C[ro(3u) + m * p.n + n] = v;
    }
}
