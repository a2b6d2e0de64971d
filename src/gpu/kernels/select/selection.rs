//! The coordinate-wise aggregation kernels for rules that look at every per-example gradient
//! (winsor, trim, median, the sign rules), in two paths that share one interface:
//!
//! - [`PartialSelect`] (shaders/select/select_partial.wgsl) streams over the examples once and keeps
//!   only the k+1 extremes per side: fast for small clip counts, cost growing with k.
//! - [`SortSelect`] (shaders/select/select_sort.wgsl) sorts each coordinate's B values (padded to a
//!   power of two) in workgroup memory with the bitonic network of [`crate::sortnet`]: any
//!   clip count, cost independent of k.
//!
//! [`Selection::new`] picks one from the rule, `--select` and the kernel plan. Both paths
//! compute `reference::select` (tests/kernels/select.rs: `winsor_random_awkward_sizes` and the
//! other selection tests run every rule on both).

use anyhow::Result;

use crate::gpu::context::Gpu;
use crate::gpu::kernels::dispatch::{Dispatch, Work};
use crate::gpu::plan::KernelPlan;
use crate::rule::{Rule, Select};

use super::layer::LayerOperands;
use super::select_partial::PartialSelect;
use super::select_sort::SortSelect;

/// One of the two selection paths, ready to bind to a layer.
pub enum Selection {
    Partial(Box<PartialSelect>),
    Sort(Box<SortSelect>),
}

impl Selection {
    /// The kernel for `rule` over minibatches of `rows` examples; `select` and the plan pick
    /// the path for rules that select order statistics (the sign rules always stream).
    pub fn new(
        gpu: &Gpu,
        plan: &KernelPlan,
        rule: &Rule,
        rows: usize,
        select: Select,
    ) -> Result<Selection> {
        let (k_lo, k_hi) = rule.clip_counts(rows);
        let path = if rule.selects() {
            plan.select_path(select, k_lo, k_hi)
        } else {
            Select::Partial
        };
        match path {
            Select::Sort => Ok(Selection::Sort(Box::new(SortSelect::new(
                gpu,
                plan.shader_checks,
                rule,
                rows,
            )?))),
            _ => Ok(Selection::Partial(Box::new(PartialSelect::new(
                plan, rule, rows,
            )?))),
        }
    }

    pub fn path(&self) -> Select {
        match self {
            Selection::Partial(_) => Select::Partial,
            Selection::Sort(_) => Select::Sort,
        }
    }

    /// The dispatches that aggregate (and with `op.update` apply) one layer's gradient.
    pub fn bind(&self, gpu: &Gpu, op: LayerOperands<'_>) -> Vec<Dispatch> {
        let mut out = match self {
            Selection::Partial(k) => k.bind(gpu, op),
            Selection::Sort(k) => vec![k.bind(gpu, op).across(op.runs)],
        };
        // the last dispatch aggregates (a list of non-zero inputs may come first)
        let coords = op.fan_out as f64 * (op.fan_in as f64 + 1.0);
        if let Some(last) = out.pop() {
            out.push(last.with_work(Work::Coords(coords)));
        }
        out
    }
}
