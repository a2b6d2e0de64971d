// matmul_k4.wgsl, for CPU drivers (lavapipe): the forward pass, where both operands are
// contiguous along k (A = activations, row-major; B = weights, row-major out x in) and k, the
// row strides and the offsets are multiples of 4. Operands are read four k at a time as vec4,
// and each invocation owns a ROWS x 8 block of C (ROWS = 16, set by the host): 24 vec4 loads per
// 512 fused multiply-adds (on a
// CPU driver every per-lane load is a loop over the SIMD lanes, so loads, not arithmetic, set
// the speed; the accumulators spilling to the stack costs less). The products are still
// accumulated one k at a time in ascending order, so results are bit-identical to the other
// matmul kernels. Strides and offsets in `p` (matmul_params.wgsl, prepended) are in floats.

// 0: + bias, ReLU   1: + bias   3: * scale (no bias: Gram products, Matmul::gram)
override MODE: u32 = 0u;

// A and B with their readers ld_a and ld_b: storage arrays of vec4, or texture mirrors of
// them (the host fills this in; matmul_cpu_block.wgsl)
/*AB*/
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

// rows of C per invocation (a workgroup of 64 covers 8 * ROWS rows x 64 columns): the host
// fills in its K4_ROWS (src/gpu/kernels/matmul.rs)
const ROWS: u32 = /*ROWS*/;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    run = wid.z;
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
        ra[i] = (ro(0u) + p.a_off + min(m0 + i, lm) * p.a_rs) / 4u;
    }
    var cb: array<u32, 8>;
    for (var j = 0u; j < 8u; j++) {
        cb[j] = (ro(1u) + p.b_off + min(n0 + j, ln) * p.b_cs) / 4u;
    }
    // c{i}: row m0+i, columns n0..n0+3; d{i}: columns n0+4..n0+7
    /*ACC*/
    for (var q = 0u; q < p.k / 4u; q++) {
        /*LOAD_A*/
        /*LOAD_B*/
        for (var t = 0u; t < 4u; t++) {
            // column vectors of this k: b for columns 0..3 and 4..7
            let lo = vec4<f32>(b0[t], b1[t], b2[t], b3[t]);
            let hi = vec4<f32>(b4[t], b5[t], b6[t], b7[t]);
            /*FMA*/
        }
    }
    /*STORE*/
}
