//! The coordinate-wise aggregation kernels for rules that look at every per-example gradient
//! (winsor, trim, median, the sign rules), in two paths that share one interface:
//!
//! - [`PartialSelect`] (shaders/select_partial.wgsl) streams over the examples once and keeps
//!   only the k+1 extremes per side: fast for small clip counts, cost growing with k.
//! - [`SortSelect`] (shaders/select_sort.wgsl) sorts each coordinate's B values (padded to a
//!   power of two) in workgroup memory with the bitonic network of [`crate::sortnet`]: any
//!   clip count, cost independent of k.
//!
//! [`Selection::new`] picks one from the rule and `--select`.

use std::cell::OnceCell;

use anyhow::{bail, Result};
use bytemuck::{Pod, Zeroable};

use super::context::Gpu;
use super::kernels::{Dispatch, Kernel, Kind, Slice, Work};
use crate::rule::{Finish, Rule, Select};
use crate::sortnet;

/// Largest clip count per side the partial path keeps (its private arrays hold k+1).
pub const PARTIAL_KMAX: usize = 127;

/// Largest padded minibatch the sort path handles (one coordinate per workgroup at most).
pub const SORT_PMAX: usize = 4096;

/// Stages in the sort kernel's uniform table: enough for SORT_PMAX (12 * 13 / 2 = 78).
const SORT_MAX_STAGES: usize = 80;

/// One of the two selection paths, ready to bind to a layer.
pub enum Selection {
    Partial(Box<PartialSelect>),
    Sort(SortSelect),
}

impl Selection {
    /// The kernel for `rule` over minibatches of `rows` examples; `select` picks the path
    /// for rules that select order statistics (the sign rules always stream).
    pub fn new(gpu: &Gpu, rule: &Rule, rows: usize, select: Select) -> Result<Selection> {
        let (k_lo, k_hi) = rule.clip_counts(rows);
        let path = if rule.selects() {
            select.resolve(k_lo, k_hi, gpu.info.device_type == wgpu::DeviceType::Cpu)
        } else {
            Select::Partial
        };
        match path {
            Select::Sort => Ok(Selection::Sort(SortSelect::new(gpu, rule, rows)?)),
            _ => Ok(Selection::Partial(Box::new(PartialSelect::new(
                gpu, rule, rows,
            )?))),
        }
    }

    pub fn path(&self) -> Select {
        match self {
            Selection::Partial(_) => Select::Partial,
            Selection::Sort(_) => Select::Sort,
        }
    }

    /// `d`: errors (rows x fan_out); `a`: inputs (rows x fan_in); `g`: the layer's gradient
    /// segment (weights, then biases); each holds `runs` runs (their `Slice::run` strides,
    /// multiples of 16 bytes). `sparse_inputs`: most inputs are zero (the first layer's
    /// pixels), so the partial path reads only the examples where they are not.
    /// `update`: None stores the update in `g`; Some(lr) means `g` holds the layer's
    /// parameters, and the SGD step w - lr * update is applied to them in place (the step's
    /// separate SGD dispatch is then not needed).
    #[allow(clippy::too_many_arguments)]
    pub fn bind(
        &self,
        gpu: &Gpu,
        d: Slice<'_>,
        a: Slice<'_>,
        g: Slice<'_>,
        fan_out: u32,
        fan_in: u32,
        sparse_inputs: bool,
        runs: u32,
        update: Option<f32>,
    ) -> Vec<Dispatch> {
        let mut out = match self {
            Selection::Partial(k) => {
                k.bind(gpu, d, a, g, fan_out, fan_in, sparse_inputs, runs, update)
            }
            Selection::Sort(k) => {
                vec![k.bind(gpu, d, a, g, fan_out, fan_in, update).across(runs)]
            }
        };
        // the last dispatch aggregates (a list of non-zero inputs may come first)
        let coords = fan_out as f64 * (fan_in as f64 + 1.0);
        if let Some(last) = out.pop() {
            out.push(last.with_work(Work::Coords(coords)));
        }
        out
    }
}

/// The factor the summed values are multiplied by.
fn scale(rule: &Rule, rows: usize, k_lo: usize, k_hi: usize) -> f32 {
    match *rule {
        Rule::SignSum(s) | Rule::SumSign(s) => s as f32,
        Rule::Trim(_) => 1.0 / (rows - k_lo - k_hi) as f32,
        _ => 1.0 / rows as f32,
    }
}

