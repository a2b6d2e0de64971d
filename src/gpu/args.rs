//! The command-line options that pick the device: the adapter, validation and the kernel
//! plan, shared by every command that opens one.

use anyhow::Result;
use clap::Args;

use crate::gpu::plan::KernelArgs;
use crate::gpu::{Gpu, Kernels, LimitsChoice, Validation};

#[derive(Args)]
pub struct DeviceArgs {
    /// GPU adapter: its number in `winsor adapters` or part of its name. Default: the first
    /// real GPU, else any adapter (lavapipe on a CPU-only machine).
    #[arg(long)]
    pub adapter: Option<String>,
    /// Run under the Khronos Vulkan validation layer (README, "GPU readiness"): on checks
    /// API use and synchronization, gpu-assisted also out-of-bounds shader access. Its
    /// warnings are printed; any error fails the command. Needs vulkan-validationlayers.
    #[arg(long, value_enum, default_value = "off")]
    pub validate: Validation,
    #[command(flatten)]
    pub kernels: KernelArgs,
}

impl DeviceArgs {
    /// The adapter, and the kernels of the plan asked for.
    pub fn open(&self, widest: usize) -> Result<(Gpu, Kernels)> {
        let gpu = Gpu::with_options(
            self.adapter.as_deref(),
            LimitsChoice::Adapter,
            self.validate,
        )?;
        let plan = self.kernels.plan(&gpu.info, widest)?;
        let kernels = Kernels::new(&gpu, plan)?;
        Ok((gpu, kernels))
    }
}
