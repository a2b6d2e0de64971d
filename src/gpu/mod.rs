//! Everything that runs on the GPU: device setup, the kernel plan, one file per kernel, and
//! the trainer that chains them into training steps, evaluations and coherence passes.

pub mod args;
pub mod context;
pub mod kernels;
pub mod plan;
pub mod trainer;
pub mod validation;

pub use context::{describe_adapters, Gpu, LimitsChoice, NO_ADAPTER_HELP};
pub use kernels::dispatch::run;
pub use kernels::{select, Dispatch, Kernels};
pub use plan::{KernelChoice, KernelPlan};
pub use trainer::{GpuTrainer, ParamLayout};
pub use validation::Validation;
