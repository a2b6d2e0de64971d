// Shared by select_partial.wgsl and select_partial_cols.wgsl (appended to them): a
// coordinate's update from its total, its kept order statistics lo (the (k_lo+1)-th smallest)
// and hi (the (k_hi+1)-th largest), and the sums of the kept values beyond them.
//
// Clipped-sum identity: raising the k_lo smallest values to lo and lowering the k_hi largest
// to hi changes the total by k_lo*lo - (their sum) + k_hi*hi - (their sum), so one pass over
// the examples suffices. (Rounding: within 2 u sum|v| of the exact mean.)
// 1: the gradient binding g holds the layer's parameters, and a coordinate's update is
// applied to them as the SGD step w - lr * s (the separate SGD dispatch is then not needed);
// 0: the update s itself is stored in g.
override UPDATE: u32 = 0u;

// Stores coordinate i's update s (see UPDATE).
fn put(i: u32, s: f32) {
    if (UPDATE == 1u) {
        g[i] = g[i] - p.lr * s;
    } else {
        g[i] = s;
    }
}

fn finish_value(
    total: vec4<f32>,
    lov: vec4<f32>,
    hiv: vec4<f32>,
    s_lo: vec4<f32>,
    s_hi: vec4<f32>
) -> vec4<f32> {
    switch FINISH {
        case 1u: {
            return (total - s_lo - s_hi) * p.scale;
        }
        case 2u: {
            return (lov + hiv) * 0.5;
        }
        case 3u: {
            return sign(total) * p.scale;
        }
        default: {
            return ((total - s_lo - s_hi) + f32(KL - 1u) * lov + f32(KH - 1u) * hiv) * p.scale;
        }
    }
}
