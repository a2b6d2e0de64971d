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
//
// The host fills in the marked places: the declarations of D and A and their readers
// `ld_d(row, q)` and `ld_a(row, q)`, which return columns 4q..4q+3 of a row: one vec4 load
// where the width is a multiple of 4, else four scalar loads with the columns past the width
// read as 0 (their indices clamped into the row, so that nothing past it is touched).

struct Params {
    n: u32,
    fo: u32,
    fi: u32,
    // 1: add to K; 0: overwrite it (the first layer)
    accumulate: u32,
}

@group(0) @binding(2) var<storage, read_write> K: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

/*D*/

/*A*/

// The four rows of a block, clamped to the last row (a clamped row's sums are computed and
// never stored).
fn rows4(first: u32) -> vec4<u32> {
    let last = p.n - 1u;
    return min(vec4<u32>(first, first + 1u, first + 2u, first + 3u), vec4<u32>(last));
}

// The 4 x 4 dot products of the errors of rows `r` and `c`, four columns at a time in order.
fn gram_d(r: vec4<u32>, c: vec4<u32>) -> mat4x4<f32> {
    var s = mat4x4<f32>();
    for (var q = 0u; q < (p.fo + 3u) / 4u; q++) {
        let x = mat4x4<f32>(ld_d(r.x, q), ld_d(r.y, q), ld_d(r.z, q), ld_d(r.w, q));
        let y = mat4x4<f32>(ld_d(c.x, q), ld_d(c.y, q), ld_d(c.z, q), ld_d(c.w, q));
        // column i of transpose(y) * x is (y_j . x_i)_j: s[i][j] += x_i . y_j
        s += transpose(y) * x;
    }
    return s;
}

// The same for the inputs (WGSL cannot pass the loader as a parameter).
fn gram_a(r: vec4<u32>, c: vec4<u32>) -> mat4x4<f32> {
    var s = mat4x4<f32>();
    for (var q = 0u; q < (p.fi + 3u) / 4u; q++) {
        let x = mat4x4<f32>(ld_a(r.x, q), ld_a(r.y, q), ld_a(r.z, q), ld_a(r.w, q));
        let y = mat4x4<f32>(ld_a(c.x, q), ld_a(c.y, q), ld_a(c.z, q), ld_a(c.w, q));
        s += transpose(y) * x;
    }
    return s;
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
    var dd = gram_d(r, c);
    var aa = gram_a(r, c);
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
