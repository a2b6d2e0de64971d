// Partial-selection robust aggregation of one dense layer: winsor:C, and trim:C and the median,
// which use the same order statistics, and the sign rules, which need only the sum.
//
// The per-example gradient of weight (j, k) is d[e, j] * a[e, k], of bias j it is d[e, j];
// they are formed on the fly and the B x P tensor never exists. Workgroup row wid.y is the
// output unit j, shared by all lanes (so d[e, j] is one load for the workgroup), and each
// invocation handles four neighbouring inputs k0..k0+3 as the components of a vec4: one
// vec4 load of a (when fan_in is a multiple of 4) serves four coordinates, and every
// selection step below is one vec4 min or max. The invocation after the last input block
// handles the bias (its "input" is 1).
//
// Selection: `lo` keeps the KL = k_lo + 1 smallest values seen so far in ascending order and
// `hi` the KH = k_hi + 1 largest in descending order. A new value enters by a branch-free
// min/max bubble through the kept values, and only if it beats the current last one (early
// rejection: most values are dismissed by one comparison). At the end lo[KL-1] is the
// (k_lo+1)-th smallest and hi[KH-1] the (k_hi+1)-th largest value: the numpy "nearest"
// percentiles at sorted indices k_lo and B-1-k_hi, and the kept values also give the sums of
// the clipped ones (the clipped-sum identity below), so the examples are read once. KL and KH
// are pipeline constants, so the loops have constant bounds. KL = KH = 1 is the plain mean.
//
// Zeros: when all four inputs of an invocation are zero (MNIST's background pixels, inactive
// ReLUs), its values are all zero; they are only counted, and join the kept values at the end
// (at most KL and KH of them can matter). Up to R output units share each load of the inputs.
// Each component's arithmetic is exactly that of a scalar version, in the same order.

struct Params {
    rows: u32,
    fan_out: u32,
    fan_in: u32,
    _pad0: u32,
    scale: f32,
    _pad1: u32,
    _pad2: u32,
    _pad3: u32,
}

override KL: u32 = 1u;
override KH: u32 = 1u;
// What the kept order statistics become (rule.rs, Finish): 0 the mean of the values clipped
// to [lo, hi] (mean, winsor:C); 1 the mean of the values between the clipped ones (trim:C);
// 2 (lo + hi) / 2 (median); 3 scale * sign(sum) (sign-sum).
override FINISH: u32 = 0u;
// 1: each value is replaced by its sign first (sum-sign; no selection then, KL = KH = 1).
override MAP_SIGN: u32 = 0u;
// output units per invocation (1, 2 or 4); R * KL and R * KH must not exceed KMAX
override R: u32 = 1u;
const KMAX: u32 = 128u;

@group(0) @binding(0) var<storage, read> d: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> g: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
// the same range as `a`, viewed as vec4 (used when fan_in is a multiple of 4)
@group(0) @binding(4) var<storage, read> a4: array<vec4<f32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    // output units j0 .. j0+R-1 share each load of `a` (the loads of d are uniform)
    let j0 = wid.y * R;
    let q = gid.x;
    let blocks = (p.fan_in + 3u) / 4u;
    if (q > blocks) {
        return;
    }
    let is_bias = q == blocks;
    let k0 = 4u * q;
    let last = p.fan_in - 1u;
    let vec_a = p.fan_in % 4u == 0u;

    let inf = bitcast<f32>(0x7f800000u);
    var lo: array<vec4<f32>, KMAX>;
    var hi: array<vec4<f32>, KMAX>;
    var total: array<vec4<f32>, 4>;
    var zeros = 0u;
    for (var r = 0u; r < R; r++) {
        for (var i = 0u; i < KL; i++) {
            lo[r * KL + i] = vec4<f32>(inf);
        }
        for (var i = 0u; i < KH; i++) {
            hi[r * KH + i] = vec4<f32>(-inf);
        }
        total[r] = vec4<f32>(0.0);
    }
    for (var e = 0u; e < p.rows; e++) {
        var av = vec4<f32>(1.0);
        if (!is_bias) {
            if (vec_a) {
                av = a4[e * (p.fan_in / 4u) + q];
            } else {
                let row = e * p.fan_in;
                av = vec4<f32>(
                    a[row + min(k0, last)],
                    a[row + min(k0 + 1u, last)],
                    a[row + min(k0 + 2u, last)],
                    a[row + min(k0 + 3u, last)]
                );
            }
        }
        if (all(av == vec4<f32>(0.0))) {
            zeros += 1u;
            continue;
        }
        for (var r = 0u; r < R; r++) {
            var v = d[e * p.fan_out + min(j0 + r, p.fan_out - 1u)] * av;
            if (MAP_SIGN == 1u) {
                v = sign(v);
            }
            total[r] += v;
            insert_lo(r, v, &lo);
            insert_hi(r, v, &hi);
        }
    }
    // the skipped all-zero inputs: their values are zeros, of which at most KL (KH) can be
    // among the kept ones
    for (var i = 0u; i < max(KL, KH); i++) {
        if (i < zeros) {
            for (var r = 0u; r < R; r++) {
                insert_lo(r, vec4<f32>(0.0), &lo);
                insert_hi(r, vec4<f32>(0.0), &hi);
            }
        }
    }
    for (var r = 0u; r < R; r++) {
        let j = j0 + r;
        if (j < p.fan_out) {
            finish(j, k0, is_bias, r, total[r], &lo, &hi);
        }
    }
}

