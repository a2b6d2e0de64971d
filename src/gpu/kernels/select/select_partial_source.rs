//! What a partial-selection shader is specialised for ([`PartialShape`], [`Orientation`]),
//! and the text generator behind [`PartialShape::source`]: the partial selection keeps each
//! coordinate's k+1 extremes in named registers, and WGSL can index a register set only
//! through memory, so the per-register code is written out here for the shape's KL, KH and R.
//! Everything that does not shape code is a constant or a pipeline constant instead.

use std::fmt::Write;

use super::select_network::{ChunkMerge, Val};
use crate::gpu::plan::Operands;
use crate::rule::Finish;

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
    /// Skip the insertion of a value that cannot enter the kept set (the plan's
    /// `partial_early_reject`).
    pub early_reject: bool,
    /// Where the vec4 views of a and d are read from (the plan's `operands`).
    pub operands: Operands,
    /// Examples per chunk merged at once into the kept values (the plan's
    /// `partial_chunk_merge`, sized by [`chunk_size`](super::select_network::chunk_size)); None: each value is inserted.
    pub chunk: Option<usize>,
}

impl PartialShape {
    /// Whether the finish reads the kept order statistics at all (the mean and the sign
    /// rules need only the sum).
    fn keeps(&self) -> bool {
        match self.finish {
            Finish::SignOfSum => false,
            Finish::Midpoint => true,
            _ => self.kl > 1 || self.kh > 1,
        }
    }

    /// The WGSL of shaders/select/select_partial.wgsl (or select_partial_cols.wgsl) with its marked
    /// places filled in: one named variable per kept value and the insertion written out, so
    /// that every kept value lives in a register (below).
    pub fn source(&self, orient: Orientation, vec_a: bool, vec_d: bool) -> String {
        source(self, orient, vec_a, vec_d)
    }

    /// The kept values per side the generated code holds: none where the finish needs only
    /// the sum.
    pub(super) fn kept(&self) -> (usize, usize) {
        if self.keeps() {
            (self.kl, self.kh)
        } else {
            (0, 0)
        }
    }
}

/// Which way a partial-selection invocation walks a layer's coordinates.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Orientation {
    /// shaders/select/select_partial.wgsl: R output units shared by the workgroup, four inputs per
    /// invocation; every example is read.
    Rows,
    /// shaders/select/select_partial_cols.wgsl: R inputs shared by the workgroup, four output units
    /// per invocation; only the examples in which one of the R inputs is non-zero are read.
    Cols,
}

impl Orientation {
    pub(super) fn kernel_name(self) -> &'static str {
        match self {
            Orientation::Rows => "select_partial",
            Orientation::Cols => "select_partial_cols",
        }
    }
}

/// One shader being generated: the shape, its orientation and vec4 modes, and how many
/// values per side it keeps.
struct Gen<'a> {
    shape: &'a PartialShape,
    rows: bool,
    vec_a: bool,
    vec_d: bool,
    kl: usize,
    kh: usize,
}