// ---------------------------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct PartialParams {
    rows: u32,
    fan_out: u32,
    fan_in: u32,
    /// Column kernel only: input groups.
    n_groups: u32,
    scale: f32,
    /// With an update: the learning rate.
    lr: f32,
    _pad1: [u32; 2],
}

/// The partial selection network, specialised for one pair of clip counts and one finish.
pub struct PartialSelect {
    /// The row kernel with or without vec4 loads of the inputs (index bit 0) and of the
    /// errors (bit 1), storing the update or applying it (bit 2), each compiled when first
    /// needed.
    rows_kernels: [OnceCell<Kernel>; 8],
    /// The same for the column kernel, and the kernel that lists its non-zero input groups.
    cols_kernels: [OnceCell<Kernel>; 8],
    groups_kernel: OnceCell<Kernel>,
    /// The column kernel's shape (its units are inputs).
    cols: PartialShape,
    shape: PartialShape,
    rows: usize,
    scale: f32,
}

/// What the generated partial-selection shader is specialised for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PartialShape {
    /// Kept smallest and largest values per coordinate (k_lo + 1, k_hi + 1).
    pub kl: usize,
    pub kh: usize,
    /// Output units per invocation, sharing each load of the inputs.
    pub units: usize,
    pub finish: Finish,
    pub map_sign: bool,
}

impl PartialShape {
    pub fn new(rule: &Rule, rows: usize) -> Result<Self> {
        let (k_lo, k_hi) = rule.clip_counts(rows);
        if k_lo.max(k_hi) > PARTIAL_KMAX {
            bail!(
                "--rule {rule} with --batch {rows} clips {} values per side, but the partial selection keeps at most {PARTIAL_KMAX}; use --select sort (or auto)",
                k_lo.max(k_hi)
            );
        }
        // Output units per invocation: sharing the loads of the inputs between R units pays
        // while the R sets of kept values fit in registers, and four units share each vec4
        // load of the errors. On lavapipe the best R keeps R * (KL + KH) within about 48
        // (winsor:1 and 2: R = 8, winsor:4: 4, winsor:8: 2; BENCHMARKS.md).
        // WINSOR_PARTIAL_R overrides it.
        let kept = if matches!(rule.finish(), Finish::SignOfSum) || k_lo + k_hi == 0 {
            1
        } else {
            k_lo + k_hi + 2
        };
        let units = match std::env::var("WINSOR_PARTIAL_R") {
            Ok(v) => v.parse::<usize>().unwrap_or(1),
            Err(_) => [8, 4, 2, 1]
                .into_iter()
                .find(|u| u * kept <= 48)
                .unwrap_or(1),
        };
        Ok(PartialShape {
            kl: k_lo + 1,
            kh: k_hi + 1,
            units: units.clamp(1, 16),
            finish: rule.finish(),
            map_sign: matches!(rule, Rule::SumSign(_)),
        })
    }

    /// Whether the finish reads the kept order statistics at all (the mean and the sign
    /// rules need only the sum).
    fn keeps(&self) -> bool {
        match self.finish {
            Finish::SignOfSum => false,
            Finish::Midpoint => true,
            _ => self.kl > 1 || self.kh > 1,
        }
    }