// Offers v to unit r's kept smallest values: a branch-free min/max bubble, entered only if v
// beats the current last kept one (early rejection).
fn insert_lo(r: u32, v: vec4<f32>, lo: ptr<function, array<vec4<f32>, KMAX>>) {
    let lb = r * KL;
    if (any(v < (*lo)[lb + KL - 1u])) {
        var x = v;
        for (var i = 0u; i < KL; i++) {
            let t = (*lo)[lb + i];
            (*lo)[lb + i] = min(t, x);
            x = max(t, x);
        }
    }
}

// The same for the kept largest values.
fn insert_hi(r: u32, v: vec4<f32>, hi: ptr<function, array<vec4<f32>, KMAX>>) {
    let hb = r * KH;
    if (any(v > (*hi)[hb + KH - 1u])) {
        var x = v;
        for (var i = 0u; i < KH; i++) {
            let t = (*hi)[hb + i];
            (*hi)[hb + i] = max(t, x);
            x = min(t, x);
        }
    }
}

// Clipped-sum identity: raising the k_lo smallest values to lo and lowering the k_hi largest
// to hi changes the total by k_lo*lo - (their sum) + k_hi*hi - (their sum), so one pass over
// the examples suffices. (Rounding: within 2 u sum|v| of the exact mean.)
fn finish(
    j: u32,
    k0: u32,
    is_bias: bool,
    r: u32,
    total: vec4<f32>,
    lo: ptr<function, array<vec4<f32>, KMAX>>,
    hi: ptr<function, array<vec4<f32>, KMAX>>
) {
    let lov = (*lo)[r * KL + KL - 1u];
    let hiv = (*hi)[r * KH + KH - 1u];
    var s_lo = vec4<f32>(0.0);
    for (var i = 0u; i + 1u < KL; i++) {
        s_lo += (*lo)[r * KL + i];
    }
    var s_hi = vec4<f32>(0.0);
    for (var i = 0u; i + 1u < KH; i++) {
        s_hi += (*hi)[r * KH + i];
    }
    var s: vec4<f32>;
    switch FINISH {
        case 1u: {
            s = (total - s_lo - s_hi) * p.scale;
        }
        case 2u: {
            s = (lov + hiv) * 0.5;
        }
        case 3u: {
            s = sign(total) * p.scale;
        }
        default: {
            s = ((total - s_lo - s_hi) + f32(KL - 1u) * lov + f32(KH - 1u) * hiv) * p.scale;
        }
    }
    if (is_bias) {
        g[p.fan_out * p.fan_in + j] = s.x;
        return;
    }
    for (var c = 0u; c < 4u; c++) {
        if (k0 + c < p.fan_in) {
            g[j * p.fan_in + k0 + c] = s[c];
        }
    }
}
