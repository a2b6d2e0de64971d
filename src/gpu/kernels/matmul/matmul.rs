//! Kernels `matmul` (shaders/matmul/matmul.wgsl, tiled) and `matmul_cpu` (matmul_cpu.wgsl),
//! with the CPU variant's vec4 layouts `matmul_k4`, `matmul_n4` and `matmul_mn4` (the
//! shaders of those names); CPU twin `reference::matmul` (src/reference/kernels/matmul.rs);
//! test `matmul_forward_backprop_and_grad_layouts` in tests/kernels/matmul.rs.

use crate::gpu::context::Gpu;
use crate::gpu::kernels::dispatch::{Dispatch, Work};
use crate::gpu::kernels::pipeline::{Kernel, Kind, ShaderVariant};
use crate::gpu::kernels::slice::Slice;
use crate::gpu::plan::MatmulVariant;
use crate::gpu::plan::{Operands, ShaderChecks};

uniform_struct! {
    /// C[m x n] = A B with A[i, q] at `a_off + i * a_rs + q * a_cs` and B[q, j] at
    /// `b_off + q * b_rs + j * b_cs` (shaders/matmul/matmul_params.wgsl).
    #[derive(Default)]
    pub struct MatmulParams {
        pub m: u32,
        pub n: u32,
        pub k: u32,
        pub a_off: u32,
        pub a_rs: u32,
        pub a_cs: u32,
        pub b_off: u32,
        pub b_rs: u32,
        pub b_cs: u32,
        pub bias_off: u32,
        pub scale: f32,
        pub _pad: u32,
    }
}

impl MatmulParams {
    /// 2mnk: one multiply and one add per product.
    pub fn flops(&self) -> Work {
        Work::Flops(2.0 * self.m as f64 * self.n as f64 * self.k as f64)
    }

    /// Both operands contiguous along k with k, strides and offsets multiples of 4: the
    /// forward layout the CPU kernels read as vec4s (matmul_k4/sparse.wgsl).
    pub(super) fn vec4_along_k(&self) -> bool {
        self.a_cs == 1
            && self.b_rs == 1
            && [self.k, self.a_rs, self.b_cs, self.a_off, self.b_off]
                .iter()
                .all(|v| v % 4 == 0)
    }

    /// A contiguous along m and B along n, all multiples of 4: the summed-gradient layout
    /// (d^T a) of matmul_mn4.wgsl.
    fn vec4_along_mn(&self) -> bool {
        self.a_rs == 1
            && self.b_cs == 1
            && [self.m, self.n, self.a_cs, self.b_rs, self.a_off, self.b_off]
                .iter()
                .all(|v| v % 4 == 0)
    }

    /// A contiguous along k and B along n, all multiples of 4: the backward layout of
    /// matmul_n4.wgsl.
    fn vec4_along_n(&self) -> bool {
        self.a_cs == 1
            && self.b_cs == 1
            && [self.k, self.n, self.a_rs, self.b_rs, self.a_off, self.b_off]
                .iter()
                .all(|v| v % 4 == 0)
    }
}

/// One matrix product as a kernel binds it: C[m x n] (row-major) = A * B with the strides
/// in `p`, then the epilogue. `aux` is read only by `MaskPositive` (an m x n array); pass
/// any slice not written by the product otherwise.
#[derive(Clone, Copy)]
pub struct Product<'a> {
    pub epilogue: Epilogue,
    pub a: Slice<'a>,
    pub b: Slice<'a>,
    pub aux: Slice<'a>,
    pub c: Slice<'a>,
    pub p: MatmulParams,
}

/// Epilogue of the matrix product (the shaders' MODE override).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Epilogue {
    BiasRelu = 0,
    Bias = 1,
    MaskPositive = 2,
    Scale = 3,
    /// C += scale * A B: gradient accumulation over row chunks.
    ScaleAdd = 4,
}

const EPILOGUES: [Epilogue; 5] = [
    Epilogue::BiasRelu,
    Epilogue::Bias,
    Epilogue::MaskPositive,
    Epilogue::Scale,
    Epilogue::ScaleAdd,
];

