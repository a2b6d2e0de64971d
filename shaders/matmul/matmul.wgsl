// Tiled matrix product C = op(A) * op(B) with a fused epilogue.
//
// One kernel serves every dense product of the step, through strides:
//   forward    Z[R x out]  = X[R x in] * W^T        + bias, ReLU on hidden layers
//   backprop   D'[R x in]  = D[R x out] * W         masked by relu'(Z') = (A' > 0)
//   mean grad  G[out x in] = D^T[out x R] * A[R x in] * (1/R), possibly added to G
// (Strides and epilogues: matmul_params.wgsl and matmul_io.wgsl, prepended.) Each workgroup
// computes a 64x64 tile of C; each invocation a 4x4 block of it, interleaved (rows ty + 16i,
// columns tx + 16j) so neighbouring invocations touch neighbouring workgroup-memory words.
// Every output is a sum in ascending k: deterministic.

const TILE: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> As: array<f32, 1024>; // [TK][TILE]
var<workgroup> Bs: array<f32, 1024>; // [TK][TILE]

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    run = wid.z;
    let a_run = ro(0u);
    let b_run = ro(1u);
    let tx = lid.x;
    let ty = lid.y;
    let t = ty * 16u + tx;
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;

    // 4x4 accumulators as four vec4 rows: plain registers, where a dynamically indexed
    // array would live in memory on CPU drivers such as lavapipe.
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);

    for (var k0 = 0u; k0 < p.k; k0 += TK) {
        for (var i = 0u; i < 4u; i++) {
            let e = t + i * 256u;
            // A tile: consecutive invocations walk k (contiguous when A is row-major).
            let ak = e % TK;
            let am = e / TK;
            let gm = row0 + am;
            let gk = k0 + ak;
            var av = 0.0;
            if (gm < p.m && gk < p.k) {
                av = A[a_run + p.a_off + gm * p.a_rs + gk * p.a_cs];
            }
            As[ak * TILE + am] = av;
            // B tile: consecutive invocations walk n.
            let bn = e % TILE;
            let bk = e / TILE;
            let gn = col0 + bn;
            let gk2 = k0 + bk;
            var bv = 0.0;
            if (gn < p.n && gk2 < p.k) {
                bv = B[b_run + p.b_off + gk2 * p.b_rs + gn * p.b_cs];
            }
            Bs[bk * TILE + bn] = bv;
        }
        workgroupBarrier();
        // Out-of-range k was loaded as zeros, so the loop always runs TK times; each output
        // still sums its products in ascending k.
        for (var kk = 0u; kk < TK; kk++) {
            let o = kk * TILE;
            let a = vec4<f32>(As[o + ty], As[o + ty + 16u], As[o + ty + 32u], As[o + ty + 48u]);
            let b = vec4<f32>(Bs[o + tx], Bs[o + tx + 16u], Bs[o + tx + 32u], Bs[o + tx + 48u]);
            acc0 = fma(vec4<f32>(a.x), b, acc0);
            acc1 = fma(vec4<f32>(a.y), b, acc1);
            acc2 = fma(vec4<f32>(a.z), b, acc2);
            acc3 = fma(vec4<f32>(a.w), b, acc3);
        }
        workgroupBarrier();
    }

    let rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            store(row0 + ty + 16u * i, col0 + tx + 16u * j, rows[i][j]);
        }
    }
}
