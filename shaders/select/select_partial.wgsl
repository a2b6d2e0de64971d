// Partial-selection robust aggregation of one dense layer: winsor:C, and trim:C and the median,
// which use the same order statistics, and the sign rules, which need only the sum.
//
// The per-example gradient of weight (j, k) is d[e, j] * a[e, k], of bias j it is d[e, j];
// they are formed on the fly and the B x P tensor never exists. Workgroup row wid.y holds the
// output units j0 .. j0+R-1, shared by all lanes (so their d[e, j] are uniform loads), and each
// invocation handles four neighbouring inputs k0..k0+3 as the components of a vec4: one vec4
// load of `a` serves 4 * R coordinates, and every selection step below is one vec4 min or
// max. The invocation after the last input block handles the bias (its "input" is 1).
//
// Selection: for each unit r, lo{r}_0 <= .. <= lo{r}_{KL-1} keep the KL = k_lo + 1 smallest
// values seen so far and hi{r}_0 >= .. the KH = k_hi + 1 largest. Each new value passes
// through them in a branch-free min/max bubble. At the end lo{r}_{KL-1} is the (k_lo+1)-th
// smallest and hi{r}_{KH-1} the (k_hi+1)-th largest value: the numpy "nearest" percentiles at
// sorted indices k_lo and B-1-k_hi, and the kept values also give the sums of the clipped ones
// (the clipped-sum identity in finish()), so the examples are read once.
//
// Why the host generates this shader (src/gpu/kernels/select_partial_source.rs) instead of using
// arrays and loops: the kept values must live in registers. llvmpipe (lavapipe) runs an `if`
// as a masked store on every lane, never as a jump, so early rejection and zero skipping cost
// more than they save there; straight-line code over named variables is what it runs fast
// (BENCHMARKS.md). The generator fills in the three marked places below, and prepends the
// constants KL, KH, R, MAP_SIGN (1: each value is replaced by its sign first: sum-sign),
// VEC_A (1 when fan_in is a multiple of 4, so `a` can be read as vec4) and VEC_D; the
// finish (FINISH, select_finish.wgsl) is a pipeline constant. Each component's arithmetic is that of a scalar version, in order.

struct Params {
    rows: u32,
    fan_out: u32,
    fan_in: u32,
    n_groups: u32, // used by select_partial_cols.wgsl only
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

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    run = wid.z;
    dr = ro(0u);
    ar = ro(1u);
    gr = ro(2u);
    let j0 = wid.y * R;
    let q = gid.x;
    let blocks = (p.fan_in + 3u) / 4u;
    if (q > blocks) {
        return;
    }
    let is_bias = q == blocks;
    let k0 = 4u * q;
    let inf = bitcast<f32>(0x7f800000u);
    // @STATE: var t{r} = vec4(0.0); var lo{r}_{i} = vec4(inf); var hi{r}_{i} = vec4(-inf);
    /*STATE*/
    var v: vec4<f32>;
    var x: vec4<f32>;
    var y: vec4<f32>;
    // Two examples per iteration: each unit's kept values are then read and written once per
    // pair (the unit's values are still offered in example order, so the result is that of
    // one example at a time). @PAIR, for examples e and e + 1: av{s} = load_a(..),
    // drow{s} = dr + e{s} * fan_out (and dv{s} declared); then per unit r and example s:
    //   v = d[drow{s} + min(j0 + r, p.fan_out - 1u)] * av{s} (or a lane of a vec4 load of d);
    //   [v = sign(v);] t{r} += v; x = v; y = lo{r}_0; lo{r}_0 = min(y, x); x = max(y, x); ...
    //   lo{r}_{KL-1} = min(lo{r}_{KL-1}, x); and the mirror image for hi{r}_*
    var e = 0u;
    // @CHUNKS (plan: chunk merges): M examples per iteration, their values offered to each
    // unit's kept values at once by a sorting and merging network (select_network.rs); the
    // pairs below take the rest
    /*CHUNKS*/
    for (; e + 1u < p.rows; e += 2u) {
        /*PAIR*/
    }
    // @SINGLE: the last example of an odd minibatch
    if (e < p.rows) {
        /*SINGLE*/
    }
    // @FINISH, per unit r: finish(j0 + r, k0, is_bias, t{r}, lo{r}_{KL-1}, hi{r}_{KH-1},
    //   lo{r}_0 + .. + lo{r}_{KL-2}, hi{r}_0 + .. + hi{r}_{KH-2})
    /*FINISH*/
}

// Example e's inputs k0..k0+3 (1 for the bias).
fn load_a(e: u32, q: u32, k0: u32, is_bias: bool) -> vec4<f32> {
    let blocks = (p.fan_in + 3u) / 4u;
    let last = p.fan_in - 1u;
    var av: vec4<f32>;
    if (VEC_A == 1u) {
        av = ld_a4((ar + e * p.fan_in) / 4u + min(q, blocks - 1u));
    } else {
        let row = ar + e * p.fan_in;
        av = vec4<f32>(
            a[row + min(k0, last)],
            a[row + min(k0 + 1u, last)],
            a[row + min(k0 + 2u, last)],
            a[row + min(k0 + 3u, last)]
        );
    }
    return select(av, vec4<f32>(1.0), is_bias);
}

// Stores the update of units j0 + r (a row) for inputs k0..k0+3 (or the bias).
fn finish(
    j: u32,
    k0: u32,
    is_bias: bool,
    total: vec4<f32>,
    lov: vec4<f32>,
    hiv: vec4<f32>,
    s_lo: vec4<f32>,
    s_hi: vec4<f32>
) {
    if (j >= p.fan_out) {
        return;
    }
    let s = finish_value(total, lov, hiv, s_lo, s_hi);
    if (is_bias) {
        put(gr + p.fan_out * p.fan_in + j, s.x);
        return;
    }
    for (var c = 0u; c < 4u; c++) {
        if (k0 + c < p.fan_in) {
            put(gr + j * p.fan_in + k0 + c, s[c]);
        }
    }
}
