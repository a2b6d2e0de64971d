//! Kernels `select_partial` (rows: shaders/select/select_partial.wgsl), `select_partial_cols`
//! (columns over non-zero inputs: select_partial_cols.wgsl) and `nonzero_groups`
//! (nonzero_groups.wgsl), all ending in select_finish.wgsl; CPU twin `reference::select`;
//! tests `winsor_random_awkward_sizes`, `sparse_inputs_like_mnist` and the other selection
//! tests in tests/kernels/select.rs.

use std::cell::OnceCell;

use anyhow::{bail, Result};

use super::layer::LayerOperands;
use super::scale::scale;
use super::select_network::chunk_size;
use super::select_partial_source::{Orientation, PartialShape};
use crate::gpu::context::Gpu;
use crate::gpu::kernels::dispatch::Dispatch;
use crate::gpu::kernels::pipeline::{Kernel, Kind, ShaderVariant};
use crate::gpu::kernels::slice::Slice;
use crate::gpu::plan::{KernelPlan, Units, PARTIAL_KMAX};
use crate::gpu::plan::{Operands, ShaderChecks};
use crate::rule::{Finish, Rule};

uniform_struct! {
    /// The shaders' `Params`.
    pub struct PartialParams {
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
}

uniform_struct! {
    /// nonzero_groups.wgsl's `Params`.
    pub struct GroupsParams {
        rows: u32,
        fan_in: u32,
        group: u32,
        n_groups: u32,
    }
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
    checks: ShaderChecks,
}

/// How the partial path sizes, compiles and binds a shape (the generated text is
/// select_partial_source.rs's).
impl PartialShape {
    pub fn new(rule: &Rule, rows: usize, units: Units) -> Result<Self> {
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
        // (winsor:1 and 2: R = 8, winsor:4: 4, winsor:8: 2; docs/benchmarks-history.md): the plan's
        // register budget.
        let kept = if matches!(rule.finish(), Finish::SignOfSum) || k_lo + k_hi == 0 {
            1
        } else {
            k_lo + k_hi + 2
        };
        let units = units.resolve(kept, &[8, 4, 2, 1]);
        Ok(PartialShape {
            kl: k_lo + 1,
            kh: k_hi + 1,
            units: units.clamp(1, 16),
            finish: rule.finish(),
            map_sign: matches!(rule, Rule::SumSign(_)),
            early_reject: false,
            operands: Operands::Buffers,
            chunk: None,
        })
    }

    /// The pipeline constants: whether the update is applied in place, and the finish.
    pub fn constants(&self, update: bool) -> [(&'static str, f64); 2] {
        [
            ("UPDATE", update as u32 as f64),
            ("FINISH", self.finish as u32 as f64),
        ]
    }

    /// The variant's shader, as [`PartialSelect`] compiles it.
    pub fn variant(
        &self,
        orient: Orientation,
        vec_a: bool,
        vec_d: bool,
        update: bool,
    ) -> ShaderVariant {
        ShaderVariant::new::<PartialParams>(
            format!(
                "{} KL {} KH {} R {} {:?} sign {} early reject {} operands {:?} chunk {:?} vec_a {vec_a} vec_d {vec_d} update {update}",
                orient.kernel_name(),
                self.kl,
                self.kh,
                self.units,
                self.finish,
                self.map_sign,
                self.early_reject,
                self.operands,
                self.chunk
            ),
            self.source(orient, vec_a, vec_d),
            &self.constants(update),
        )
    }

    /// The chunk size the plan's chunk merges give this shape for a minibatch of `rows`, and
    /// the unit count they want where `units` left it to the register budget
    /// ([`units_under_chunks`]).
    pub fn chunked(self, on: bool, rows: usize, units: Units) -> Self {
        let (kl, kh) = self.kept();
        let chunk = if on { chunk_size(kl, kh, rows) } else { None };
        PartialShape {
            chunk,
            units: units_under_chunks(self.units, units, chunk.is_some()),
            ..self
        }
    }
}

/// The vec4 modes a shape can be compiled with in one orientation: (vec_a, vec_d).
fn vec_modes(orient: Orientation, units: usize) -> Vec<(bool, bool)> {
    let by_units = units.is_multiple_of(4);
    let (a, d) = match orient {
        Orientation::Rows => (
            vec![false, true],
            if by_units {
                vec![false, true]
            } else {
                vec![false]
            },
        ),
        Orientation::Cols => (
            if by_units {
                vec![false, true]
            } else {
                vec![false]
            },
            vec![false, true],
        ),
    };
    a.iter()
        .flat_map(|&va| d.iter().map(move |&vd| (va, vd)))
        .collect()
}

/// Every partial-selection shader the kernel plans can emit, for tests/shaders.rs: every
/// rule's finish and sign mapping, clip counts from none to [`PARTIAL_KMAX`], the unit
/// counts the presets' register budget picks and the fixed ones `--partial-units` and
/// `--cols-units` allow that matter (1, 4, 16), both orientations, every vec4 mode, storing
/// or applying the update.
pub fn variants() -> Vec<ShaderVariant> {
    let rules: Vec<(Rule, usize)> = [
        ("mean", 100),
        ("winsor:1", 100),
        ("winsor:4", 100),
        ("winsor:8", 100),
        ("winsor:25", 100),
        ("trim:4", 100),
        ("median", 100),
        ("median", 255),
        ("sign-sum", 100),
        ("sum-sign", 100),
    ]
    .iter()
    .map(|(r, b)| (r.parse().expect("a known rule"), *b))
    .collect();
    let mut out = Vec::new();
    for (rule, rows) in &rules {
        let (k_lo, k_hi) = rule.clip_counts(*rows);
        let small = k_lo.max(k_hi) <= 8;
        for orient in [Orientation::Rows, Orientation::Cols] {
            let choices: &[usize] = match orient {
                Orientation::Rows => &[8, 4, 2, 1],
                Orientation::Cols => &[4, 2, 1],
            };
            let mut unit_counts = vec![Units::Budget(48).resolve(k_lo + k_hi + 2, choices)];
            // the fixed counts; 16 registers sets of a large clip count are not in use
            unit_counts.extend(if small { &[1, 4, 16][..] } else { &[1, 4][..] });
            unit_counts.sort_unstable();
            unit_counts.dedup();
            for units in unit_counts {
                let shape = PartialShape {
                    units,
                    ..PartialShape::new(rule, *rows, Units::Fixed(units))
                        .expect("within PARTIAL_KMAX")
                };
                // early rejection: the gpu plan's, whose inputs are dense (row kernel only)
                let rejects: &[bool] = match orient {
                    Orientation::Rows => &[false, true],
                    Orientation::Cols => &[false],
                };
                for &early_reject in rejects {
                    for operands in [Operands::Buffers, Operands::Textures] {
                        for chunks in [false, true] {
                            let shape = PartialShape {
                                early_reject,
                                operands,
                                ..shape
                            }
                            .chunked(
                                chunks,
                                *rows,
                                Units::Fixed(units),
                            );
                            if chunks && shape.chunk.is_none() {
                                continue;
                            }
                            for (vec_a, vec_d) in vec_modes(orient, units) {
                                for update in [false, true] {
                                    out.push(shape.variant(orient, vec_a, vec_d, update));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out.push(ShaderVariant::new::<GroupsParams>(
        "nonzero_groups".into(),
        include_str!("../../../../shaders/select/nonzero_groups.wgsl").into(),
        &[],
    ));
    out
}

/// The units per invocation under chunk merges: at least four where the plan left the count
/// to its register budget. Chunk merges hold a chunk of values per unit besides the kept
/// ones, all in stack slots past a handful of units anyway; what counts then is that four
/// units (or inputs) share each vec4 load: winsor:8 (the budget's 2) went from 8.8 to 6.4 ms
/// per row dispatch with 4 on lavapipe (docs/benchmarks-history.md). A fixed count is kept as given.
fn units_under_chunks(resolved: usize, chosen: Units, chunked: bool) -> usize {
    match chosen {
        Units::Budget(_) if chunked => resolved.max(4),
        _ => resolved,
    }
}

impl PartialSelect {
    pub fn new(plan: &KernelPlan, rule: &Rule, rows: usize) -> Result<Self> {
        let (k_lo, k_hi) = rule.clip_counts(rows);
        let shape = PartialShape {
            early_reject: plan.partial_early_reject,
            operands: plan.operands,
            ..PartialShape::new(rule, rows, plan.partial_units)?
        }
        .chunked(plan.partial_chunk_merge, rows, plan.partial_units);
        // Inputs per invocation of the column kernel: fewer than the row kernel's units,
        // because a group of R inputs is skipped only where all R are zero (on MNIST 28% of
        // the (example, group) pairs are non-zero for R = 4, 39% for R = 8).
        let cols_units = plan
            .cols_units
            .resolve(shape.kl + shape.kh, &[4, 2, 1])
            .clamp(1, 16);
        let cols_units = units_under_chunks(cols_units, plan.cols_units, shape.chunk.is_some());
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
            checks: plan.shader_checks,
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
        let (cache, shape, name) = match orient {
            Orientation::Rows => (&self.rows_kernels, &self.shape, "select_partial"),
            Orientation::Cols => (&self.cols_kernels, &self.cols, "select_partial_cols"),
        };
        // the vec4 views of a and d: texture mirrors where the plan says so and they are read
        let view = |used: bool| {
            if used {
                Kind::operand(shape.operands)
            } else {
                Read
            }
        };
        let mut kinds = vec![Read, Read, ReadWrite, Uniform, view(vec_a), view(vec_d)];
        if orient == Orientation::Cols {
            // the list of non-zero input groups
            kinds.push(Read);
        }
        let constants = shape.constants(update);
        cache[vec_a as usize + 2 * vec_d as usize + 4 * update as usize].get_or_init(|| {
            Kernel::new(
                gpu,
                self.checks,
                name,
                &shape.source(orient, vec_a, vec_d),
                &kinds,
                &constants,
            )
        })
    }

    /// The dispatches for one layer: the row kernel, or with `sparse_inputs` the list of
    /// non-zero input groups and the column kernel over it.
    pub(super) fn bind(&self, gpu: &Gpu, op: LayerOperands<'_>) -> Vec<Dispatch> {
        use Kind::*;
        let LayerOperands {
            d,
            a,
            g,
            fan_out,
            fan_in,
            sparse_inputs,
            runs,
            update,
        } = op;
        let params = PartialParams {
            rows: self.rows as u32,
            fan_out,
            fan_in,
            n_groups: 0,
            scale: self.scale,
            lr: update.unwrap_or(0.0),
            _pad1: [0; 2],
        };
        // d, a, the gradient, and the vec4 views of a and d (cut to the minibatch's rows,
        // which is what a texture mirror copies)
        let rows = self.rows as u64;
        let shared = [
            d,
            a,
            g,
            a.reading(rows * fan_in as u64, runs),
            d.reading(rows * fan_out as u64, runs),
        ];
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
                self.checks,
                "nonzero_groups",
                include_str!("../../../../shaders/select/nonzero_groups.wgsl"),
                &[Read, ReadWrite, Uniform],
                &[],
            )
        });
        let listing = groups_kernel
            .bind(
                gpu,
                &[a, list],
                &GroupsParams {
                    rows: self.rows as u32,
                    fan_in,
                    group: r,
                    n_groups,
                },
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