/// Fills in the `rows` x 8 register block of the CPU matrix products (the marked places described in
/// shaders/matmul/matmul_cpu_block.wgsl): the same lines in three kernels, and WGSL has no macros.
/// This is text generation because it shapes the code: one named register per output row.
/// AB declares A and B and their readers `ld_a`, `ld_b` as `operands` says: vec4 storage
/// arrays, or texture mirrors read through shaders/common/texel.wgsl.
pub(super) fn cpu_block(template: &str, operands: Operands, rows: usize) -> String {
    let lines = |f: &dyn Fn(usize) -> String| (0..rows).map(f).collect::<String>();
    let cols = |f: &dyn Fn(usize) -> String| (0..8).map(f).collect::<String>();
    let decl = match operands {
        Operands::Buffers => "@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
fn ld_a(i: u32) -> vec4<f32> { return A[i]; }
fn ld_b(i: u32) -> vec4<f32> { return B[i]; }
"
        .to_string(),
        Operands::Textures => format!(
            "@group(0) @binding(0) var A: texture_2d<f32>;
@group(0) @binding(1) var B: texture_2d<f32>;
fn ld_a(i: u32) -> vec4<f32> {{ return texel(A, i); }}
fn ld_b(i: u32) -> vec4<f32> {{ return texel(B, i); }}
{}",
            include_str!("../../../../shaders/common/texel.wgsl")
        ),
    };
    let acc =
        lines(&|i| format!("    var c{i} = vec4<f32>(0.0);\n    var d{i} = vec4<f32>(0.0);\n"));
    let load_a = lines(&|i| format!("        let a{i} = ld_a(ra[{i}] + q);\n"));
    let load_b = cols(&|j| format!("        let b{j} = ld_b(cb[{j}] + q);\n"));
    let fma = lines(&|i| {
        format!(
            "            c{i} = fma(vec4<f32>(a{i}[t]), lo, c{i});\n            d{i} = fma(vec4<f32>(a{i}[t]), hi, d{i});\n"
        )
    });
    let store = lines(&|i| format!("    store8(m0 + {i}u, n0, c{i}, d{i});\n"));
    template
        .replace("/*ROWS*/", &format!("{rows}u"))
        .replace("/*AB*/", decl.trim())
        .replace("/*ACC*/", acc.trim())
        .replace("/*LOAD_A*/", load_a.trim())
        .replace("/*LOAD_B*/", load_b.trim())
        .replace("/*FMA*/", fma.trim())
        .replace("/*STORE*/", store.trim())
}

/// The generic product of a variant (any strides; the epilogue is the MODE override).
fn generic_source(variant: MatmulVariant) -> String {
    let body = match variant {
        MatmulVariant::Tiled => include_str!("../../../../shaders/matmul/matmul.wgsl"),
        MatmulVariant::Cpu => include_str!("../../../../shaders/matmul/matmul_cpu.wgsl"),
    };
    // WGSL has no includes: the shared parameter struct, bindings and epilogue are prepended
    format!(
        "{}{}{body}",
        include_str!("../../../../shaders/matmul/matmul_params.wgsl"),
        include_str!("../../../../shaders/matmul/matmul_io.wgsl")
    )
}

/// Rows of C per invocation of the forward and backward register-blocked products (8
/// columns each). 16 rows halve the loads per multiply-add of B against 8x8 blocks (A's stay
/// one per row): mean 43-61 -> 58-64 steps/s on lavapipe, alternating in one run, where 32
/// rows were slower again (docs/benchmarks-history.md).
const K4_ROWS: usize = 16;
const N4_ROWS: usize = 16;

/// The CPU variant's forward product reading both operands four k at a time.
fn k4_source(operands: Operands) -> String {
    cpu_block(
        concat!(
            include_str!("../../../../shaders/matmul/matmul_params.wgsl"),
            include_str!("../../../../shaders/matmul/matmul_k4.wgsl"),
            include_str!("../../../../shaders/matmul/matmul_cpu_block.wgsl")
        ),
        operands,
        K4_ROWS,
    )
}

/// The CPU variant's backward product (MaskPositive) reading B along n as vec4.
fn n4_source(operands: Operands) -> String {
    cpu_block(
        concat!(
            include_str!("../../../../shaders/matmul/matmul_params.wgsl"),
            include_str!("../../../../shaders/matmul/matmul_n4.wgsl")
        ),
        operands,
        N4_ROWS,
    )
}

