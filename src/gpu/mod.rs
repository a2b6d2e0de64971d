//! Everything that runs on the GPU: device setup, the kernel plan, one file per kernel, and
//! the trainer that chains them into training steps, evaluations and coherence passes.

pub mod args;
pub mod context;
pub mod kernels;
pub mod plan;
pub mod trainer;
pub mod validation;

pub use context::{describe_adapters, Gpu, LimitsChoice, NO_ADAPTER_HELP};
pub use kernels::{select, Dispatch, Kernels};
pub use plan::{KernelChoice, KernelPlan};
pub use trainer::{GpuTrainer, ParamLayout};
pub use validation::Validation;

/// Records `dispatches` (in one compute pass unless some read texture mirrors), submits
/// and waits.
pub fn run(gpu: &Gpu, dispatches: &[&Dispatch]) -> anyhow::Result<()> {
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    kernels::record_all(&mut enc, dispatches.iter().map(|d| (*d, 0)));
    gpu.queue.submit([enc.finish()]);
    gpu.wait()
}
