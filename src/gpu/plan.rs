//! Every kernel choice of a trainer in one value, resolved once from the adapter or forced
//! with `--kernels cpu|gpu` and the finer flags, and recorded in config.toml and
//! summary.json. Nothing else in `gpu/` asks what kind of adapter it runs on.
//!
//! The two presets differ because the hardware does: a CPU driver (lavapipe) has no real
//! workgroup memory and pays per dispatch, a GPU pays for uncoalesced loads and idle lanes.
//! Every choice gives the same numbers to rounding (most bit for bit; the tests run both
//! presets end to end against the f64 reference).

use serde::{Deserialize, Serialize};

use anyhow::Result;
use clap::Args;

/// `--kernels`: which preset to start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum KernelChoice {
    /// `cpu` on a CPU driver (lavapipe, llvmpipe, SwiftShader), `gpu` otherwise.
    #[default]
    Auto,
    /// The kernels tuned on lavapipe (BENCHMARKS.md).
    Cpu,
    /// The kernels meant for GPUs.
    Gpu,
}

/// Which matrix-product kernel a product uses. Both sum every output in ascending k with fma,
/// so they give the same numbers; they differ in how they use the hardware.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MatmulVariant {
    /// 64x64 workgroup-memory tiles, 4x4 outputs per invocation (shaders/matmul/matmul.wgsl).
    Tiled,
    /// Register blocks and vec4 loads, no workgroup memory (shaders/matmul_cpu*.wgsl).
    Cpu,
}

/// The matrix-product kernel of each of a layer's three products.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct MatmulPlan {
    /// z = a W^T + b (training, evaluation, and the coherence passes' G a).
    pub forward: MatmulVariant,
    /// The errors of the layer below, masked by relu'.
    pub backward: MatmulVariant,
    /// The summed gradient d^T a (the mean rule, chunked minibatches, coherence).
    pub grad: MatmulVariant,
}

impl MatmulPlan {
    pub fn all(v: MatmulVariant) -> Self {
        MatmulPlan {
            forward: v,
            backward: v,
            grad: v,
        }
    }
}

/// Output units per invocation of a partial-selection kernel.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Units {
    /// The most of 8, 4, 2, 1 whose kept values (units times the values kept per unit) stay
    /// within this many registers.
    Budget(usize),
    /// Exactly this many (1..=16).
    Fixed(usize),
}

impl Units {
    /// The units for `kept` values kept per unit, from `choices` (largest first).
    pub fn resolve(self, kept: usize, choices: &[usize]) -> usize {
        match self {
            Units::Fixed(n) => n,
            Units::Budget(b) => choices.iter().copied().find(|u| u * kept <= b).unwrap_or(1),
        }
    }
}

/// Every kernel choice of a trainer.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct KernelPlan {
    /// The preset this plan started from ("cpu" or "gpu"; the fields below may override it).
    pub preset: Preset,
    pub matmul: MatmulPlan,
    /// The first layer's inputs are pixels, mostly zero: its forward product lists the
    /// non-zero groups first (nonzero_blocks.wgsl, matmul_sparse.wgsl), and its partial
    /// selection reads only the examples where an input is non-zero (select_partial_cols).
    pub sparse_inputs: bool,
    /// `--select auto` takes the partial path up to this many values clipped per side, the
    /// sorting network beyond.
    pub partial_max_k: usize,
    /// Output units per invocation of the row partial-selection kernel.
    pub partial_units: Units,
    /// Inputs per invocation of the column partial-selection kernel (sparse first layer).
    pub cols_units: Units,
    /// The partial selection skips inserting a value that cannot enter the kept set: a
    /// branch per value and side, which pays where lanes diverge cheaply (GPUs) and most
    /// values are rejected (k small next to B).
    pub partial_early_reject: bool,
    /// The partial selection merges chunks of examples into the kept values with a sorting
    /// and merging network (2.6x fewer min/max per value at winsor:8, 2x at winsor:4;
    /// src/gpu/kernels/select_network.rs) instead of inserting each value. Plans recorded
    /// before this choice insert.
    #[serde(default)]
    pub partial_chunk_merge: bool,
    /// The per-example rules apply the SGD step inside their selection kernel, in place on
    /// the parameters, instead of a separate SGD dispatch.
    pub fused_sgd: bool,
    /// The mean and temporal rules sum their gradient through the streaming selection
    /// kernel instead of the matrix product d^T a (when a minibatch is one chunk).
    pub mean_through_select: bool,
    /// The most runs `--concurrent` defaults to.
    pub auto_concurrent_max: usize,
    /// Shader modules with wgpu's runtime bounds checks, or trusted (none: a GPU then pays
    /// no index clamps; the indices are in range by construction, docs/trusted-shaders.md).
    pub shader_checks: ShaderChecks,
    /// Where the forward products read their operands: the storage buffers, or textures
    /// the step copies them into first. Plans recorded before this choice read buffers.
    #[serde(default = "Operands::buffers")]
    pub operands: Operands,
}

