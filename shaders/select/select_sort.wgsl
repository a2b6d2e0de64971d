// Sort-path robust aggregation of one dense layer (winsor:C, trim:C, median; mean as C = 0).
//
// The host prepends two constants that size the workgroup tile: P (the minibatch padded to
// a power of two) and T (coordinates per workgroup). FINISH is a pipeline constant (as in
// select_finish.wgsl: 0 clipped mean, 1 trimmed mean, 2 midpoint of the two order
// statistics).
//
// A workgroup takes T neighbouring coordinates (j, k0..k0+T-1) of one output unit j; the
// coordinate k == fan_in is the bias (its "input" is 1). Its per-example values
// d[e, j] * a[e, k] are formed once into workgroup memory (consecutive invocations read
// consecutive k, so the loads of `a` are contiguous), padded with +inf up to P, and sorted
// ascending by the bitonic network the host uploads (src/sortnet.rs generates it and proves
// it by the 0-1 principle; the pair formula below is the same as Stage::pair there). Then the
// order statistics at k_lo and rows-1-k_hi are read off, the values are clipped (or trimmed),
// and each coordinate's P values are summed by a fixed pairwise tree: deterministic, and
// within log2(P) u sum|v| of the exact sum.

struct Params {
    rows: u32,
    fan_out: u32,
    fan_in: u32,
    n_stages: u32,
    k_lo: u32,
    k_hi: u32,
    scale: f32,
    // with UPDATE: the learning rate
    lr: f32,
    // (block, dist, log2(dist), 0) per stage
    stages: array<vec4<u32>, 80>,
}

@group(0) @binding(0) var<storage, read> d: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> g: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const WG: u32 = 256u;
const HALF: u32 = P / 2u;

var<workgroup> v: array<f32, P * T>;
var<workgroup> bounds: array<vec2<f32>, T>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    run = wid.z;
    let j = wid.y;
    // the host dispatches exactly fan_out rows of workgroups; the guard makes the index
    // safe without that (uniform per workgroup, so the barriers below stay legal)
    if (j >= p.fan_out) {
        return;
    }
    let k0 = wid.x * T;
    let inf = bitcast<f32>(0x7f800000u);

    // values of coordinate t at v[t * P .. t * P + P]
    for (var idx = lid; idx < P * T; idx += WG) {
        let e = idx / T;
        let t = idx % T;
        let k = k0 + t;
        var x = inf;
        if (e < p.rows && k <= p.fan_in) {
            var av = 1.0;
            if (k < p.fan_in) {
                av = a[ro(1u) + e * p.fan_in + k];
            }
            x = d[ro(0u) + e * p.fan_out + j] * av;
        }
        v[t * P + e] = x;
    }
    workgroupBarrier();

    // the bitonic network, one stage at a time: HALF compare-exchanges per coordinate
    for (var s = 0u; s < p.n_stages; s++) {
        let st = p.stages[s];
        let block = st.x;
        let dist = st.y;
        let shift = st.z;
        for (var c = lid; c < T * HALF; c += WG) {
            let base = (c / HALF) * P;
            let q = c % HALF;
            // insert a zero bit at dist's position: the lower element of the pair
            let i = ((q >> shift) << (shift + 1u)) | (q & (dist - 1u));
            let l = i + dist;
            let x = v[base + i];
            let y = v[base + l];
            let up = (i & block) == 0u;
            v[base + i] = select(max(x, y), min(x, y), up);
            v[base + l] = select(min(x, y), max(x, y), up);
        }
        workgroupBarrier();
    }

    // the order statistics at sorted indices k_lo and rows-1-k_hi
    let hi_at = p.rows - 1u - p.k_hi;
    if (lid < T) {
        bounds[lid] = vec2<f32>(v[lid * P + p.k_lo], v[lid * P + hi_at]);
    }
    workgroupBarrier();

    if (FINISH == 2u) {
        if (lid < T) {
            store(j, k0 + lid, (bounds[lid].x + bounds[lid].y) * 0.5);
        }
        return;
    }

    // clip (or drop) by sorted position; padding contributes 0
    for (var idx = lid; idx < P * T; idx += WG) {
        let t = idx / P;
        let i = idx % P;
        var x = 0.0;
        if (i < p.rows) {
            if (FINISH == 1u) {
                if (i >= p.k_lo && i <= hi_at) {
                    x = v[idx];
                }
            } else {
                x = clamp(v[idx], bounds[t].x, bounds[t].y);
            }
        }
        v[idx] = x;
    }
    workgroupBarrier();

    // pairwise tree sum of each coordinate's P values
    for (var h = HALF; h > 0u; h >>= 1u) {
        for (var c = lid; c < T * h; c += WG) {
            let at = (c / h) * P + c % h;
            v[at] = v[at] + v[at + h];
        }
        workgroupBarrier();
    }
    if (lid < T) {
        store(j, k0 + lid, v[lid * P] * p.scale);
    }
}

// Writes coordinate (j, k) of the layer's gradient: weights row-major, then the biases.
// 1: g holds the layer's parameters and the SGD step w - lr * s is applied to them;
// 0: the update s itself is stored in g.
override UPDATE: u32 = 0u;
override FINISH: u32 = 0u;

fn store(j: u32, k: u32, s: f32) {
    var i: u32;
    if (k < p.fan_in) {
        i = ro(2u) + j * p.fan_in + k;
    } else if (k == p.fan_in) {
        i = ro(2u) + p.fan_out * p.fan_in + j;
    } else {
        return;
    }
    if (UPDATE == 1u) {
        g[i] = g[i] - p.lr * s;
    } else {
        g[i] = s;
    }
}
