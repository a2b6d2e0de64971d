// Partial-selection robust aggregation of the first layer, whose inputs (MNIST pixels) are
// mostly zero: the same selection and finish as select_partial.wgsl, with the roles of d and
// a swapped so that zero inputs can be skipped.
//
// Workgroup row wid.y holds the inputs k0 .. k0+R-1, shared by all lanes (their a[e, k] are
// uniform loads), and each invocation handles four neighbouring output units j..j+3 as the
// components of a vec4 (one vec4 load of d per example). The input k == fan_in is the bias
// (its "input" is 1). nonzero_groups.wgsl has listed, for each group of R inputs, the
// examples in which at least one of them is non-zero (list[g] counts them, and they follow
// from list[n_groups + g * rows]); only those are read. Every other example's values are
// zeros: they leave the sums as they are, and min(zeros, max(KL, KH)) of them are offered to
// the kept values at the end. On MNIST about 28% of (example, 4-pixel group) pairs are
// non-zero, so most of the work is skipped; the loop bound is the same for the whole
// workgroup, which is what makes it a real saving on a CPU driver (an `if` would not be).
//
// Sums run over the listed examples in ascending order: the skipped values are +-0, which
// leave a running sum that starts at +0 unchanged, so the result is the one of
// select_partial.wgsl. The host generates the marked places and prepends KL, KH, R,
// MAP_SIGN, VEC_A (1: fan_in and R multiples of 4, `a` read as vec4) and VEC_D (1: fan_out
// a multiple of 4, `d` read as vec4); see select_partial.wgsl.

struct Params {
    rows: u32,
    fan_out: u32,
    fan_in: u32,
    n_groups: u32,
    scale: f32,
    // with UPDATE: the learning rate
    lr: f32,
    _pad2: u32,
    _pad3: u32,
}

// elements before this run's d, a and gradient (shaders/common/runs.wgsl), set first in main
var<private> dr: u32;
var<private> ar: u32;
var<private> gr: u32;

@group(0) @binding(0) var<storage, read> d: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> g: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
// The same ranges as `a` and `d` viewed as vec4, read through ld_a4 and ld_d4 (only when
// VEC_A = 1, VEC_D = 1): storage arrays, or texture mirrors of them (the host fills this in,
// src/gpu/kernels/select_partial_source.rs).
/*VIEWS*/
@group(0) @binding(6) var<storage, read> list: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    run = wid.z;
    dr = ro(0u);
    ar = ro(1u);
    gr = ro(2u);
    let lr = ro(6u);
    let j = 4u * gid.x;
    if (j >= p.fan_out) {
        return;
    }
    let group = wid.y;
    // the host dispatches exactly n_groups rows of workgroups; the guard does not rely on it
    if (group >= p.n_groups) {
        return;
    }
    let k0 = group * R;
    let last_k = p.fan_in - 1u;
    let inf = bitcast<f32>(0x7f800000u);
    /*STATE*/
    let listed = list[lr + group];
    let first = lr + p.n_groups + group * p.rows;
    var v: vec4<f32>;
    var x: vec4<f32>;
    var y: vec4<f32>;
    // Two listed examples per iteration, as in select_partial.wgsl. @PAIR, for the listed
    // examples e0 and e1: dv{s} = load_d(e{s}, j), arow{s} = ar + e{s} * fan_in, then per input r
    // and example s: v = dv{s} * (a[arow{s} + k0 + r], 1 for the bias, 0 past it);
    // [v = sign(v);] t{r} += v; and the insertion of select_partial.wgsl
    var t = 0u;
    // @CHUNKS (plan: chunk merges): M listed examples per iteration, merged into the kept
    // values at once as in select_partial.wgsl
    /*CHUNKS*/
    for (; t + 1u < listed; t += 2u) {
        /*PAIR*/
    }
    // @SINGLE: the last of an odd number of listed examples
    if (t < listed) {
        /*SINGLE*/
    }
    // The skipped examples' zeros: at most max(KL, KH) of them can be among the kept values.
    // With at least that many, the KL smallest of the kept values and the zeros are the
    // negative kept ones, then zeros: @CLAMP sets lo{r}_{i} = min(lo{r}_{i}, zl) and
    // hi{r}_{i} = max(hi{r}_{i}, zh), 2 operations per kept value where inserting them one by
    // one takes 2 KL - 1 + 2 KH - 1 per zero (on MNIST about 72 of 100 examples are skipped
    // per group). Fewer zeros are inserted one by one, and the clamp is then against
    // infinities, which leaves every value as it is; both are branch-free.
    let zeros = p.rows - listed;
    let many = zeros >= max(KL, KH);
    let zl = select(vec4<f32>(inf), vec4<f32>(0.0), many);
    let zh = select(vec4<f32>(-inf), vec4<f32>(0.0), many);
    /*CLAMP*/
    for (var z = 0u; z < select(min(zeros, max(KL, KH)), 0u, many); z++) {
        v = vec4<f32>(0.0);
        /*ZEROS*/
    }
    /*FINISH*/
}

// Example e's errors of units j..j+3.
fn load_d(e: u32, j: u32) -> vec4<f32> {
    if (VEC_D == 1u) {
        return ld_d4((dr + e * p.fan_out + j) / 4u);
    }
    let row = dr + e * p.fan_out;
    let last_j = p.fan_out - 1u;
    return vec4<f32>(
        d[row + min(j, last_j)],
        d[row + min(j + 1u, last_j)],
        d[row + min(j + 2u, last_j)],
        d[row + min(j + 3u, last_j)]
    );
}

// Stores the update of units j..j+3 for input k (or the bias).
fn finish(
    j: u32,
    k: u32,
    total: vec4<f32>,
    lov: vec4<f32>,
    hiv: vec4<f32>,
    s_lo: vec4<f32>,
    s_hi: vec4<f32>
) {
    if (k > p.fan_in) {
        return;
    }
    let s = finish_value(total, lov, hiv, s_lo, s_hi);
    for (var c = 0u; c < 4u; c++) {
        if (j + c < p.fan_out) {
            if (k == p.fan_in) {
                put(gr + p.fan_out * p.fan_in + j + c, s[c]);
            } else {
                put(gr + (j + c) * p.fan_in + k, s[c]);
            }
        }
    }
}
