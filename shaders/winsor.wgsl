// Fused winsorized aggregation of one dense layer, one invocation per coordinate.
//
// The per-example gradient of weight (j, k) is d[e, j] * a[e, k], of bias j it is d[e, j]; they
// are formed on the fly and the B x P tensor never exists. For each coordinate we keep the
// k_lo + 1 smallest and the k_hi + 1 largest values seen so far in small sorted arrays
// (insertion with early rejection: a value that cannot enter is dismissed by one comparison),
// which gives lo = the (k_lo+1)-th smallest and hi = the (k_hi+1)-th largest value, i.e. the
// numpy "nearest" percentiles at sorted indices k_lo and B-1-k_hi. A second pass sums
// clamp(v, lo, hi) in ascending e. k_lo = k_hi = 0 is the plain mean.
//
// Coordinates 0 .. out*in are the weights (row-major), out*in .. out*(in+1) the biases, which
// is also the layout of the layer's gradient segment.

struct Params {
    rows: u32,
    fan_out: u32,
    fan_in: u32,
    k_lo: u32,
    k_hi: u32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

const KMAX: u32 = 128u;

@group(0) @binding(0) var<storage, read> d: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> g: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn value(e: u32, j: u32, k: u32, is_bias: bool) -> f32 {
    let dv = d[e * p.fan_out + j];
    if (is_bias) {
        return dv;
    }
    return dv * a[e * p.fan_in + k];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let c = gid.x + gid.y * nwg.x * 64u;
    let weights = p.fan_out * p.fan_in;
    if (c >= weights + p.fan_out) {
        return;
    }
    let is_bias = c >= weights;
    var j: u32;
    var k: u32 = 0u;
    if (is_bias) {
        j = c - weights;
    } else {
        j = c / p.fan_in;
        k = c % p.fan_in;
    }

    var lo: array<f32, KMAX>; // ascending: the smallest values
    var hi: array<f32, KMAX>; // descending: the largest values
    let nl = p.k_lo + 1u;
    let nh = p.k_hi + 1u;
    var fl = 0u;
    var fh = 0u;
    for (var e = 0u; e < p.rows; e++) {
        let v = value(e, j, k, is_bias);
        if (fl < nl || v < lo[nl - 1u]) {
            var i = min(fl, nl - 1u);
            while (i > 0u && lo[i - 1u] > v) {
                lo[i] = lo[i - 1u];
                i--;
            }
            lo[i] = v;
            fl = min(fl + 1u, nl);
        }
        if (fh < nh || v > hi[nh - 1u]) {
            var i = min(fh, nh - 1u);
            while (i > 0u && hi[i - 1u] < v) {
                hi[i] = hi[i - 1u];
                i--;
            }
            hi[i] = v;
            fh = min(fh + 1u, nh);
        }
    }
    let lov = lo[nl - 1u];
    let hiv = hi[nh - 1u];
    var s = 0.0;
    for (var e = 0u; e < p.rows; e++) {
        s += clamp(value(e, j, k, is_bias), lov, hiv);
    }
    g[c] = s * p.scale;
}