    /// The WGSL of shaders/select_partial.wgsl (or select_partial_cols.wgsl) with its marked
    /// places filled in: one named variable per kept value and the insertion written out, so
    /// that every kept value lives in a register.
    pub fn source(&self, orient: Orientation, vec_a: bool, vec_d: bool) -> String {
        use std::fmt::Write;
        let rows = orient == Orientation::Rows;
        assert!(
            !(rows && vec_d || !rows && vec_a) || self.units.is_multiple_of(4),
            "vec4 loads along the units per invocation need them in fours"
        );
        let (kl, kh) = if self.keeps() {
            (self.kl, self.kh)
        } else {
            (0, 0)
        };
        // offers v to unit r's kept values: a branch-free min/max bubble through each side
        let insert = |out: &mut String, r: usize| {
            for (name, n, keep, pass) in [("lo", kl, "min", "max"), ("hi", kh, "max", "min")] {
                if n == 0 {
                    continue;
                }
                out.push_str("        x = v;\n");
                for i in 0..n - 1 {
                    writeln!(
                        out,
                        "        y = {name}{r}_{i}; {name}{r}_{i} = {keep}(y, x); x = {pass}(y, x);"
                    )
                    .unwrap();
                }
                let i = n - 1;
                writeln!(out, "        {name}{r}_{i} = {keep}({name}{r}_{i}, x);").unwrap();
            }
        };
        // the loads of example number s (0 or 1) of an iteration
        let load = |out: &mut String, s: usize| {
            if rows {
                writeln!(out, "        let e{s} = e + {s}u;").unwrap();
                writeln!(out, "        let av{s} = load_a(e{s}, q, k0, is_bias);").unwrap();
                writeln!(out, "        let drow{s} = dr + e{s} * p.fan_out;").unwrap();
            } else {
                writeln!(out, "        let e{s} = list[first + t + {s}u];").unwrap();
                writeln!(out, "        let dv{s} = load_d(e{s}, j);").unwrap();
                writeln!(out, "        let arow{s} = ar + e{s} * p.fan_in;").unwrap();
                if vec_a {
                    for u in 0..self.units / 4 {
                        writeln!(
                            out,
                            "        let av{s}_{u} = a4[min((arow{s} + k0) / 4u + {u}u, (arow{s} + p.fan_in) / 4u - 1u)];"
                        )
                        .unwrap();
                    }
                }
            }
        };
        // unit r's value from example s, offered to its sum and kept values
        let unit = |out: &mut String, r: usize, s: usize| {
            if rows && vec_d {
                // one vec4 load of d serves four units
                if r.is_multiple_of(4) {
                    writeln!(
                        out,
                        "        dv{s} = d4[min((drow{s} + j0) / 4u + {}u, (drow{s} + p.fan_out) / 4u - 1u)];",
                        r / 4
                    )
                    .unwrap();
                }
                writeln!(out, "        v = dv{s}[{}] * av{s};", r % 4).unwrap();
            } else if rows {
                writeln!(
                    out,
                    "        v = d[drow{s} + min(j0 + {r}u, p.fan_out - 1u)] * av{s};"
                )
                .unwrap();
            } else {
                // input k0 + r: a[e, k], or 1 for the bias, or 0 past it
                let a = if vec_a {
                    format!("av{s}_{}[{}]", r / 4, r % 4)
                } else {
                    format!("a[arow{s} + min(k0 + {r}u, last_k)]")
                };
                writeln!(
                    out,
                    "        v = dv{s} * select(select(0.0, 1.0, k0 + {r}u == p.fan_in), {a}, k0 + {r}u < p.fan_in);"
                )
                .unwrap();
            }
            if self.map_sign {
                out.push_str("        v = sign(v);\n");
            }
            writeln!(out, "        t{r} += v;").unwrap();
            insert(out, r);
        };
        let mut state = String::new();
        let mut pair = String::new();
        let mut single = String::new();
        let mut zeros = String::new();
        let mut finish = String::new();
        load(&mut pair, 0);
        load(&mut pair, 1);
        load(&mut single, 0);
        for r in 0..self.units {
            writeln!(state, "    var t{r} = vec4<f32>(0.0);").unwrap();
            for i in 0..kl {
                writeln!(state, "    var lo{r}_{i} = vec4<f32>(inf);").unwrap();
            }
            for i in 0..kh {
                writeln!(state, "    var hi{r}_{i} = vec4<f32>(-inf);").unwrap();
            }
            unit(&mut pair, r, 0);
            unit(&mut pair, r, 1);
            unit(&mut single, r, 0);
            insert(&mut zeros, r);
            let kept = |name: &str, n: usize| {
                if n == 0 {
                    "vec4<f32>(0.0)".to_string()
                } else {
                    format!("{name}{r}_{}", n - 1)
                }
            };
            let sum = |name: &str, n: usize| {
                let mut s = "vec4<f32>(0.0)".to_string();
                for i in 0..n.saturating_sub(1) {
                    write!(s, " + {name}{r}_{i}").unwrap();
                }
                s
            };
            let (lov, hiv, s_lo, s_hi) =
                (kept("lo", kl), kept("hi", kh), sum("lo", kl), sum("hi", kh));
            if rows {
                writeln!(
                    finish,
                    "    finish(j0 + {r}u, k0, is_bias, t{r}, {lov}, {hiv}, {s_lo}, {s_hi});"
                )
                .unwrap();
            } else {
                writeln!(
                    finish,
                    "    finish(j, k0 + {r}u, t{r}, {lov}, {hiv}, {s_lo}, {s_hi});"
                )
                .unwrap();
            }
        }
        let consts = format!(
            "const KL: u32 = {}u;\nconst KH: u32 = {}u;\nconst R: u32 = {}u;\nconst FINISH: u32 = {}u;\nconst MAP_SIGN: u32 = {}u;\nconst VEC_A: u32 = {}u;\nconst VEC_D: u32 = {}u;\n",
            self.kl,
            self.kh,
            self.units,
            self.finish as u32,
            self.map_sign as u32,
            vec_a as u32,
            vec_d as u32
        );
        let base = match orient {
            Orientation::Rows => include_str!("../../shaders/select_partial.wgsl"),
            Orientation::Cols => include_str!("../../shaders/select_partial_cols.wgsl"),
        };
        // the generated lines are indented for the loop body; one more level inside it
        let deeper = |s: &str| {
            s.lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        consts
            + &(base.to_string() + include_str!("../../shaders/select_finish.wgsl"))
                .replace("/*STATE*/", state.trim_start())
                .replace("/*PAIR*/", deeper(&pair).trim_start())
                .replace("/*SINGLE*/", deeper(&single).trim_start())
                .replace("/*ZEROS*/", zeros.trim_start())
                .replace("/*FINISH*/", finish.trim_start())
    }
}

/// Which way a partial-selection invocation walks a layer's coordinates.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Orientation {
    /// shaders/select_partial.wgsl: R output units shared by the workgroup, four inputs per
    /// invocation; every example is read.
    Rows,
    /// shaders/select_partial_cols.wgsl: R inputs shared by the workgroup, four output units
    /// per invocation; only the examples in which one of the R inputs is non-zero are read.
    Cols,
}

