//! Kernel `select_sort`: shaders/select/select_sort.wgsl with the network of `crate::sortnet`; CPU
//! twin `reference::select`; tests `sort_path_large_minibatches_and_every_clip_count` and the
//! selection tests in tests/kernels/select.rs (each runs both paths).

use std::cell::OnceCell;

use anyhow::{bail, Result};

use super::layer::LayerOperands;
use super::scale::scale;
use crate::gpu::context::Gpu;
use crate::gpu::kernels::dispatch::Dispatch;
use crate::gpu::kernels::pipeline::{Kernel, Kind, ShaderVariant};
use crate::gpu::plan::ShaderChecks;
use crate::rule::{Finish, Rule};
use crate::sortnet;

/// Largest padded minibatch the sort path handles (one coordinate per workgroup at most).
pub const SORT_PMAX: usize = 4096;

/// Stages in the sort kernel's uniform table: enough for SORT_PMAX (12 * 13 / 2 = 78).
const SORT_MAX_STAGES: usize = 80;

uniform_struct! {
    /// The shader's `Params`.
    pub struct SortParams {
        rows: u32,
        fan_out: u32,
        fan_in: u32,
        n_stages: u32,
        k_lo: u32,
        k_hi: u32,
        scale: f32,
        /// With an update: the learning rate.
        lr: f32,
        /// (block, dist, log2(dist), 0) per stage of the network.
        stages: [[u32; 4]; SORT_MAX_STAGES],
    }
}

/// The shader for padded size `p` and `per_group` coordinates per workgroup (the two
/// constants that size its workgroup tile, so text rather than pipeline constants).
fn source(p: usize, per_group: usize) -> String {
    format!(
        "const P: u32 = {p}u;\nconst T: u32 = {per_group}u;\n{}",
        include_str!("../../../../shaders/select/select_sort.wgsl")
    )
}