/// The CPU variant's summed gradient d^T a, A read along m and B along n as vec4.
fn mn4_source() -> String {
    concat!(
        include_str!("../../../../shaders/matmul/matmul_params.wgsl"),
        include_str!("../../../../shaders/matmul/matmul_mn4.wgsl")
    )
    .to_string()
}

fn mode(e: Epilogue) -> [(&'static str, f64); 1] {
    [("MODE", e as u32 as f64)]
}

/// Every shader this kernel compiles, for tests/shaders.rs.
pub fn variants() -> Vec<ShaderVariant> {
    let v = |label: &str, source: String, e: Epilogue| {
        ShaderVariant::new::<MatmulParams>(format!("{label} {e:?}"), source, &mode(e))
    };
    let mut out = Vec::new();
    for variant in [MatmulVariant::Tiled, MatmulVariant::Cpu] {
        for e in EPILOGUES {
            out.push(v(
                &format!("matmul {variant:?}"),
                generic_source(variant),
                e,
            ));
        }
    }
    for operands in [Operands::Buffers, Operands::Textures] {
        for e in [Epilogue::BiasRelu, Epilogue::Bias, Epilogue::Scale] {
            out.push(v(
                &format!("matmul_k4 {operands:?}"),
                k4_source(operands),
                e,
            ));
        }
    }
    // the backward product has one epilogue, so no MODE constant
    for operands in [Operands::Buffers, Operands::Textures] {
        out.push(ShaderVariant::new::<MatmulParams>(
            format!("matmul_n4 {operands:?} MaskPositive"),
            n4_source(operands),
            &[],
        ));
    }
    for e in [Epilogue::Scale, Epilogue::ScaleAdd] {
        out.push(v("matmul_mn4", mn4_source(), e));
    }
    out
}

/// The matrix product of one variant with its five epilogues, one pipeline each, and for
/// the CPU variant the vec4 kernels of the three layouts the trainer uses.
pub struct Matmul {
    pub variant: MatmulVariant,
    checks: ShaderChecks,
    operands: Operands,
    kernels: [Kernel; 5],
    /// CPU variant only: the forward epilogues reading both operands four k at a time.
    forward_k4: Option<[Kernel; 2]>,
    /// CPU variant only: the backward product (MaskPositive) with B read along n as vec4.
    backward_n4: Option<Kernel>,
    /// CPU variant only: the summed gradient d^T a (Scale, ScaleAdd) with A read along m and
    /// B along n as vec4.
    grad_mn4: Option<[Kernel; 2]>,
}

impl Matmul {
    pub fn new(
        gpu: &Gpu,
        checks: ShaderChecks,
        operands: Operands,
        variant: MatmulVariant,
    ) -> Self {
        use Kind::*;
        let io = [Read, Read, Read, ReadWrite, Uniform];
        let ab = Kind::operand(operands);
        let io_k4 = [ab, ab, Read, ReadWrite, Uniform];
        let generic = generic_source(variant);
        // named after its shader: matmul.wgsl (tiled) or matmul_cpu.wgsl
        let name = match variant {
            MatmulVariant::Tiled => "matmul",
            MatmulVariant::Cpu => "matmul_cpu",
        };
        let cpu = variant == MatmulVariant::Cpu;
        Matmul {
            variant,
            checks,
            operands,
            kernels: EPILOGUES.map(|e| Kernel::new(gpu, checks, name, &generic, &io, &mode(e))),
            forward_k4: cpu.then(|| {
                let source = k4_source(operands);
                [Epilogue::BiasRelu, Epilogue::Bias]
                    .map(|e| Kernel::new(gpu, checks, "matmul_k4", &source, &io_k4, &mode(e)))
            }),
            grad_mn4: cpu.then(|| {
                let source = mn4_source();
                [Epilogue::Scale, Epilogue::ScaleAdd].map(|e| {
                    Kernel::new(
                        gpu,
                        checks,
                        "matmul_mn4",
                        &source,
                        &[Read, Read, ReadWrite, Uniform],
                        &mode(e),
                    )
                })
            }),
            backward_n4: cpu
                .then(|| Kernel::new(gpu, checks, "matmul_n4", &n4_source(operands), &io_k4, &[])),
        }
    }

    /// The dispatch of `op`, through the vec4 kernel of its layout where the variant has one.
    pub fn bind(&self, gpu: &Gpu, op: Product<'_>) -> Dispatch {
        let Product {
            epilogue,
            a,
            b,
            aux,
            c,
            p,
        } = op;
        let groups = match self.variant {
            MatmulVariant::Tiled => [p.n.div_ceil(64), p.m.div_ceil(64), 1],
            MatmulVariant::Cpu => [p.n.div_ceil(64), p.m.div_ceil(32), 1],
        };
        // mn4 owns 8x8 blocks: a workgroup covers 64 rows
        let blocks8 = [p.n.div_ceil(64), p.m.div_ceil(64), 1];
        // k4 and n4: 8 invocations of `rows` rows each
        let blocks = |rows: usize| [p.n.div_ceil(64), p.m.div_ceil(8 * rows as u32), 1];
        if let (Some(k4), true, Epilogue::BiasRelu | Epilogue::Bias) =
            (&self.forward_k4, p.vec4_along_k(), epilogue)
        {
            let b4 = b.whole_vec4s();
            return k4[epilogue as usize]
                .bind(gpu, &[a.whole_vec4s(), b4, b, c], &p, None, blocks(K4_ROWS))
                .with_work(p.flops());
        }
        // the Gram products of the similarity measurement (X X^T): compiled on first use, so
        // that runs without it compile nothing more
        if let (true, true, Epilogue::Scale) =
            (self.forward_k4.is_some(), p.vec4_along_k(), epilogue)
        {
            use Kind::*;
            let ab = Kind::operand(self.operands);
            let k4 = Kernel::new(
                gpu,
                self.checks,
                "matmul_k4",
                &k4_source(self.operands),
                &[ab, ab, Read, ReadWrite, Uniform],
                &mode(epilogue),
            );
            return k4
                .bind(
                    gpu,
                    &[a.whole_vec4s(), b.whole_vec4s(), b, c],
                    &p,
                    None,
                    blocks(K4_ROWS),
                )
                .with_work(p.flops());
        }
        if let (Some(n4), true, Epilogue::MaskPositive) =
            (&self.backward_n4, p.vec4_along_n(), epilogue)
        {
            let b4 = b.whole_vec4s();
            return n4
                .bind(gpu, &[a, b4, aux, c], &p, None, blocks(N4_ROWS))
                .with_work(p.flops());
        }
        if let (Some(mn4), true, Epilogue::Scale | Epilogue::ScaleAdd) =
            (&self.grad_mn4, p.vec4_along_mn(), epilogue)
        {
            let k = &mn4[(epilogue == Epilogue::ScaleAdd) as usize];
            return k
                .bind(
                    gpu,
                    &[a.whole_vec4s(), b.whole_vec4s(), c],
                    &p,
                    None,
                    blocks8,
                )
                .with_work(p.flops());
        }
        self.kernels[epilogue as usize]
            .bind(gpu, &[a, b, aux, c], &p, None, groups)
            .with_work(p.flops())
    }

    /// C = X X^T (n x n, row-major) for the n rows of X (n x k, row-major): every pair of
    /// rows' inner product, summed one k at a time in order like every product here, so C is
    /// symmetric bit for bit. The similarity measurement's Gram products; through the CPU
    /// variant's vec4 kernel where k is a multiple of 4.
    pub fn gram(&self, gpu: &Gpu, x: Slice<'_>, n: u32, k: u32, c: Slice<'_>) -> Dispatch {
        let x = x.reading(n as u64 * k as u64, 1);
        self.bind(
            gpu,
            Product {
                epilogue: Epilogue::Scale,
                a: x,
                b: x,
                aux: x,
                c,
                p: MatmulParams {
                    m: n,
                    n,
                    k,
                    a_rs: k,
                    a_cs: 1,
                    b_rs: 1,
                    b_cs: k,
                    scale: 1.0,
                    ..Default::default()
                },
            },
        )
    }
}