impl Gen<'_> {
    /// Offers v to unit r's kept values: a branch-free min/max bubble through each side.
    /// With early rejection the bubble is skipped where no component of v can enter that
    /// side's kept set (v at or beyond its last kept value: the bubble would leave every
    /// register's value as it is, ties included; only the sign of a kept zero may differ,
    /// where max(+0, -0) picks either), which pays where lanes diverge cheaply.
    fn insert(&self, out: &mut String, r: usize) {
        for (name, n, keep, pass, enters) in [
            ("lo", self.kl, "min", "max", "<"),
            ("hi", self.kh, "max", "min", ">"),
        ] {
            if n == 0 {
                continue;
            }
            let last = n - 1;
            let pad = if self.shape.early_reject {
                writeln!(out, "        if (any(v {enters} {name}{r}_{last})) {{").unwrap();
                "    "
            } else {
                ""
            };
            writeln!(out, "        {pad}x = v;").unwrap();
            for i in 0..last {
                writeln!(
                    out,
                    "        {pad}y = {name}{r}_{i}; {name}{r}_{i} = {keep}(y, x); x = {pass}(y, x);"
                )
                .unwrap();
            }
            writeln!(
                out,
                "        {pad}{name}{r}_{last} = {keep}({name}{r}_{last}, x);"
            )
            .unwrap();
            if self.shape.early_reject {
                out.push_str("        }\n");
            }
        }
    }

    /// The loads of example number s (0 or 1) of an iteration.
    fn load(&self, out: &mut String, s: usize) {
        if self.rows {
            writeln!(out, "        let e{s} = e + {s}u;").unwrap();
            writeln!(out, "        let av{s} = load_a(e{s}, q, k0, is_bias);").unwrap();
            writeln!(out, "        let drow{s} = dr + e{s} * p.fan_out;").unwrap();
            if self.vec_d {
                writeln!(out, "        var dv{s}: vec4<f32>;").unwrap();
            }
            return;
        }
        writeln!(out, "        let e{s} = list[first + t + {s}u];").unwrap();
        writeln!(out, "        let dv{s} = load_d(e{s}, j);").unwrap();
        writeln!(out, "        let arow{s} = ar + e{s} * p.fan_in;").unwrap();
        if self.vec_a {
            for u in 0..self.shape.units / 4 {
                writeln!(
                    out,
                    "        let av{s}_{u} = ld_a4(min((arow{s} + k0) / 4u + {u}u, (arow{s} + p.fan_in) / 4u - 1u));"
                )
                .unwrap();
            }
        }
    }

    /// Unit r's value from example s, offered to its sum and kept values.
    fn unit(&self, out: &mut String, r: usize, s: usize) {
        self.value(out, r, s);
        self.insert(out, r);
    }

    /// Unit r's value v from example s, added to its sum.
    fn value(&self, out: &mut String, r: usize, s: usize) {
        if self.rows && self.vec_d {
            // one vec4 load of d serves four units
            if r.is_multiple_of(4) {
                writeln!(
                    out,
                    "        dv{s} = ld_d4(min((drow{s} + j0) / 4u + {}u, (drow{s} + p.fan_out) / 4u - 1u));",
                    r / 4
                )
                .unwrap();
            }
            writeln!(out, "        v = dv{s}[{}] * av{s};", r % 4).unwrap();
        } else if self.rows {
            writeln!(
                out,
                "        v = d[drow{s} + min(j0 + {r}u, p.fan_out - 1u)] * av{s};"
            )
            .unwrap();
        } else {
            // input k0 + r: a[e, k], or 1 for the bias, or 0 past it
            let a = if self.vec_a {
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
        if self.shape.map_sign {
            out.push_str("        v = sign(v);\n");
        }
        writeln!(out, "        t{r} += v;").unwrap();
    }

    /// The loop over chunks of `net.m` examples: each unit's values c{r}_{s} (added to its
    /// sum in example order), then the network's operations, then its new kept values.
    fn chunks(&self, net: &ChunkMerge) -> String {
        let m = net.m;
        let mut body = String::new();
        for s in 0..m {
            self.load(&mut body, s);
        }
        for r in 0..self.shape.units {
            for s in 0..m {
                self.value(&mut body, r, s);
                writeln!(body, "        let c{r}_{s} = v;").unwrap();
            }
            let name = |v: Val| match v {
                Val::Input(i) if i < m => format!("c{r}_{i}"),
                Val::Input(i) if i < m + net.kl => format!("lo{r}_{}", i - m),
                Val::Input(i) => format!("hi{r}_{}", i - m - net.kl),
                Val::Op(i) => format!("n{r}_{i}"),
                Val::NegInf => "vec4<f32>(-inf)".into(),
                Val::PosInf => "vec4<f32>(inf)".into(),
            };
            for (i, op) in net.ops.iter().enumerate() {
                let f = if op.max { "max" } else { "min" };
                writeln!(
                    body,
                    "        let n{r}_{i} = {f}({}, {});",
                    name(op.a),
                    name(op.b)
                )
                .unwrap();
            }
            // the new kept values may read old ones: all are named before any is replaced
            for (side, vals) in [("lo", &net.lo), ("hi", &net.hi)] {
                for (i, &v) in vals.iter().enumerate() {
                    writeln!(body, "        let new_{side}{r}_{i} = {};", name(v)).unwrap();
                }
            }
            for (side, vals) in [("lo", &net.lo), ("hi", &net.hi)] {
                for i in 0..vals.len() {
                    writeln!(body, "        {side}{r}_{i} = new_{side}{r}_{i};").unwrap();
                }
            }
        }
        let head = if self.rows {
            format!("for (; e + {m}u <= p.rows; e += {m}u) {{")
        } else {
            format!("for (; t + {m}u <= listed; t += {m}u) {{")
        };
        format!("{head}\n{}\n    }}", body.trim_end())
    }

    /// Unit r's kept values against at least max(KL, KH) zeros at once
    /// (select_partial_cols.wgsl).
    fn clamp_zeros(&self, out: &mut String, r: usize) {
        for i in 0..self.kl {
            writeln!(out, "    lo{r}_{i} = min(lo{r}_{i}, zl);").unwrap();
        }
        for i in 0..self.kh {
            writeln!(out, "    hi{r}_{i} = max(hi{r}_{i}, zh);").unwrap();
        }
    }

    /// Unit r's running sum and kept values, declared.
    fn state(&self, out: &mut String, r: usize) {
        writeln!(out, "    var t{r} = vec4<f32>(0.0);").unwrap();
        for i in 0..self.kl {
            writeln!(out, "    var lo{r}_{i} = vec4<f32>(inf);").unwrap();
        }
        for i in 0..self.kh {
            writeln!(out, "    var hi{r}_{i} = vec4<f32>(-inf);").unwrap();
        }
    }

    /// Unit r's call of `finish` (select_finish.wgsl) with its order statistics and the sums
    /// of the kept values beyond them.
    fn finish(&self, out: &mut String, r: usize) {
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
        let (kl, kh) = (self.kl, self.kh);
        let (lov, hiv, s_lo, s_hi) = (kept("lo", kl), kept("hi", kh), sum("lo", kl), sum("hi", kh));
        if self.rows {
            writeln!(
                out,
                "    finish(j0 + {r}u, k0, is_bias, t{r}, {lov}, {hiv}, {s_lo}, {s_hi});"
            )
            .unwrap();
        } else {
            writeln!(
                out,
                "    finish(j, k0 + {r}u, t{r}, {lov}, {hiv}, {s_lo}, {s_hi});"
            )
            .unwrap();
        }
    }

    /// The constants that shape the code, prepended.
    fn consts(&self) -> String {
        let s = self.shape;
        format!(
            "const KL: u32 = {}u;\nconst KH: u32 = {}u;\nconst R: u32 = {}u;\nconst MAP_SIGN: u32 = {}u;\nconst VEC_A: u32 = {}u;\nconst VEC_D: u32 = {}u;\n",
            s.kl, s.kh, s.units, s.map_sign as u32, self.vec_a as u32, self.vec_d as u32
        )
    }
}

/// The vec4 views a4 (binding 4) and d4 (binding 5) and their readers ld_a4, ld_d4: texture
/// mirrors where the shape's operands are textures and the view is read, storage otherwise.
fn views(operands: Operands, vec_a: bool, vec_d: bool) -> String {
    let mut out = String::new();
    let mut texel = false;
    for (name, binding, used) in [("a4", 4, vec_a), ("d4", 5, vec_d)] {
        if operands == Operands::Textures && used {
            texel = true;
            writeln!(
                out,
                "@group(0) @binding({binding}) var {name}: texture_2d<f32>;"
            )
            .unwrap();
            writeln!(
                out,
                "fn ld_{name}(i: u32) -> vec4<f32> {{ return texel({name}, i); }}"
            )
            .unwrap();
        } else {
            writeln!(
                out,
                "@group(0) @binding({binding}) var<storage, read> {name}: array<vec4<f32>>;"
            )
            .unwrap();
            writeln!(
                out,
                "fn ld_{name}(i: u32) -> vec4<f32> {{ return {name}[i]; }}"
            )
            .unwrap();
        }
    }
    if texel {
        out.push_str(include_str!("../../../../shaders/common/texel.wgsl"));
    }
    out
}

/// See [`PartialShape::source`].
pub(super) fn source(
    shape: &PartialShape,
    orient: Orientation,
    vec_a: bool,
    vec_d: bool,
) -> String {
    let rows = orient == Orientation::Rows;
    assert!(
        !(rows && vec_d || !rows && vec_a) || shape.units.is_multiple_of(4),
        "vec4 loads along the units per invocation need them in fours"
    );
    let (kl, kh) = shape.kept();
    let g = Gen {
        shape,
        rows,
        vec_a,
        vec_d,
        kl,
        kh,
    };
    let [mut state, mut pair, mut single, mut zeros, mut clamp, mut finish] = Default::default();
    g.load(&mut pair, 0);
    g.load(&mut pair, 1);
    g.load(&mut single, 0);
    for r in 0..shape.units {
        g.state(&mut state, r);
        g.unit(&mut pair, r, 0);
        g.unit(&mut pair, r, 1);
        g.unit(&mut single, r, 0);
        g.insert(&mut zeros, r);
        g.clamp_zeros(&mut clamp, r);
        g.finish(&mut finish, r);
    }
    let chunks = shape
        .chunk
        .map(|m| g.chunks(&ChunkMerge::new(m, kl, kh)))
        .unwrap_or_default();
    let base = match orient {
        Orientation::Rows => include_str!("../../../../shaders/select/select_partial.wgsl"),
        Orientation::Cols => include_str!("../../../../shaders/select/select_partial_cols.wgsl"),
    };
    // the generated lines are indented for the loop body; one more level inside it
    let deeper = |s: &str| {
        s.lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    g.consts()
        + &(base.to_string() + include_str!("../../../../shaders/select/select_finish.wgsl"))
            .replace("/*VIEWS*/", &views(shape.operands, vec_a, vec_d))
            .replace("/*STATE*/", state.trim_start())
            .replace("/*CHUNKS*/", &chunks)
            .replace("/*PAIR*/", deeper(&pair).trim_start())
            .replace("/*SINGLE*/", deeper(&single).trim_start())
            .replace("/*ZEROS*/", zeros.trim_start())
            .replace("/*CLAMP*/", clamp.trim_start())
            .replace("/*FINISH*/", finish.trim_start())
}