/// How the forward products (matmul_k4.wgsl, matmul_sparse.wgsl) read A and B.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Operands {
    /// Straight from the storage buffers.
    Buffers,
    /// From rgba32float textures that mirror the buffers, refreshed by a buffer-to-texture
    /// copy just before each product: lavapipe loads a storage value lane by lane in a
    /// loop with a bounds check (about 19 cycles a lane), a texel in straight-line code
    /// (docs/benchmarks-history.md, "Operands through textures").
    Textures,
}

impl Operands {
    fn buffers() -> Self {
        Operands::Buffers
    }
}

/// How shader modules are created.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ShaderChecks {
    /// wgpu's default: every buffer access clamped or checked, loops bounded.
    Bounds,
    /// `create_shader_module_trusted` with no runtime checks.
    Trusted,
    /// A test build: trusted modules with every array index checked against its binding
    /// or declared length (kernels/asserted.rs); an index out of range fails the next wait,
    /// naming the kernel and the line. Computes the same bits as `trusted`, more slowly.
    Asserted,
}

/// Largest clip count per side the partial path keeps (its private arrays hold k+1): the
/// cpu preset's `partial_max_k`, and the limit the partial selection kernel checks.
pub const PARTIAL_KMAX: usize = 127;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    Cpu,
    Gpu,
}

impl KernelPlan {
    /// Tuned on lavapipe (BENCHMARKS.md): register-blocked products, zero pixels skipped,
    /// the partial path for every clip count it supports (it was faster at each, 4x for the
    /// median at B = 100, since workgroup-memory sorting costs a memory access per
    /// compare-exchange there), R * (KL + KH) within about 48 registers (winsor:1 and 2:
    /// R = 8, winsor:4: 4, winsor:8: 2), fused SGD for the per-example rules, and the mean
    /// summed by the streaming kernel (faster there than d^T a). At most 8 concurrent runs:
    /// the cores are busy with one run already (5 runs give 1.07-1.16x the run-steps/s of
    /// one, 25 no more).
    pub fn cpu() -> Self {
        KernelPlan {
            preset: Preset::Cpu,
            matmul: MatmulPlan::all(MatmulVariant::Cpu),
            sparse_inputs: true,
            partial_max_k: PARTIAL_KMAX,
            partial_units: Units::Budget(48),
            cols_units: Units::Budget(48),
            partial_early_reject: false,
            partial_chunk_merge: true,
            fused_sgd: true,
            mean_through_select: true,
            auto_concurrent_max: 8,
            // lavapipe checks bounds itself when asked (robustBufferAccess); the clamps
            // wgpu adds are a few instructions in loops that are memory-bound there
            shader_checks: ShaderChecks::Bounds,
            operands: Operands::Textures,
        }
    }

