//! Kernel `temporal`: shaders/temporal.wgsl; CPU twin `reference::temporal` (src/reference/kernels/temporal.rs);
//! test `temporal_rules_match_reference_over_steps` in tests/kernels/temporal.rs.

use super::dispatch::{groups_1d, Dispatch};
use super::pipeline::{Kernel, Kind, ShaderVariant};
use super::slice::Slice;
use crate::gpu::context::Gpu;
use crate::gpu::plan::ShaderChecks;

const SOURCE: &str = concat!(
    include_str!("../../../shaders/common/step.wgsl"),
    include_str!("../../../shaders/temporal.wgsl")
);

/// Every shader this kernel compiles, for tests/shaders.rs.
pub fn variants() -> Vec<ShaderVariant> {
    [0.0, 1.0]
        .map(|mode| {
            ShaderVariant::new::<TemporalParams>(
                format!("temporal MODE {mode}"),
                SOURCE.into(),
                &[("MODE", mode)],
            )
        })
        .into()
}

uniform_struct! {
    /// The shader's `Params`.
    pub struct TemporalParams {
        count: u32,
        every: u32,
        _pad: [u32; 2],
    }
}

/// The temporal rules' combination of the last three minibatch mean gradients.
pub struct TemporalCombine {
    kernel: Kernel,
    rule: crate::rule::Temporal,
}

impl TemporalCombine {
    pub fn new(gpu: &Gpu, checks: ShaderChecks, rule: crate::rule::Temporal) -> Self {
        use crate::rule::Temporal;
        use Kind::*;
        let mode = match rule {
            Temporal::Rm3 | Temporal::M3 => 0.0,
            Temporal::Ra3 => 1.0,
        };
        TemporalCombine {
            kernel: Kernel::new(
                gpu,
                checks,
                "temporal",
                SOURCE,
                &[ReadWrite, ReadWrite, Uniform, StepUniform],
                &[("MODE", mode)],
            ),
            rule,
        }
    }

    /// `g`: the flat gradient buffer (`count` floats), replaced by the update; `hist`: three
    /// times `count` floats of history; `step`: the per-step uniform buffer.
    pub fn bind<'a>(
        &self,
        gpu: &Gpu,
        g: impl Into<Slice<'a>>,
        hist: impl Into<Slice<'a>>,
        step: &wgpu::Buffer,
        count: u32,
    ) -> Dispatch {
        let every = if self.rule == crate::rule::Temporal::M3 {
            3
        } else {
            1
        };
        self.kernel.bind(
            gpu,
            &[g.into(), hist.into()],
            &TemporalParams {
                count,
                every,
                _pad: [0; 2],
            },
            Some(step),
            groups_1d(count as u64, 256),
        )
    }
}
