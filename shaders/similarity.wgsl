// One layer's share of the per-example gradient similarity matrix K of N examples:
//
//   K[n, m] (+)= (D[n, :] . D[m, :]) * (A[n, :] . A[m, :] + 1)
//
// D holds the layer's output errors (N x fo) and A its inputs (N x fi), both row-major. An
// example's gradient of this layer is the outer product d a^T plus the bias d, so the inner
// product of two examples' gradients is (d_n . d_m)(a_n . a_m) + d_n . d_m, and K summed over
// the layers (one dispatch per layer, `accumulate` after the first) is g_n . g_m with no
// gradient ever formed.
//
// K is symmetric: an invocation owns a 4 x 4 block of pairs at or above the block diagonal
// and writes it and its mirror image; the mirror is the same value (the products commute and
// both sums run over k in order), so every element is written by one invocation with one
// value, and the result is deterministic. One run: the measurement runs alone.

struct Params {
    n: u32,
    fo: u32,
    fi: u32,
    // 1: add to K; 0: overwrite it (the first layer)
    accumulate: u32,
}

@group(0) @binding(0) var<storage, read> D: array<f32>;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> K: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

// The four rows of a block, clamped to the last row (a clamped row's sums are computed and
// never stored).
fn rows4(first: u32) -> vec4<u32> {
    let last = p.n - 1u;
    return min(vec4<u32>(first, first + 1u, first + 2u, first + 3u), vec4<u32>(last));
}

// The 4 x 4 dot products of rows `r` and `c` of the row-major matrix X (width w), columns
// in index order.
fn gram_d(r: vec4<u32>, c: vec4<u32>, w: u32) -> mat4x4<f32> {
    var s0 = vec4<f32>(0.0);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    var s3 = vec4<f32>(0.0);
    for (var k = 0u; k < w; k++) {
        let x = vec4<f32>(D[r.x * w + k], D[r.y * w + k], D[r.z * w + k], D[r.w * w + k]);
        let y = vec4<f32>(D[c.x * w + k], D[c.y * w + k], D[c.z * w + k], D[c.w * w + k]);
        s0 = fma(vec4<f32>(x.x), y, s0);
        s1 = fma(vec4<f32>(x.y), y, s1);
        s2 = fma(vec4<f32>(x.z), y, s2);
        s3 = fma(vec4<f32>(x.w), y, s3);
    }
    return mat4x4<f32>(s0, s1, s2, s3);
}

fn gram_a(r: vec4<u32>, c: vec4<u32>, w: u32) -> mat4x4<f32> {
    var s0 = vec4<f32>(0.0);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    var s3 = vec4<f32>(0.0);
    for (var k = 0u; k < w; k++) {
        let x = vec4<f32>(A[r.x * w + k], A[r.y * w + k], A[r.z * w + k], A[r.w * w + k]);
        let y = vec4<f32>(A[c.x * w + k], A[c.y * w + k], A[c.z * w + k], A[c.w * w + k]);
        s0 = fma(vec4<f32>(x.x), y, s0);
        s1 = fma(vec4<f32>(x.y), y, s1);
        s2 = fma(vec4<f32>(x.z), y, s2);
        s3 = fma(vec4<f32>(x.w), y, s3);
    }
    return mat4x4<f32>(s0, s1, s2, s3);
}

fn store(n: u32, m: u32, v: f32) {
    var k = v;
    if (p.accumulate == 1u) {
        k += K[n * p.n + m];
    }
    K[n * p.n + m] = k;
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    // gid.x: the block of columns m, gid.y: the block of rows n
    let bm = gid.x;
    let bn = gid.y;
    let blocks = (p.n + 3u) / 4u;
    if (bm >= blocks || bn >= blocks || bn > bm) {
        return;
    }
    let r = rows4(bn * 4u);
    let c = rows4(bm * 4u);
    var dd = gram_d(r, c, p.fo);
    var aa = gram_a(r, c, p.fi);
    for (var i = 0u; i < 4u; i++) {
        let n = bn * 4u + i;
        if (n >= p.n) {
            break;
        }
        for (var j = 0u; j < 4u; j++) {
            let m = bm * 4u + j;
            if (m >= p.n) {
                break;
            }
            // below the diagonal of a diagonal block: the mirror of (m, n), written there
            if (bn == bm && m < n) {
                continue;
            }
            let v = dd[i][j] * (aa[i][j] + 1.0);
            store(n, m, v);
            if (m != n) {
                store(m, n, v);
            }
        }
    }
}