    /// For GPUs, not yet measured on one (BENCHMARKS.md): workgroup-memory tiled products,
    /// dense inputs (a skipped pixel saves little where loads are coalesced), the partial
    /// path up to 16 values clipped per side and the sorting network beyond (the partial
    /// path's cost grows with k, the sort's does not), the mean through d^T a, and up to 64
    /// concurrent runs.
    pub fn gpu() -> Self {
        KernelPlan {
            preset: Preset::Gpu,
            matmul: MatmulPlan::all(MatmulVariant::Tiled),
            sparse_inputs: false,
            partial_max_k: 16,
            partial_units: Units::Budget(48),
            cols_units: Units::Budget(48),
            partial_early_reject: true,
            partial_chunk_merge: false,
            fused_sgd: true,
            mean_through_select: false,
            auto_concurrent_max: 64,
            shader_checks: ShaderChecks::Trusted,
            // a GPU's storage loads are cheap; the copies would be pure cost
            operands: Operands::Buffers,
        }
    }

    /// The preset for this adapter: `cpu` on a CPU driver, `gpu` otherwise.
    pub fn for_adapter(info: &wgpu::AdapterInfo) -> Self {
        if info.device_type == wgpu::DeviceType::Cpu {
            Self::cpu()
        } else {
            Self::gpu()
        }
    }

    /// `--kernels`: a preset, or the adapter's.
    pub fn resolve(choice: KernelChoice, info: &wgpu::AdapterInfo) -> Self {
        match choice {
            KernelChoice::Auto => Self::for_adapter(info),
            KernelChoice::Cpu => Self::cpu(),
            KernelChoice::Gpu => Self::gpu(),
        }
    }

    /// The preset fitted to the networks it will train (`widest`: their widest hidden
    /// layer). The cpu preset reads the products' operands through texture mirrors only for
    /// layers of 256 units or more: a mirror's copy is a fixed cost per dispatch that a
    /// narrow layer's product does not repay. On lavapipe, with 8 concurrent runs at 3x36,
    /// buffers gave 2.7x (mean) and 2.2x (winsor:1) the run-steps/s of textures
    /// (BENCHMARKS.md, "Operands at narrow widths"), where textures gave 3.2x the mean's
    /// steps/s at 3x256 ("Operands through textures"). Same bits either way
    /// (tests/kernels/, tests/e2e.rs).
    pub fn fit_to(mut self, widest: usize) -> Self {
        if self.preset == Preset::Cpu && widest < 256 {
            self.operands = Operands::Buffers;
        }
        self
    }

    /// Both presets, for the tests.
    pub fn presets() -> [Self; 2] {
        [Self::cpu(), Self::gpu()]
    }

    /// The selection path for a rule clipping (k_lo, k_hi) values per side under `--select`.
    pub fn select_path(
        &self,
        select: crate::rule::Select,
        k_lo: usize,
        k_hi: usize,
    ) -> crate::rule::Select {
        use crate::rule::Select;
        match select {
            Select::Auto if k_lo.max(k_hi) <= self.partial_max_k => Select::Partial,
            Select::Auto => Select::Sort,
            s => s,
        }
    }

    /// Checks the finer settings; the error names the flag.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (flag, u) in [
            ("--partial-units", self.partial_units),
            ("--cols-units", self.cols_units),
        ] {
            if let Units::Fixed(n) = u {
                if !(1..=16).contains(&n) {
                    anyhow::bail!("{flag} {n}: must be in 1..=16");
                }
            }
        }
        if self.auto_concurrent_max == 0 {
            anyhow::bail!("the kernel plan's auto_concurrent_max must be at least 1");
        }
        Ok(())
    }

    /// One line for logs and `winsor profile`.
    pub fn describe(&self) -> String {
        let v = |v: MatmulVariant| match v {
            MatmulVariant::Tiled => "tiled",
            MatmulVariant::Cpu => "cpu",
        };
        let u = |u: Units| match u {
            Units::Budget(b) => format!("within {b} registers"),
            Units::Fixed(n) => n.to_string(),
        };
        format!(
            "kernels {:?}: matmul forward {} backward {} grad {}, sparse inputs {}, --select auto: partial up to k = {}, partial units {}, column units {}, early rejection {}, chunk merges {}, fused SGD {}, mean through selection {}, --concurrent default at most {}, shader checks {:?}, operands {:?}",
            self.preset,
            v(self.matmul.forward),
            v(self.matmul.backward),
            v(self.matmul.grad),
            on(self.sparse_inputs),
            self.partial_max_k,
            u(self.partial_units),
            u(self.cols_units),
            on(self.partial_early_reject),
            on(self.partial_chunk_merge),
            on(self.fused_sgd),
            on(self.mean_through_select),
            self.auto_concurrent_max,
            self.shader_checks,
            self.operands,
        )
        .to_lowercase()
    }
}

