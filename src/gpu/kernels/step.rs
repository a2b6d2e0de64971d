//! The per-step uniform (shaders/common/step.wgsl): which slot a step writes and where its
//! minibatch indices start, one slot every [`STEP_STRIDE`] bytes.

use crate::gpu::context::Gpu;

/// Bytes between per-step uniform slots: the minimum dynamic-offset alignment of every device.
pub const STEP_STRIDE: u64 = 256;

uniform_struct! {
    /// Per-step uniform (shaders/common/step.wgsl): which stats slot a step writes, where its
    /// minibatch indices start, and the step's 0-based number in the run (rewritten before
    /// each submission).
    pub struct StepInfo {
        pub slot: u32,
        pub index_base: u32,
        pub t: u32,
        pub _pad: u32,
    }
}

impl StepInfo {
    pub fn new(slot: u32, rows: u32, t: u32) -> Self {
        StepInfo {
            slot,
            index_base: slot * rows,
            t,
            _pad: 0,
        }
    }
}

/// The per-step uniforms of `infos`, one every STEP_STRIDE bytes.
pub fn step_bytes(infos: &[StepInfo]) -> Vec<u8> {
    let mut bytes = vec![0u8; infos.len() * STEP_STRIDE as usize];
    for (i, info) in infos.iter().enumerate() {
        let o = i * STEP_STRIDE as usize;
        bytes[o..o + 16].copy_from_slice(bytemuck::bytes_of(info));
    }
    bytes
}

/// Builds the per-step uniform buffer for `slots` steps of `rows` indices each.
pub fn step_buffer(gpu: &Gpu, slots: u32, rows: u32) -> wgpu::Buffer {
    let infos: Vec<StepInfo> = (0..slots).map(|s| StepInfo::new(s, rows, 0)).collect();
    use wgpu::util::DeviceExt;
    gpu.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("steps"),
            contents: &step_bytes(&infos),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        })
}
