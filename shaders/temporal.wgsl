// Temporal rules (rm3, m3, ra3) over the flat gradient buffer, after the minibatch mean
// gradient has been written to g and before the SGD update.
//
// hist holds the last three mean gradients in a ring of three slots; step t (0-based, from
// the per-step uniform) writes slot t % 3. Then g becomes the update: the coordinate-wise
// median (MODE 0) or mean (MODE 1) of the gradients of steps t-2, t-1, t, in that order, or
// 0 when the rule takes no step (before three gradients exist; m3 between its steps), which
// leaves the weights exactly as they are (w - lr * 0 = w).

struct Params {
    count: u32,
    // 1: a step every step once three gradients exist (rm3, ra3); 3: every third step (m3)
    every: u32,
    _pad0: u32,
    _pad1: u32,
}

override MODE: u32 = 0u;

@group(0) @binding(0) var<storage, read_write> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> hist: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<uniform> step: Step;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    run = gid.z;
    let j = gid.x + gid.y * nwg.x * 256u;
    if (j >= p.count) {
        return;
    }
    let i = ro(0u) + j;
    let h = ro(1u) + j;
    let t = step.t;
    let x2 = g[i];
    hist[(t % 3u) * p.count + h] = x2;
    if (t < 2u || (p.every == 3u && t % 3u != 2u)) {
        g[i] = 0.0;
        return;
    }
    let x0 = hist[((t - 2u) % 3u) * p.count + h];
    let x1 = hist[((t - 1u) % 3u) * p.count + h];
    if (MODE == 0u) {
        g[i] = max(min(x0, x1), min(max(x0, x1), x2));
    } else {
        g[i] = (x0 + x1 + x2) / 3.0;
    }
}