fn constants(finish: Finish, update: bool) -> [(&'static str, f64); 2] {
    [
        ("UPDATE", update as u32 as f64),
        ("FINISH", finish as u32 as f64),
    ]
}

/// Every sort-path shader, for tests/shaders.rs: each padded size up to [`SORT_PMAX`] with
/// the tile it gets under 16 KiB (wgpu's default) and 32 KiB of workgroup memory, each finish
/// the sort path computes, storing or applying the update.
pub fn variants() -> Vec<ShaderVariant> {
    let mut out = Vec::new();
    for p in (1..=SORT_PMAX.trailing_zeros()).map(|e| 1usize << e) {
        let mut tiles: Vec<usize> = [16384, 32768]
            .iter()
            .filter_map(|&limit| sort_tile(p, limit).ok())
            .collect();
        tiles.dedup();
        for t in tiles {
            for finish in [Finish::ClippedMean, Finish::TrimmedMean, Finish::Midpoint] {
                for update in [false, true] {
                    out.push(ShaderVariant::new::<SortParams>(
                        format!("select_sort P {p} T {t} {finish:?} update {update}"),
                        source(p, t),
                        &constants(finish, update),
                    ));
                }
            }
        }
    }
    out
}

/// The sorting-network path: P = B padded to a power of two, T coordinates per workgroup.
pub struct SortSelect {
    /// Storing the update (0) or applying it to the parameters (1), compiled when first needed.
    kernels: [OnceCell<Kernel>; 2],
    source: String,
    finish: Finish,
    rows: usize,
    k_lo: usize,
    k_hi: usize,
    scale: f32,
    /// Coordinates per workgroup.
    per_group: u32,
    stages: Vec<sortnet::Stage>,
    checks: ShaderChecks,
}

/// Floats of workgroup memory the sort kernel aims to fill (more coordinates per workgroup
/// would not help: 256 invocations already have 8 compare-exchanges each per stage).
const SORT_TILE: usize = 4096;

/// Coordinates per workgroup for padded size `p` within `limit` bytes of workgroup memory
/// (the tile of values plus two bounds per coordinate), or Err(bytes needed) if not even one
/// coordinate fits. wgpu 30 does not check workgroup memory against the device, so this does.
pub fn sort_tile(p: usize, limit: usize) -> Result<usize, usize> {
    let bytes = |t: usize| (p * t + 2 * t) * 4;
    let mut per_group = (SORT_TILE / p).max(1);
    while per_group > 1 && bytes(per_group) > limit {
        per_group /= 2;
    }
    if bytes(per_group) > limit {
        return Err(bytes(per_group));
    }
    Ok(per_group)
}

impl SortSelect {
    pub fn new(gpu: &Gpu, checks: ShaderChecks, rule: &Rule, rows: usize) -> Result<Self> {
        let (k_lo, k_hi) = rule.clip_counts(rows);
        let finish = rule.finish();
        if !(rule.selects() || *rule == Rule::Mean) {
            bail!("--rule {rule} does not select order statistics; the sort path does not apply");
        }
        let p = rows.next_power_of_two().max(2);
        if p > SORT_PMAX {
            bail!(
                "--batch {rows} is too large for the sort path (at most {SORT_PMAX} examples); use --select partial"
            );
        }
        let per_group = sort_tile(p, gpu.limits.max_compute_workgroup_storage_size as usize)
            .map_err(|need| {
                anyhow::anyhow!(
                    "the sort path for --batch {rows} needs {need} bytes of workgroup memory, but adapter {} offers {}; use --select partial or a smaller --batch",
                    gpu.info.name,
                    gpu.limits.max_compute_workgroup_storage_size
                )
            })?;
        Ok(SortSelect {
            kernels: Default::default(),
            source: source(p, per_group),
            finish,
            rows,
            k_lo,
            k_hi,
            scale: scale(rule, rows, k_lo, k_hi),
            per_group: per_group as u32,
            stages: sortnet::bitonic(p as u32),
            checks,
        })
    }

    /// One run's dispatch (the caller spreads it over `op.runs`); the sort path reads every
    /// example, so `op.sparse_inputs` does not change it.
    pub(super) fn bind(&self, gpu: &Gpu, op: LayerOperands<'_>) -> Dispatch {
        use Kind::*;
        let LayerOperands {
            d,
            a,
            g,
            fan_out,
            fan_in,
            update,
            ..
        } = op;
        let kernel = self.kernels[update.is_some() as usize].get_or_init(|| {
            Kernel::new(
                gpu,
                self.checks,
                "select_sort",
                &self.source,
                &[Read, Read, ReadWrite, Uniform],
                &constants(self.finish, update.is_some()),
            )
        });
        // SORT_PMAX bounds the stages (78 at 4096); the uniform holds SORT_MAX_STAGES, and
        // the shader loops over n_stages of them
        assert!(
            self.stages.len() <= SORT_MAX_STAGES,
            "{} sort stages do not fit the uniform's {SORT_MAX_STAGES}",
            self.stages.len()
        );
        let mut stages = [[0u32; 4]; SORT_MAX_STAGES];
        for (slot, s) in stages.iter_mut().zip(&self.stages) {
            *slot = [s.block, s.dist, s.dist.trailing_zeros(), 0];
        }
        kernel.bind(
            gpu,
            &[d, a, g],
            &SortParams {
                rows: self.rows as u32,
                fan_out,
                fan_in,
                n_stages: self.stages.len() as u32,
                k_lo: self.k_lo as u32,
                k_hi: self.k_hi as u32,
                scale: self.scale,
                lr: update.unwrap_or(0.0),
                stages,
            },
            None,
            // T coordinates per workgroup, the bias being coordinate fan_in
            [(fan_in + 1).div_ceil(self.per_group), fan_out, 1],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_tile_respects_the_workgroup_memory_limit() {
        // 16 KiB, the WebGPU default: 4096 floats of values, less the bounds
        assert_eq!(sort_tile(128, 16384), Ok(16));
        assert_eq!(sort_tile(128, 1 << 20), Ok(32));
        assert_eq!(sort_tile(4096, 32768), Ok(1));
        // one coordinate of 4096 values needs 16392 bytes: a 16 KiB device cannot sort it
        assert_eq!(sort_tile(4096, 16384), Err(16392));
    }
}
