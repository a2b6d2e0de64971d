// Prepended to every kernel (src/gpu/kernels/mod.rs): many runs of a sweep share one dispatch.
// The dispatch's z dimension is the run, and each storage binding holds the runs one after
// another, `runs.stride[binding]` elements apart (0 for data every run shares, such as the
// pixels). A kernel sets `run` first and adds `ro(binding)` to every index into that
// binding; with one run the offsets are all 0 and the kernel is the one-run kernel.

struct Runs {
    stride: array<vec4<u32>, 2>,
}

@group(1) @binding(0) var<uniform> runs: Runs;

var<private> run: u32;

// Elements before run `run`'s part of storage binding `binding`.
fn ro(binding: u32) -> u32 {
    return run * runs.stride[binding / 4u][binding % 4u];
}