impl PartialSelect {
    pub fn new(_gpu: &Gpu, rule: &Rule, rows: usize) -> Result<Self> {
        let (k_lo, k_hi) = rule.clip_counts(rows);
        let shape = PartialShape::new(rule, rows)?;
        // Inputs per invocation of the column kernel: fewer than the row kernel's units,
        // because a group of R inputs is skipped only where all R are zero (on MNIST 28% of
        // the (example, group) pairs are non-zero for R = 4, 39% for R = 8).
        // WINSOR_COLS_R overrides it.
        let kept = shape.units * (shape.kl + shape.kh);
        let cols_units = match std::env::var("WINSOR_COLS_R") {
            Ok(v) => v.parse::<usize>().unwrap_or(1).clamp(1, 16),
            Err(_) => [4, 2, 1]
                .into_iter()
                .find(|u| u * kept / shape.units <= 48)
                .unwrap_or(1),
        };
        Ok(PartialSelect {
            rows_kernels: Default::default(),
            cols_kernels: Default::default(),
            groups_kernel: OnceCell::new(),
            cols: PartialShape {
                units: cols_units,
                ..shape
            },
            shape,
            rows,
            scale: scale(rule, rows, k_lo, k_hi),
        })
    }

    /// The generated kernel of one orientation, with or without vec4 loads of a and d,
    /// storing the update or applying it (`update`), compiled when first asked for.
    fn kernel(
        &self,
        gpu: &Gpu,
        orient: Orientation,
        vec_a: bool,
        vec_d: bool,
        update: bool,
    ) -> &Kernel {
        use Kind::*;
        let (cache, shape, name, kinds): (_, _, _, &[Kind]) = match orient {
            Orientation::Rows => (
                &self.rows_kernels,
                &self.shape,
                "select_partial",
                &[Read, Read, ReadWrite, Uniform, Read, Read],
            ),
            // plus the list of non-zero input groups
            Orientation::Cols => (
                &self.cols_kernels,
                &self.cols,
                "select_partial_cols",
                &[Read, Read, ReadWrite, Uniform, Read, Read, Read],
            ),
        };
        let constants = [("UPDATE", update as u32 as f64)];
        cache[vec_a as usize + 2 * vec_d as usize + 4 * update as usize].get_or_init(|| {
            Kernel::new(
                gpu,
                name,
                &shape.source(orient, vec_a, vec_d),
                kinds,
                &constants,
            )
        })
    }

