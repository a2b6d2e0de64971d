// matmul_k4.wgsl for the first layer's forward product on CPU drivers (lavapipe), whose
// inputs (MNIST pixels) are mostly zero: the workgroup shares one block of 8 rows of A, and
// reads only the groups of 4 columns that nonzero_blocks.wgsl listed as holding a non-zero
// value in one of those rows; the loop bound is then the same for every lane, which is the
// one kind of skipping a CPU driver rewards. Each of the 32 invocations owns 8 columns of the
// block. The skipped products are exact zeros: fma(0, w, acc) is acc, so the sums (in
// ascending k) are bit-identical to the other matmul kernels. Same bindings and epilogues as
// matmul_k4.wgsl, plus the list.

// 0: + bias, ReLU   1: + bias
override MODE: u32 = 0u;

// A and B with their readers ld_a and ld_b: storage arrays of vec4, or texture mirrors of
// them (the host fills this in; matmul_cpu_block.wgsl)
/*AB*/
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read> list: array<u32>;

@compute @workgroup_size(32)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    run = wid.z;
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
        ra[i] = (ro(0u) + p.a_off + min(m0 + i, lm) * p.a_rs) / 4u;
    }
    var cb: array<u32, 8>;
    for (var j = 0u; j < 8u; j++) {
        cb[j] = (ro(1u) + p.b_off + min(n0 + j, ln) * p.b_cs) / 4u;
    }
    /*ACC*/
    let n_blocks = (p.m + 7u) / 8u;
    let lr = ro(5u);
    let listed = list[lr + b];
    let first = lr + n_blocks + b * (p.k / 4u);
    for (var t = 0u; t < listed; t++) {
        let q = list[first + t];
        /*LOAD_A*/
        /*LOAD_B*/
        for (var t = 0u; t < 4u; t++) {
            let lo = vec4<f32>(b0[t], b1[t], b2[t], b3[t]);
            let hi = vec4<f32>(b4[t], b5[t], b6[t], b7[t]);
            /*FMA*/
        }
    }
    /*STORE*/
}
