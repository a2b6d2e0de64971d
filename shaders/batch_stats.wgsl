// Minibatch loss and accuracy of one training step, reduced in a fixed order by a single
// workgroup (no atomics, so the result is bit-identical from run to run) and stored in the
// step's slot. The host reads the slots once per submission to report progress and to stop
// at the first step whose loss is not finite.

struct Params {
    rows: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<storage, read> loss: array<f32>;
@group(0) @binding(1) var<storage, read> correct: array<u32>;
@group(0) @binding(2) var<storage, read_write> stats: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<uniform> step: Step;

var<workgroup> ls: array<f32, 256>;
var<workgroup> cs: array<u32, 256>;

@compute @workgroup_size(256)
fn main(
    @builtin(local_invocation_index) t: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>
) {
    run = wid.z;
    var l = 0.0;
    var c = 0u;
    for (var r = t; r < p.rows; r += 256u) {
        l += loss[ro(0u) + r];
        c += correct[ro(1u) + r];
    }
    ls[t] = l;
    cs[t] = c;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s >>= 1u) {
        if (t < s) {
            ls[t] += ls[t + s];
            cs[t] += cs[t + s];
        }
        workgroupBarrier();
    }
    if (t == 0u) {
        // a slot holds every run's pair: stats[(slot * runs + run) * 2 ..]
        let at = (step.slot * nwg.z + run) * 2u;
        stats[at] = bitcast<u32>(ls[0] / f32(p.rows));
        stats[at + 1u] = cs[0];
    }
}
