//! A bound kernel ready to record ([`Dispatch`]), what it does for `winsor profile`
//! ([`Work`]), and the recording of a list of them into compute passes.

use super::mirror::Mirror;
use super::step::STEP_STRIDE;
use crate::gpu::context::Gpu;

/// A recorded-on-demand compute dispatch.
/// What one run's share of a dispatch does, for the achieved rates of `winsor profile`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Work {
    /// Not counted.
    None,
    /// Floating-point operations (a matrix product's 2mnk; nominal for the first layer's
    /// product, whose zero inputs are skipped).
    Flops(f64),
    /// Coordinates aggregated (the selection kernels).
    Coords(f64),
    /// Bytes read and written at least once (memory-bound kernels).
    Bytes(f64),
}

pub struct Dispatch {
    pub name: &'static str,
    /// Per run; the dispatch does it for each of its runs.
    pub(super) work: Work,
    pub(super) pipeline: wgpu::ComputePipeline,
    pub(super) bind_group: wgpu::BindGroup,
    /// The run strides (group 1).
    pub(super) runs_group: wgpu::BindGroup,
    pub(super) groups: [u32; 3],
    pub(super) per_step: bool,
    /// Textures this dispatch reads, copied from their buffers before it runs.
    pub(super) mirrors: Vec<std::sync::Arc<Mirror>>,
    // Keeps the uniform buffers alive as long as the dispatch.
    pub(super) _uniform: [wgpu::Buffer; 2],
}

impl Dispatch {
    /// Records the dispatch; `slot` picks the per-step uniform for kernels that use it.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>, slot: u32) {
        pass.set_pipeline(&self.pipeline);
        if self.per_step {
            let off = (slot as u64 * STEP_STRIDE) as u32;
            pass.set_bind_group(0, &self.bind_group, &[off]);
        } else {
            pass.set_bind_group(0, &self.bind_group, &[]);
        }
        pass.set_bind_group(1, &self.runs_group, &[]);
        pass.dispatch_workgroups(self.groups[0], self.groups[1], self.groups[2]);
    }

    /// Whether the dispatch reads texture mirrors, which [`Dispatch::record_copies`] must
    /// refresh outside a compute pass first.
    pub fn has_copies(&self) -> bool {
        !self.mirrors.is_empty()
    }

    /// Refreshes the dispatch's texture mirrors from their buffers.
    pub fn record_copies(&self, enc: &mut wgpu::CommandEncoder) {
        for m in &self.mirrors {
            m.record(enc);
        }
    }

    /// The same dispatch over `runs` runs (the z dimension; shaders/common/runs.wgsl).
    pub fn across(mut self, runs: u32) -> Self {
        self.groups[2] = runs;
        self
    }

    /// Notes what one run's share of the dispatch does.
    pub fn with_work(mut self, work: Work) -> Self {
        self.work = work;
        self
    }

    /// What the whole dispatch does (all its runs).
    pub fn work(&self) -> Work {
        let r = self.groups[2] as f64;
        match self.work {
            Work::None => Work::None,
            Work::Flops(x) => Work::Flops(x * r),
            Work::Coords(x) => Work::Coords(x * r),
            Work::Bytes(x) => Work::Bytes(x * r),
        }
    }
}

/// Records dispatches (each with its per-step uniform slot) in compute passes, in order. A
/// dispatch that reads texture mirrors ends the pass, since copies are recorded outside
/// passes; with buffer operands everything goes into one pass.
pub fn record_all<'d>(
    enc: &mut wgpu::CommandEncoder,
    dispatches: impl IntoIterator<Item = (&'d Dispatch, u32)>,
) {
    let mut pass: Option<wgpu::ComputePass<'static>> = None;
    for (d, slot) in dispatches {
        if d.has_copies() {
            drop(pass.take());
            d.record_copies(enc);
        }
        let p = pass.get_or_insert_with(|| {
            enc.begin_compute_pass(&Default::default())
                .forget_lifetime()
        });
        d.record(p, slot);
    }
}

/// Splits `n` workgroups over x and y so that neither exceeds the 65535 per-dimension limit;
/// the shaders linearise with `gid.x + gid.y * num_workgroups.x * WG`.
pub fn groups_1d(items: u64, wg: u64) -> [u32; 3] {
    let n = items.div_ceil(wg).max(1);
    let x = n.min(65535);
    let y = n.div_ceil(x);
    [x as u32, y as u32, 1]
}

/// Records `dispatches` (in one compute pass unless some read texture mirrors), submits
/// and waits.
pub fn run(gpu: &Gpu, dispatches: &[&Dispatch]) -> anyhow::Result<()> {
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    record_all(&mut enc, dispatches.iter().map(|d| (*d, 0)));
    gpu.queue.submit([enc.finish()]);
    gpu.wait()
}
