// Tiled matrix product C = op(A) * op(B) with a fused epilogue.
//
// One kernel serves every dense product of the step, through strides:
//   forward    Z[R x out]  = X[R x in] * W^T        + bias, ReLU on hidden layers
//   backprop   D'[R x in]  = D[R x out] * W         masked by relu'(Z') = (A' > 0)
//   mean grad  G[out x in] = D^T[out x R] * A[R x in] * (1/R)
// A(m, k) = A[a_off + m*a_rs + k*a_cs] and B(k, n) = B[b_off + k*b_rs + n*b_cs], so a transpose
// is only a change of strides. Each workgroup computes a 64x64 tile of C; each invocation a 4x4
// block of it, interleaved (rows ty + 16i, columns tx + 16j) so neighbouring invocations touch
// neighbouring workgroup-memory words. Every output is a sum in ascending k: deterministic.

struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_off: u32,
    a_rs: u32,
    a_cs: u32,
    b_off: u32,
    b_rs: u32,
    b_cs: u32,
    bias_off: u32,
    scale: f32,
    _pad: u32,
}

// 0: + bias, ReLU   1: + bias   2: zero where aux <= 0   3: * scale
override MODE: u32 = 0u;

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read> aux: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const TILE: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> As: array<f32, 1024>; // [TK][TILE]
var<workgroup> Bs: array<f32, 1024>; // [TK][TILE]

@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let t = ty * 16u + tx;
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;

    var acc: array<f32, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = 0.0;
    }

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
                av = A[p.a_off + gm * p.a_rs + gk * p.a_cs];
            }
            As[ak * TILE + am] = av;
            // B tile: consecutive invocations walk n.
            let bn = e % TILE;
            let bk = e / TILE;
            let gn = col0 + bn;
            let gk2 = k0 + bk;
            var bv = 0.0;
            if (gn < p.n && gk2 < p.k) {
                bv = B[p.b_off + gk2 * p.b_rs + gn * p.b_cs];
            }
            Bs[bk * TILE + bn] = bv;
        }
        workgroupBarrier();
        let kmax = min(TK, p.k - k0);
        for (var kk = 0u; kk < kmax; kk++) {
            var a: array<f32, 4>;
            var b: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                a[i] = As[kk * TILE + ty + 16u * i];
                b[i] = Bs[kk * TILE + tx + 16u * i];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]);
                }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < 4u; i++) {
        let m = row0 + ty + 16u * i;
        if (m >= p.m) {
            continue;
        }
        for (var j = 0u; j < 4u; j++) {
            let n = col0 + tx + 16u * j;
            if (n >= p.n) {
                continue;
            }
            var v = acc[i * 4u + j];
            switch MODE {
                case 0u: {
                    v = max(v + B[p.bias_off + n], 0.0);
                }
                case 1u: {
                    v = v + B[p.bias_off + n];
                }
                case 2u: {
                    if (aux[m * p.n + n] <= 0.0) {
                        v = 0.0;
                    }
                }
                default: {
                    v = v * p.scale;
                }
            }
            C[m * p.n + n] = v;
        }
    }
}