fn on(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// The kernel plan (README, "Kernel plans"): a preset, then any finer overrides. The
/// resolved plan goes into config.toml and summary.json.
#[derive(Args)]
pub struct KernelArgs {
    /// Kernel plan: auto (cpu on a CPU driver such as lavapipe, gpu otherwise), cpu (tuned
    /// on lavapipe) or gpu (tiled products, dense inputs, sorting network beyond k = 16).
    #[arg(long, value_enum, default_value = "auto")]
    pub kernels: KernelChoice,
    /// Override the plan: the matrix-product kernel of every product.
    #[arg(long, value_enum)]
    pub matmul: Option<MatmulVariant>,
    /// Override the plan: skip the first layer's zero pixels in its product and selection.
    #[arg(long, value_enum)]
    pub sparse_inputs: Option<Switch>,
    /// Override the plan: apply SGD inside the per-example rules' selection kernel.
    #[arg(long, value_enum)]
    pub fused_sgd: Option<Switch>,
    /// Override the plan: sum the mean and temporal rules' gradient with the streaming
    /// selection kernel instead of the matrix product.
    #[arg(long, value_enum)]
    pub mean_through_select: Option<Switch>,
    /// Override the plan: output units per invocation of the partial selection (1..=16).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=16))]
    pub partial_units: Option<u64>,
    /// Override the plan: inputs per invocation of the column partial selection (1..=16).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=16))]
    pub cols_units: Option<u64>,
    /// Override the plan: the partial selection skips inserting values that cannot enter
    /// the kept set.
    #[arg(long, value_enum)]
    pub early_reject: Option<Switch>,
    /// Override the plan: the partial selection merges chunks of examples into the kept
    /// values with a sorting and merging network instead of inserting each value.
    #[arg(long, value_enum)]
    pub chunk_merge: Option<Switch>,
    /// Override the plan: shader modules with wgpu's runtime bounds checks, or trusted
    /// (none; the gpu plan's).
    #[arg(long, value_enum)]
    pub shader_checks: Option<ShaderChecks>,
    /// Override the plan: the forward products read their operands from the storage
    /// buffers, or from textures the step copies them into (the cpu plan's).
    #[arg(long, value_enum)]
    pub operands: Option<Operands>,
    /// A plan recorded in a run's config.toml (`train --config`), used as it is.
    #[arg(skip)]
    pub recorded: Option<KernelPlan>,
}

impl KernelArgs {
    /// The plan for the adapter `info` and networks whose widest hidden layer is `widest`: the preset
    /// fitted to them, then the overrides.
    pub fn plan(&self, info: &wgpu::AdapterInfo, widest: usize) -> Result<KernelPlan> {
        if let Some(plan) = self.recorded {
            plan.validate()?;
            return Ok(plan);
        }
        let mut plan = KernelPlan::resolve(self.kernels, info).fit_to(widest);
        let on = |s: Switch| matches!(s, Switch::On);
        if let Some(v) = self.matmul {
            plan.matmul = MatmulPlan::all(v);
        }
        if let Some(s) = self.sparse_inputs {
            plan.sparse_inputs = on(s);
        }
        if let Some(s) = self.fused_sgd {
            plan.fused_sgd = on(s);
        }
        if let Some(s) = self.mean_through_select {
            plan.mean_through_select = on(s);
        }
        if let Some(n) = self.partial_units {
            plan.partial_units = Units::Fixed(n as usize);
        }
        if let Some(n) = self.cols_units {
            plan.cols_units = Units::Fixed(n as usize);
        }
        if let Some(s) = self.early_reject {
            plan.partial_early_reject = on(s);
        }
        if let Some(s) = self.chunk_merge {
            plan.partial_chunk_merge = on(s);
        }
        if let Some(c) = self.shader_checks {
            plan.shader_checks = c;
        }
        if let Some(o) = self.operands {
            plan.operands = o;
        }
        plan.validate()?;
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Select;

    #[test]
    fn select_auto_follows_the_plan() {
        let (cpu, gpu) = (KernelPlan::cpu(), KernelPlan::gpu());
        assert_eq!(gpu.select_path(Select::Auto, 1, 1), Select::Partial);
        assert_eq!(gpu.select_path(Select::Auto, 16, 16), Select::Partial);
        assert_eq!(gpu.select_path(Select::Auto, 17, 16), Select::Sort);
        assert_eq!(cpu.select_path(Select::Auto, 49, 49), Select::Partial);
        assert_eq!(cpu.select_path(Select::Auto, 128, 128), Select::Sort);
        assert_eq!(cpu.select_path(Select::Sort, 1, 1), Select::Sort);
        assert_eq!(gpu.select_path(Select::Partial, 49, 49), Select::Partial);
    }

    /// The cpu preset reads texture mirrors only for hidden layers of 256 or more; the gpu
    /// preset reads buffers at every width.
    #[test]
    fn operands_follow_the_widest_layer() {
        assert_eq!(KernelPlan::cpu().fit_to(256).operands, Operands::Textures);
        assert_eq!(KernelPlan::cpu().fit_to(2048).operands, Operands::Textures);
        assert_eq!(KernelPlan::cpu().fit_to(255).operands, Operands::Buffers);
        assert_eq!(KernelPlan::cpu().fit_to(36).operands, Operands::Buffers);
        assert_eq!(KernelPlan::gpu().fit_to(2048).operands, Operands::Buffers);
        // nothing else moves
        let fitted = KernelPlan::cpu().fit_to(36);
        assert_eq!(
            KernelPlan {
                operands: Operands::Textures,
                ..fitted
            },
            KernelPlan::cpu()
        );
    }

    #[test]
    fn units_follow_the_register_budget() {
        // winsor:1 and 2 at B = 100: R = 8; winsor:4: 4; winsor:8: 2 (docs/benchmarks-history.md)
        let b = Units::Budget(48);
        assert_eq!(b.resolve(1 + 1 + 2, &[8, 4, 2, 1]), 8);
        assert_eq!(b.resolve(4 + 4 + 2, &[8, 4, 2, 1]), 4);
        assert_eq!(b.resolve(8 + 8 + 2, &[8, 4, 2, 1]), 2);
        assert_eq!(b.resolve(100, &[8, 4, 2, 1]), 1);
        assert_eq!(Units::Fixed(3).resolve(100, &[8, 4, 2, 1]), 3);
    }

    #[test]
    fn bad_unit_counts_name_their_flag() {
        let plan = KernelPlan {
            partial_units: Units::Fixed(0),
            ..KernelPlan::cpu()
        };
        let e = plan.validate().unwrap_err().to_string();
        assert!(e.contains("--partial-units 0"), "{e}");
    }

    /// A plan file may not set a kernel option (the sweep's runs share their dispatches), so
    /// the sweep must know every one of them: a new override missing there would be
    /// accepted in a plan and silently dropped.
    #[test]
    fn the_sweep_refuses_every_kernel_option() {
        let cmd = KernelArgs::augment_args(clap::Command::new("k"));
        let ids: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect();
        assert!(ids.contains(&"kernels".to_string()), "{ids:?}");
        let mut known: Vec<&str> = crate::sweep::plan::KERNEL_OPTIONS.to_vec();
        let mut ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        known.sort_unstable();
        ids.sort_unstable();
        assert_eq!(known, ids);
    }
}
