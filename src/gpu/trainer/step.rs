//! The training step: per row chunk, the forward chain, then layer by layer from the top
//! the backprop and each rule group's aggregation; then the batch statistics, the temporal
//! rules' combination, and SGD where the aggregation did not apply it.

use anyhow::Result;

use super::buffers::Stacked;
use super::capacity::{self, Capacity};
use super::layers::{Ops, Scores};
use super::spec::TrainerSpec;
use crate::gpu::context::Gpu;
use crate::gpu::kernels::select::layer::LayerOperands;
use crate::gpu::kernels::select::selection::Selection;
use crate::gpu::kernels::{Dispatch, GatherFrom, Kernels, Slice, TemporalCombine};
use crate::rule::{Rule, Select};

/// Runs that share a rule, and so the aggregation kernels: runs `first..first + count`.
pub(super) struct RuleGroup {
    pub first: usize,
    pub count: usize,
    pub rule: Rule,
}

/// Splits runs into groups of consecutive runs with the same rule.
pub(super) fn rule_groups(rules: &[Rule]) -> Vec<RuleGroup> {
    let mut groups: Vec<RuleGroup> = Vec::new();
    for (i, &rule) in rules.iter().enumerate() {
        match groups.last_mut() {
            Some(g) if g.rule == rule => g.count += 1,
            _ => groups.push(RuleGroup {
                first: i,
                count: 1,
                rule,
            }),
        }
    }
    groups
}

/// How one group of runs aggregates its per-example gradients.
pub(super) struct Aggregation {
    pub group: RuleGroup,
    /// The selection kernel of a per-example rule, or (plan: mean through selection) the
    /// streaming sum of the mean and temporal rules; None: the matrix product d^T a.
    selection: Option<Selection>,
    /// The selection kernel applies the SGD step in place (plan: fused SGD).
    fused: bool,
    /// A temporal rule's combination and its history of the last three mean gradients.
    pub temporal: Option<(TemporalCombine, Stacked)>,
}

impl Aggregation {
    /// One per group of consecutive runs with the same rule. A selection kernel's error
    /// names the fix (another --select, a smaller --batch).
    pub fn for_runs(
        gpu: &Gpu,
        kernels: &Kernels,
        rules: &[Rule],
        spec: &TrainerSpec,
        cap: &Capacity,
        params_total: usize,
    ) -> Result<Vec<Aggregation>> {
        let plan = &kernels.plan;
        rule_groups(rules)
            .into_iter()
            .map(|group| {
                let rule = group.rule;
                let selection = if rule.per_example() {
                    Some(Selection::new(gpu, plan, &rule, spec.batch, spec.select)?)
                } else if cap.n_chunks == 1 && plan.mean_through_select {
                    Some(Selection::new(
                        gpu,
                        plan,
                        &Rule::Mean,
                        spec.batch,
                        Select::Partial,
                    )?)
                } else {
                    None
                };
                // The temporal rules keep the SGD dispatch: their combination needs this
                // step's mean gradient stored. The streamed mean fuses too since its operands
                // come through textures (docs/benchmarks-history.md: 16.3-17.7 -> 12.9-14.3 ms of kernels
                // per step on lavapipe; with storage operands fusing had been slower).
                let temporal = matches!(rule, Rule::Temporal(_));
                let fused = plan.fused_sgd && !temporal && selection.is_some();
                let temporal = match rule {
                    Rule::Temporal(t) => {
                        // one history buffer per group, holding that group's runs
                        let bytes = 3 * params_total * 4;
                        let what = "the temporal rules' gradient history";
                        gpu.check_binding(what, (bytes * group.count) as u64, capacity::ARCH)?;
                        let hist = Stacked::new(gpu, "gradient history", bytes, group.count);
                        Some((TemporalCombine::new(gpu, plan.shader_checks, t), hist))
                    }
                    _ => None,
                };
                Ok(Aggregation {
                    group,
                    selection,
                    fused,
                    temporal,
                })
            })
            .collect()
    }

