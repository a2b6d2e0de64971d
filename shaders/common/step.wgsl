// Prepended to the kernels that read the per-step uniform (gather, batch_stats, temporal;
// src/gpu/kernels/mod.rs, StepInfo): which stats slot a step writes, where its minibatch
// indices start, and the step's 0-based number in the run. Selected per step with a dynamic
// offset, so one recorded step serves every step of a submission.
struct Step {
    slot: u32,
    index_base: u32,
    t: u32,
    _pad: u32,
}

