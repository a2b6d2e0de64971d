// For select_partial_cols.wgsl: for each group g of R neighbouring inputs k0 = g*R ..
// k0+R-1 of a layer, the examples in which at least one of them is non-zero, in ascending
// order. list[g] is their count, and they are list[n_groups + g * rows + i]. The group that
// holds the bias (input k == fan_in, always 1) lists every example. One invocation per group.

struct Params {
    rows: u32,
    fan_in: u32,
    group: u32,
    n_groups: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> list: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    run = gid.z;
    let ar = ro(0u);
    let lr = ro(1u);
    let grp = gid.x;
    if (grp >= p.n_groups) {
        return;
    }
    let k0 = grp * p.group;
    let has_bias = k0 + p.group > p.fan_in;
    let last = p.fan_in - 1u;
    var n = 0u;
    for (var e = 0u; e < p.rows; e++) {
        var nz = has_bias;
        for (var r = 0u; r < p.group; r++) {
            let k = k0 + r;
            nz = nz || (k < p.fan_in && a[ar + e * p.fan_in + min(k, last)] != 0.0);
        }
        if (nz) {
            list[lr + p.n_groups + grp * p.rows + n] = e;
            n += 1u;
        }
    }
    list[lr + grp] = n;
}