    /// The group's aggregation of layer l over chunk `c` of `r` rows: the selection kernel
    /// (storing the update, or applying it with `lr`), or (1/B) d^T a added chunk by chunk.
    fn layer(
        &self,
        ops: &Ops<'_>,
        l: usize,
        r: usize,
        c: usize,
        spec: &TrainerSpec,
    ) -> Vec<Dispatch> {
        let (g, buf, layout) = (&self.group, ops.buf, ops.layout);
        let (d, a) = (buf.deltas[l].from(g.first), buf.input(l).from(g.first));
        let grads = buf.grads.segment(layout, l, g.first);
        let Some(sel) = &self.selection else {
            let scale = 1.0 / spec.batch as f32;
            return ops
                .grad_sum(l, r, d, a, grads, scale, c > 0, g.count)
                .into();
        };
        let (seg, update) = if self.fused {
            (buf.params.segment(layout, l, g.first), Some(spec.lr))
        } else {
            (grads, None)
        };
        let (fi, fo) = layout.fans(l);
        let sparse = l == 0 && ops.kernels.plan.sparse_inputs;
        sel.bind(
            ops.gpu,
            LayerOperands {
                d,
                a,
                g: seg,
                fan_out: fo as u32,
                fan_in: fi as u32,
                sparse_inputs: sparse,
                runs: g.count as u32,
                update,
            },
        )
    }
}

/// One training step as a list of dispatches, recorded once per step of a submission.
pub(super) fn build(
    ops: &Ops<'_>,
    aggs: &[Aggregation],
    cap: &Capacity,
    spec: &TrainerSpec,
) -> Vec<Dispatch> {
    let (buf, n_layers, b) = (ops.buf, ops.layers(), spec.batch);
    let mut step = Vec::new();
    for c in 0..cap.n_chunks {
        let base = c * cap.chunk;
        let r = cap.chunk.min(b - base);
        let minibatch = GatherFrom::Indices {
            indices: Slice::runs(&buf.indices, (b * 4) as u64),
            step: &buf.steps,
            base: base as u32,
        };
        let scores = Scores {
            d: Some(buf.deltas[n_layers - 1].all()),
            loss: buf.loss_rows.all(),
            correct: buf.correct_rows.all(),
        };
        ops.forward_rows(minibatch, &buf.train, r, base, scores, &mut step);
        for l in (0..n_layers).rev() {
            // backprop first: a fused aggregation then updates W_l, which backprop reads
            if l > 0 {
                step.push(ops.backprop(l, r, &buf.deltas[l], &buf.deltas[l - 1]));
            }
            for agg in aggs {
                step.extend(agg.layer(ops, l, r, c, spec));
            }
        }
    }
    step.push(batch_stats(ops, b));
    for agg in aggs {
        if let Some((combine, hist)) = &agg.temporal {
            let g = &agg.group;
            let count = ops.layout.total as u32;
            let d = combine.bind(
                ops.gpu,
                buf.grads.from(g.first),
                hist.all(),
                &buf.steps,
                count,
            );
            step.push(d.across(g.count as u32));
        }
    }
    step.extend(sgd(ops, aggs, spec.lr));
    step
}

/// The step's mean loss and correct count into its stats slot, for every run.
fn batch_stats(ops: &Ops<'_>, b: usize) -> Dispatch {
    let buf = ops.buf;
    ops.kernels
        .batch_stats
        .bind(
            ops.gpu,
            buf.loss_rows.all(),
            buf.correct_rows.all(),
            &buf.stats,
            &buf.steps,
            b as u32,
        )
        .across(ops.runs)
}

/// SGD for the groups that did not apply it in their aggregation: one dispatch for all runs
/// when none did.
fn sgd(ops: &Ops<'_>, aggs: &[Aggregation], lr: f32) -> Vec<Dispatch> {
    let buf = ops.buf;
    let sgd = |first: usize, count: usize| {
        let total = ops.layout.total as u32;
        ops.kernels
            .sgd
            .bind(
                ops.gpu,
                buf.params.from(first),
                buf.grads.from(first),
                total,
                lr,
            )
            .across(count as u32)
    };
    if !aggs.iter().any(|a| a.fused) {
        return vec![sgd(0, ops.runs as usize)];
    }
    aggs.iter()
        .filter(|a| !a.fused)
        .map(|a| sgd(a.group.first, a.group.count))
        .collect()
}