    /// The dispatches for one layer: the row kernel, or with `sparse_inputs` the list of
    /// non-zero input groups and the column kernel over it.
    #[allow(clippy::too_many_arguments)]
    fn bind(
        &self,
        gpu: &Gpu,
        d: Slice<'_>,
        a: Slice<'_>,
        g: Slice<'_>,
        fan_out: u32,
        fan_in: u32,
        sparse_inputs: bool,
        runs: u32,
        update: Option<f32>,
    ) -> Vec<Dispatch> {
        use Kind::*;
        let params = PartialParams {
            rows: self.rows as u32,
            fan_out,
            fan_in,
            n_groups: 0,
            scale: self.scale,
            lr: update.unwrap_or(0.0),
            _pad1: [0; 2],
        };
        // d, a, the gradient, and the vec4 views of a and d
        let shared = [d, a, g, a, d];
        if !sparse_inputs {
            let vec_a = fan_in.is_multiple_of(4);
            let vec_d = fan_out.is_multiple_of(4) && self.shape.units.is_multiple_of(4);
            // one invocation per four inputs, plus one for the bias
            let groups = [
                (fan_in.div_ceil(4) + 1).div_ceil(64),
                fan_out.div_ceil(self.shape.units as u32),
                1,
            ];
            let kernel = self.kernel(gpu, Orientation::Rows, vec_a, vec_d, update.is_some());
            return vec![kernel
                .bind(gpu, &shared, &params, None, groups)
                .across(runs)];
        }
        let r = self.cols.units as u32;
        // groups of r inputs covering 0..=fan_in (the last one holds the bias)
        let n_groups = (fan_in + 1).div_ceil(r);
        // one list per run
        let list_bytes =
            ((n_groups as u64 + n_groups as u64 * self.rows as u64) * 4).next_multiple_of(256);
        let list = gpu.storage("nonzero groups", list_bytes * runs as u64);
        let list = Slice::runs(&list, list_bytes);
        let groups_kernel = self.groups_kernel.get_or_init(|| {
            Kernel::new(
                gpu,
                "nonzero_groups",
                include_str!("../../shaders/nonzero_groups.wgsl"),
                &[Read, ReadWrite, Uniform],
                &[],
            )
        });
        let listing = groups_kernel
            .bind(
                gpu,
                &[a, list],
                &[self.rows as u32, fan_in, r, n_groups],
                None,
                [n_groups.div_ceil(64), 1, 1],
            )
            .across(runs);
        let vec_a = fan_in.is_multiple_of(4) && r.is_multiple_of(4);
        let vec_d = fan_out.is_multiple_of(4);
        let kernel = self.kernel(gpu, Orientation::Cols, vec_a, vec_d, update.is_some());
        let mut slices = shared.to_vec();
        slices.push(list);
        let select = kernel
            .bind(
                gpu,
                &slices,
                &PartialParams { n_groups, ..params },
                None,
                [fan_out.div_ceil(4).div_ceil(64), n_groups, 1],
            )
            .across(runs);
        vec![listing, select]
    }
}

// ---------------------------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SortParams {
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

/// The sorting-network path: P = B padded to a power of two, T coordinates per workgroup.
pub struct SortSelect {
    /// Storing the update (0) or applying it to the parameters (1), compiled when first needed.
    kernels: [OnceCell<Kernel>; 2],
    source: String,
    rows: usize,
    k_lo: usize,
    k_hi: usize,
    scale: f32,
    /// Coordinates per workgroup.
    per_group: u32,
    stages: Vec<sortnet::Stage>,
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
    pub fn new(gpu: &Gpu, rule: &Rule, rows: usize) -> Result<Self> {
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
        let consts = format!(
            "const P: u32 = {p}u;\nconst T: u32 = {per_group}u;\nconst FINISH: u32 = {}u;\n",
            finish as u32
        );
        let source = consts + include_str!("../../shaders/select_sort.wgsl");
        Ok(SortSelect {
            kernels: Default::default(),
            source,
            rows,
            k_lo,
            k_hi,
            scale: scale(rule, rows, k_lo, k_hi),
            per_group: per_group as u32,
            stages: sortnet::bitonic(p as u32),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn bind(
        &self,
        gpu: &Gpu,
        d: Slice<'_>,
        a: Slice<'_>,
        g: Slice<'_>,
        fan_out: u32,
        fan_in: u32,
        update: Option<f32>,
    ) -> Dispatch {
        use Kind::*;
        let kernel = self.kernels[update.is_some() as usize].get_or_init(|| {
            Kernel::new(
                gpu,
                "select_sort",
                &self.source,
                &[Read, Read, ReadWrite, Uniform],
                &[("UPDATE", update.is_some() as u32 as f64)],
            )
        });
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
