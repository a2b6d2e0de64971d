//! One small type per WGSL kernel: its pipeline, its bind group layout, and a `bind` that
//! turns buffers into a ready-to-record [`Dispatch`]. Uniform structs mirror the WGSL ones
//! field by field (all padded to 16 bytes).

use std::num::NonZeroU64;

use bytemuck::{Pod, Zeroable};

use super::context::Gpu;

/// Bytes between per-step uniform slots: the minimum dynamic-offset alignment of every device.
pub const STEP_STRIDE: u64 = 256;

/// Workgroup memory each kernel declares, checked against the device limit at start-up
/// because wgpu 30 does not check it.
pub const WORKGROUP_BYTES: [(&str, u32); 2] = [("matmul", 8192), ("batch_stats", 2048)];

/// A buffer range to bind: whole buffer if `size` is None. `run`: bytes between one run's
/// part of the buffer and the next (0 when every run of a dispatch reads the same data); the
/// kernel finds it in its `runs` uniform (shaders/runs.wgsl).
#[derive(Clone, Copy)]
pub struct Slice<'a> {
    pub buf: &'a wgpu::Buffer,
    pub offset: u64,
    pub size: Option<u64>,
    pub run: u64,
}

impl<'a> Slice<'a> {
    /// The same range rounded up to whole vec4s, for a vec4 view of it (layer segments are
    /// padded to 256 bytes and buffers to 16, so this stays inside the buffer).
    pub fn whole_vec4s(self) -> Self {
        Slice {
            size: self.size.map(|s| s.next_multiple_of(16)),
            ..self
        }
    }

    pub fn all(buf: &'a wgpu::Buffer) -> Self {
        Slice {
            buf,
            offset: 0,
            size: None,
            run: 0,
        }
    }
    pub fn range(buf: &'a wgpu::Buffer, offset: u64, size: u64) -> Self {
        Slice {
            buf,
            offset,
            size: Some(size),
            run: 0,
        }
    }
    /// The whole buffer, holding one part per run, `stride` bytes apart.
    pub fn runs(buf: &'a wgpu::Buffer, stride: u64) -> Self {
        Slice {
            run: stride,
            ..Slice::all(buf)
        }
    }
    /// The same slice with one part per run, `stride` bytes apart.
    pub fn per_run(self, stride: u64) -> Self {
        Slice {
            run: stride,
            ..self
        }
    }
    fn resource(&self) -> wgpu::BindingResource<'a> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: self.buf,
            offset: self.offset,
            size: self
                .size
                .map(|s| NonZeroU64::new(s.max(4)).expect("nonzero")),
        })
    }
}

impl<'a> From<&'a wgpu::Buffer> for Slice<'a> {
    fn from(buf: &'a wgpu::Buffer) -> Self {
        Slice::all(buf)
    }
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Read,
    ReadWrite,
    Uniform,
    /// The per-step uniform, selected with a dynamic offset at record time.
    StepUniform,
}

/// A recorded-on-demand compute dispatch.
/// What one run's share of a dispatch does, for the achieved rates of `winsor profile`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Work {
    /// Not counted.
    None,
    /// Floating-point operations (a matrix product's 2mnk; nominal for the first layer's
    /// product, whose zero inputs are skipped).
    Flops(f64),
    /// Coordinates aggregated (the selection kernels).
    Coords(f64),
    /// Bytes read and written at least once (memory-bound kernels).
    Bytes(f64),
}

pub struct Dispatch {
    pub name: &'static str,
    /// Per run; the dispatch does it for each of its runs.
    work: Work,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    /// The run strides (group 1).
    runs_group: wgpu::BindGroup,
    groups: [u32; 3],
    per_step: bool,
    // Keeps the uniform buffers alive as long as the dispatch.
    _uniform: [wgpu::Buffer; 2],
}

impl Dispatch {
    /// Records the dispatch; `slot` picks the per-step uniform for kernels that use it.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>, slot: u32) {
        pass.set_pipeline(&self.pipeline);
        if self.per_step {
            let off = (slot as u64 * STEP_STRIDE) as u32;
            pass.set_bind_group(0, &self.bind_group, &[off]);
        } else {
            pass.set_bind_group(0, &self.bind_group, &[]);
        }
        pass.set_bind_group(1, &self.runs_group, &[]);
        pass.dispatch_workgroups(self.groups[0], self.groups[1], self.groups[2]);
    }

    /// The same dispatch over `runs` runs (the z dimension; shaders/runs.wgsl).
    pub fn across(mut self, runs: u32) -> Self {
        self.groups[2] = runs;
        self
    }

    /// Notes what one run's share of the dispatch does.
    pub fn with_work(mut self, work: Work) -> Self {
        self.work = work;
        self
    }

    /// What the whole dispatch does (all its runs).
    pub fn work(&self) -> Work {
        let r = self.groups[2] as f64;
        match self.work {
            Work::None => Work::None,
            Work::Flops(x) => Work::Flops(x * r),
            Work::Coords(x) => Work::Coords(x * r),
            Work::Bytes(x) => Work::Bytes(x * r),
        }
    }
}

/// Run strides per binding, in 4-byte elements (shaders/runs.wgsl).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RunStrides {
    stride: [u32; 8],
}

/// Splits `n` workgroups over x and y so that neither exceeds the 65535 per-dimension limit;
/// the shaders linearise with `gid.x + gid.y * num_workgroups.x * WG`.
pub fn groups_1d(items: u64, wg: u64) -> [u32; 3] {
    let n = items.div_ceil(wg).max(1);
    let x = n.min(65535);
    let y = n.div_ceil(x);
    [x as u32, y as u32, 1]
}

pub(super) struct Kernel {
    name: &'static str,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    runs_layout: wgpu::BindGroupLayout,
    kinds: Vec<Kind>,
}

impl Kernel {
    pub(super) fn new(
        gpu: &Gpu,
        name: &'static str,
        source: &str,
        kinds: &[Kind],
        constants: &[(&str, f64)],
    ) -> Self {
        let entries: Vec<wgpu::BindGroupLayoutEntry> = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: match k {
                    Kind::Read => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: true },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    Kind::ReadWrite => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: false },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    Kind::Uniform => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    Kind::StepUniform => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: true,
                        min_binding_size: NonZeroU64::new(16),
                    },
                },
                count: None,
            })
            .collect();
        let layout = gpu
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(name),
                entries: &entries,
            });
        let runs_layout = gpu
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("runs"),
                entries: &[wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                }],
            });
        let pl = gpu
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(name),
                bind_group_layouts: &[Some(&layout), Some(&runs_layout)],
                immediate_size: 0,
            });
        let source = format!("{}{source}", include_str!("../../shaders/runs.wgsl"));
        let module = gpu
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(name),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let pipeline = gpu
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(name),
                layout: Some(&pl),
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
        Kernel {
            name,
            pipeline,
            layout,
            runs_layout,
            kinds: kinds.to_vec(),
        }
    }

    /// `slices` are the storage bindings in order; the uniform (if any) comes from `uniform`,
    /// and the step uniform (if the kernel has one) from `step`.
    pub(super) fn bind<U: Pod>(
        &self,
        gpu: &Gpu,
        slices: &[Slice<'_>],
        uniform: &U,
        step: Option<&wgpu::Buffer>,
        groups: [u32; 3],
    ) -> Dispatch {
        let ubuf = gpu.uniform(self.name, uniform);
        assert!(
            self.kinds.len() <= 8,
            "{}: runs.wgsl has 8 strides",
            self.name
        );
        let mut strides = RunStrides { stride: [0; 8] };
        for (i, s) in self
            .kinds
            .iter()
            .enumerate()
            .filter(|(_, k)| matches!(k, Kind::Read | Kind::ReadWrite))
            .zip(slices)
            .map(|((i, _), s)| (i, s))
        {
            assert!(
                s.run % 4 == 0,
                "{}: run stride of whole elements",
                self.name
            );
            strides.stride[i] = (s.run / 4) as u32;
        }
        let sbuf = gpu.uniform("runs", &strides);
        let runs_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("runs"),
            layout: &self.runs_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: sbuf.as_entire_binding(),
            }],
        });
        let mut si = slices.iter();
        let entries: Vec<wgpu::BindGroupEntry> = self
            .kinds
            .iter()
            .enumerate()
            .map(|(i, k)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: match k {
                    Kind::Read | Kind::ReadWrite => {
                        si.next().expect("slice per binding").resource()
                    }
                    Kind::Uniform => ubuf.as_entire_binding(),
                    Kind::StepUniform => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: step.expect("step uniform buffer"),
                        offset: 0,
                        size: NonZeroU64::new(16),
                    }),
                },
            })
            .collect();
        assert!(si.next().is_none(), "{}: too many slices", self.name);
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(self.name),
            layout: &self.layout,
            entries: &entries,
        });
        Dispatch {
            name: self.name,
            work: Work::None,
            pipeline: self.pipeline.clone(),
            bind_group,
            runs_group,
            groups,
            per_step: self.kinds.contains(&Kind::StepUniform),
            _uniform: [ubuf, sbuf],
        }
    }
}

/// Per-step uniform: which stats slot a step writes, where its minibatch indices start, and
/// the step's 0-based number in the run (rewritten before each submission).
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub struct StepInfo {
    pub slot: u32,
    pub index_base: u32,
    pub t: u32,
    pub _pad: u32,
}

impl StepInfo {
    pub fn new(slot: u32, rows: u32, t: u32) -> Self {
        StepInfo {
            slot,
            index_base: slot * rows,
            t,
            _pad: 0,
        }
    }
}

/// The per-step uniforms of `infos`, one every STEP_STRIDE bytes.
pub fn step_bytes(infos: &[StepInfo]) -> Vec<u8> {
    let mut bytes = vec![0u8; infos.len() * STEP_STRIDE as usize];
    for (i, info) in infos.iter().enumerate() {
        let o = i * STEP_STRIDE as usize;
        bytes[o..o + 16].copy_from_slice(bytemuck::bytes_of(info));
    }
    bytes
}

/// Builds the per-step uniform buffer for `slots` steps of `rows` indices each.
pub fn step_buffer(gpu: &Gpu, slots: u32, rows: u32) -> wgpu::Buffer {
    let infos: Vec<StepInfo> = (0..slots).map(|s| StepInfo::new(s, rows, 0)).collect();
    use wgpu::util::DeviceExt;
    gpu.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("steps"),
            contents: &step_bytes(&infos),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        })
}

// ---------------------------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GatherParams {
    rows: u32,
    dim: u32,
    base: u32,
    mode: u32,
}

/// Copies examples of the resident u8 data set into f32 input rows and their labels.
pub struct Gather(Kernel);

/// Where the gather takes its examples from.
pub enum GatherFrom<'a> {
    /// Row r is example `indices[step.index_base + base + r]` (training minibatches, `base`
    /// being the first row of a chunk).
    Indices {
        indices: Slice<'a>,
        step: &'a wgpu::Buffer,
        base: u32,
    },
    /// Row r is example `base + r` (evaluation chunks); `step` is any step buffer.
    Range { base: u32, step: &'a wgpu::Buffer },
}

impl Gather {
    pub fn new(gpu: &Gpu) -> Self {
        use Kind::*;
        Gather(Kernel::new(
            gpu,
            "gather",
            include_str!("../../shaders/gather.wgsl"),
            &[Read, Read, Read, ReadWrite, ReadWrite, Uniform, StepUniform],
            &[],
        ))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn bind<'a>(
        &self,
        gpu: &Gpu,
        pixels: impl Into<Slice<'a>>,
        labels: impl Into<Slice<'a>>,
        from: GatherFrom<'_>,
        x: impl Into<Slice<'a>>,
        row_labels: impl Into<Slice<'a>>,
        rows: u32,
        dim: u32,
    ) -> Dispatch {
        let labels = labels.into();
        let x = x.into();
        let (indices, step, base, mode) = match from {
            GatherFrom::Indices {
                indices,
                step,
                base,
            } => (indices, step, base, 0),
            GatherFrom::Range { base, step } => (labels, step, base, 1),
        };
        self.0
            .bind(
                gpu,
                &[pixels.into(), labels, indices, x, row_labels.into()],
                &GatherParams {
                    rows,
                    dim,
                    base,
                    mode,
                },
                Some(step),
                // four pixels per invocation, 64 invocations per workgroup
                [dim.div_ceil(4 * 64), rows, 1],
            )
            // a byte read and a float written per pixel
            .with_work(Work::Bytes(rows as f64 * dim as f64 * 5.0))
    }
}

// ---------------------------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Default, Debug)]
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

impl MatmulParams {
    /// 2mnk: one multiply and one add per product.
    pub fn flops(&self) -> Work {
        Work::Flops(2.0 * self.m as f64 * self.n as f64 * self.k as f64)
    }

    /// Both operands contiguous along k with k, strides and offsets multiples of 4: the
    /// forward layout the CPU kernels read as vec4s (matmul_cpu_k4/sparse.wgsl).
    fn vec4_along_k(&self) -> bool {
        self.a_cs == 1
            && self.b_rs == 1
            && [self.k, self.a_rs, self.b_cs, self.a_off, self.b_off]
                .iter()
                .all(|v| v % 4 == 0)
    }

    /// A contiguous along m and B along n, all multiples of 4: the summed-gradient layout
    /// (d^T a) of matmul_cpu_mn4.wgsl.
    fn vec4_along_mn(&self) -> bool {
        self.a_rs == 1
            && self.b_cs == 1
            && [self.m, self.n, self.a_cs, self.b_rs, self.a_off, self.b_off]
                .iter()
                .all(|v| v % 4 == 0)
    }

    /// A contiguous along k and B along n, all multiples of 4: the backward layout of
    /// matmul_cpu_n4.wgsl.
    fn vec4_along_n(&self) -> bool {
        self.a_cs == 1
            && self.b_cs == 1
            && [self.k, self.n, self.a_rs, self.b_rs, self.a_off, self.b_off]
                .iter()
                .all(|v| v % 4 == 0)
    }
}

/// Epilogue of the tiled matrix product (the shader's MODE constant).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Epilogue {
    BiasRelu = 0,
    Bias = 1,
    MaskPositive = 2,
    Scale = 3,
    /// C += scale * A B: gradient accumulation over row chunks.
    ScaleAdd = 4,
}

/// Which matrix-product kernel to use. Both sum every output in ascending k with fma, so they
/// give the same numbers; they differ in how they use the hardware.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MatmulVariant {
    /// 64x64 workgroup-memory tiles, 4x4 outputs per invocation: for GPUs.
    Tiled,
    /// 4x8 outputs per invocation, no workgroup memory: for CPU drivers (lavapipe).
    Cpu,
}

impl MatmulVariant {
    /// `WINSOR_MATMUL=tiled|cpu` overrides the choice by device type.
    pub fn for_device(gpu: &Gpu) -> Self {
        match std::env::var("WINSOR_MATMUL").as_deref() {
            Ok("tiled") => MatmulVariant::Tiled,
            Ok("cpu") => MatmulVariant::Cpu,
            _ if gpu.info.device_type == wgpu::DeviceType::Cpu => MatmulVariant::Cpu,
            _ => MatmulVariant::Tiled,
        }
    }
}

/// Fills in the 8x8 register block of the CPU matrix products (the marked places described in
/// shaders/matmul_cpu_block.wgsl): the same lines in all three kernels, and WGSL has no macros.
fn cpu_block(template: &str) -> String {
    let lines = |f: &dyn Fn(usize) -> String| (0..8).map(f).collect::<String>();
    let acc =
        lines(&|i| format!("    var c{i} = vec4<f32>(0.0);\n    var d{i} = vec4<f32>(0.0);\n"));
    let load_a = lines(&|i| format!("        let a{i} = A[ra[{i}] + q];\n"));
    let load_b = lines(&|j| format!("        let b{j} = B[cb[{j}] + q];\n"));
    let fma = lines(&|i| {
        format!(
            "            c{i} = fma(vec4<f32>(a{i}[t]), lo, c{i});\n            d{i} = fma(vec4<f32>(a{i}[t]), hi, d{i});\n"
        )
    });
    let store = lines(&|i| format!("    store8(m0 + {i}u, n0, c{i}, d{i});\n"));
    template
        .replace("/*ACC*/", acc.trim())
        .replace("/*LOAD_A*/", load_a.trim())
        .replace("/*LOAD_B*/", load_b.trim())
        .replace("/*FMA*/", fma.trim())
        .replace("/*STORE*/", store.trim())
}

/// The matrix product with its four epilogues, one pipeline each.
pub struct Matmul {
    pub variant: MatmulVariant,
    kernels: [Kernel; 5],
    /// CPU variant only: the forward epilogues reading both operands four k at a time.
    forward_k4: Option<[Kernel; 2]>,
    /// CPU variant only: the backward product (MaskPositive) with B read along n as vec4.
    backward_n4: Option<Kernel>,
    /// CPU variant only: the summed gradient d^T a (Scale, ScaleAdd) with A read along m and
    /// B along n as vec4.
    grad_mn4: Option<[Kernel; 2]>,
    /// CPU variant only: the forward epilogues skipping zero groups of A (first layer), and
    /// the kernel listing those groups.
    sparse: Option<([Kernel; 2], Kernel)>,
}

impl Matmul {
    pub fn new(gpu: &Gpu, variant: MatmulVariant) -> Self {
        use Kind::*;
        // WGSL has no includes: the shared parameter struct, bindings and epilogue are
        // prepended at compile time.
        let source = match variant {
            MatmulVariant::Tiled => concat!(
                include_str!("../../shaders/matmul_params.wgsl"),
                include_str!("../../shaders/matmul_io.wgsl"),
                include_str!("../../shaders/matmul.wgsl")
            ),
            MatmulVariant::Cpu => concat!(
                include_str!("../../shaders/matmul_params.wgsl"),
                include_str!("../../shaders/matmul_io.wgsl"),
                include_str!("../../shaders/matmul_cpu.wgsl")
            ),
        };
        let k = |mode: Epilogue| {
            Kernel::new(
                gpu,
                "matmul",
                source,
                &[Read, Read, Read, ReadWrite, Uniform],
                &[("MODE", mode as u32 as f64)],
            )
        };
        let k4 = |mode: Epilogue| {
            Kernel::new(
                gpu,
                "matmul_k4",
                &cpu_block(concat!(
                    include_str!("../../shaders/matmul_params.wgsl"),
                    include_str!("../../shaders/matmul_cpu_k4.wgsl"),
                    include_str!("../../shaders/matmul_cpu_block.wgsl")
                )),
                &[Read, Read, Read, ReadWrite, Uniform],
                &[("MODE", mode as u32 as f64)],
            )
        };
        Matmul {
            variant,
            kernels: [
                k(Epilogue::BiasRelu),
                k(Epilogue::Bias),
                k(Epilogue::MaskPositive),
                k(Epilogue::Scale),
                k(Epilogue::ScaleAdd),
            ],
            forward_k4: (variant == MatmulVariant::Cpu)
                .then(|| [k4(Epilogue::BiasRelu), k4(Epilogue::Bias)]),
            sparse: (variant == MatmulVariant::Cpu).then(|| {
                let product = |mode: Epilogue| {
                    Kernel::new(
                        gpu,
                        "matmul_sparse",
                        &cpu_block(concat!(
                            include_str!("../../shaders/matmul_params.wgsl"),
                            include_str!("../../shaders/matmul_cpu_sparse.wgsl"),
                            include_str!("../../shaders/matmul_cpu_block.wgsl")
                        )),
                        &[Read, Read, Read, ReadWrite, Uniform, Read],
                        &[("MODE", mode as u32 as f64)],
                    )
                };
                let list = Kernel::new(
                    gpu,
                    "nonzero_blocks",
                    concat!(
                        include_str!("../../shaders/matmul_params.wgsl"),
                        include_str!("../../shaders/nonzero_blocks.wgsl")
                    ),
                    &[Read, ReadWrite, Uniform],
                    &[],
                );
                ([product(Epilogue::BiasRelu), product(Epilogue::Bias)], list)
            }),
            grad_mn4: (variant == MatmulVariant::Cpu).then(|| {
                [Epilogue::Scale, Epilogue::ScaleAdd].map(|mode| {
                    Kernel::new(
                        gpu,
                        "matmul_mn4",
                        concat!(
                            include_str!("../../shaders/matmul_params.wgsl"),
                            include_str!("../../shaders/matmul_cpu_mn4.wgsl")
                        ),
                        &[Read, Read, ReadWrite, Uniform],
                        &[("MODE", mode as u32 as f64)],
                    )
                })
            }),
            backward_n4: (variant == MatmulVariant::Cpu).then(|| {
                Kernel::new(
                    gpu,
                    "matmul_n4",
                    &cpu_block(concat!(
                        include_str!("../../shaders/matmul_params.wgsl"),
                        include_str!("../../shaders/matmul_cpu_n4.wgsl")
                    )),
                    &[Read, Read, Read, ReadWrite, Uniform],
                    &[],
                )
            }),
        }
    }

    /// The forward product for inputs that are mostly zero (the first layer's pixels) on CPU
    /// drivers: a list of the non-zero groups of 4 columns of each block of 8 rows of A
    /// (nonzero_blocks.wgsl), then the product over those only (matmul_cpu_sparse.wgsl),
    /// bit-identical to [`Matmul::bind`]. None where it does not apply (the GPU variant, or
    /// operands not contiguous in k by fours), and the caller uses `bind`.
    #[allow(clippy::too_many_arguments)]
    pub fn bind_sparse(
        &self,
        gpu: &Gpu,
        epilogue: Epilogue,
        a: Slice<'_>,
        b: Slice<'_>,
        c: Slice<'_>,
        p: MatmulParams,
        runs: u32,
    ) -> Option<[Dispatch; 2]> {
        let (products, list_kernel) = self.sparse.as_ref()?;
        if !p.vec4_along_k() || !matches!(epilogue, Epilogue::BiasRelu | Epilogue::Bias) || p.m == 0
        {
            return None;
        }
        let n_blocks = p.m.div_ceil(8);
        // one list per run
        let list_bytes = ((n_blocks as u64) * (1 + p.k as u64 / 4) * 4).next_multiple_of(256);
        let list = gpu.storage("nonzero blocks", list_bytes * runs as u64);
        let list = Slice::runs(&list, list_bytes);
        let listing = list_kernel
            .bind(gpu, &[a, list], &p, None, [n_blocks.div_ceil(64), 1, 1])
            .across(runs);
        let b4 = b.whole_vec4s();
        let product = products[epilogue as usize]
            .bind(
                gpu,
                &[a, b4, b, c, list],
                &p,
                None,
                [p.n.div_ceil(256), n_blocks, 1],
            )
            .across(runs)
            .with_work(p.flops());
        Some([listing, product])
    }

    /// C[m x n] (row-major) = A * B with the strides in `p`, then the epilogue. `aux` is read
    /// only by `MaskPositive` (an m x n array); pass any buffer not written here otherwise.
    #[allow(clippy::too_many_arguments)]
    pub fn bind(
        &self,
        gpu: &Gpu,
        epilogue: Epilogue,
        a: Slice<'_>,
        b: Slice<'_>,
        aux: Slice<'_>,
        c: Slice<'_>,
        p: MatmulParams,
    ) -> Dispatch {
        let groups = match self.variant {
            MatmulVariant::Tiled => [p.n.div_ceil(64), p.m.div_ceil(64), 1],
            MatmulVariant::Cpu => [p.n.div_ceil(64), p.m.div_ceil(32), 1],
        };
        // the CPU kernels own 8x8 blocks: a workgroup covers 64 rows
        let blocks8 = [p.n.div_ceil(64), p.m.div_ceil(64), 1];
        if let (Some(k4), true, Epilogue::BiasRelu | Epilogue::Bias) =
            (&self.forward_k4, p.vec4_along_k(), epilogue)
        {
            let b4 = b.whole_vec4s();
            return k4[epilogue as usize]
                .bind(gpu, &[a, b4, b, c], &p, None, blocks8)
                .with_work(p.flops());
        }
        if let (Some(n4), true, Epilogue::MaskPositive) =
            (&self.backward_n4, p.vec4_along_n(), epilogue)
        {
            let b4 = b.whole_vec4s();
            return n4
                .bind(gpu, &[a, b4, aux, c], &p, None, blocks8)
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
}

// ---------------------------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SoftmaxParams {
    rows: u32,
    classes: u32,
    base: u32,
    mode: u32,
}

/// Softmax cross-entropy: per-row loss and correctness, and in training the error d.
pub struct SoftmaxXent(Kernel);

impl SoftmaxXent {
    pub fn new(gpu: &Gpu) -> Self {
        use Kind::*;
        SoftmaxXent(Kernel::new(
            gpu,
            "softmax_xent",
            include_str!("../../shaders/softmax_xent.wgsl"),
            &[Read, Read, ReadWrite, ReadWrite, ReadWrite, Uniform],
            &[],
        ))
    }

    /// `train`: the error is written to `d`; otherwise `d` is untouched (pass any buffer that
    /// is not bound elsewhere in the dispatch).
    #[allow(clippy::too_many_arguments)]
    pub fn bind<'a>(
        &self,
        gpu: &Gpu,
        logits: impl Into<Slice<'a>>,
        row_labels: impl Into<Slice<'a>>,
        d: impl Into<Slice<'a>>,
        train: bool,
        loss_out: impl Into<Slice<'a>>,
        correct_out: impl Into<Slice<'a>>,
        rows: u32,
        classes: u32,
        base: u32,
    ) -> Dispatch {
        let mode = if train { 0 } else { 1 };
        self.0
            .bind(
                gpu,
                &[
                    logits.into(),
                    row_labels.into(),
                    d.into(),
                    loss_out.into(),
                    correct_out.into(),
                ],
                &SoftmaxParams {
                    rows,
                    classes,
                    base,
                    mode,
                },
                None,
                groups_1d(rows as u64, 64),
            )
            // the logits read, the errors written
            .with_work(Work::Bytes(rows as f64 * classes as f64 * 8.0))
    }
}

// ---------------------------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RowsParams {
    rows: u32,
    _pad: [u32; 3],
}

/// Reduces a training step's per-row loss and correctness into its stats slot.
pub struct BatchStats(Kernel);

impl BatchStats {
    pub fn new(gpu: &Gpu) -> Self {
        use Kind::*;
        BatchStats(Kernel::new(
            gpu,
            "batch_stats",
            include_str!("../../shaders/batch_stats.wgsl"),
            &[Read, Read, ReadWrite, Uniform, StepUniform],
            &[],
        ))
    }

    pub fn bind<'a>(
        &self,
        gpu: &Gpu,
        loss: impl Into<Slice<'a>>,
        correct: impl Into<Slice<'a>>,
        stats: impl Into<Slice<'a>>,
        step: &wgpu::Buffer,
        rows: u32,
    ) -> Dispatch {
        self.0.bind(
            gpu,
            &[loss.into(), correct.into(), stats.into()],
            &RowsParams { rows, _pad: [0; 3] },
            Some(step),
            [1, 1, 1],
        )
    }
}

// ---------------------------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct BiasGradParams {
    rows: u32,
    width: u32,
    off: u32,
    scale: f32,
    accumulate: u32,
    _pad: [u32; 3],
}

/// Bias gradient `scale * sum_e d[e, j]`, written (or added, with `accumulate`) at `off`
/// inside a layer's gradient segment.
pub struct BiasGrad(Kernel);

impl BiasGrad {
    pub fn new(gpu: &Gpu) -> Self {
        use Kind::*;
        BiasGrad(Kernel::new(
            gpu,
            "bias_grad",
            include_str!("../../shaders/bias_grad.wgsl"),
            &[Read, ReadWrite, Uniform],
            &[],
        ))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn bind<'a>(
        &self,
        gpu: &Gpu,
        d: impl Into<Slice<'a>>,
        g: Slice<'_>,
        rows: u32,
        width: u32,
        off: u32,
        scale: f32,
        accumulate: bool,
    ) -> Dispatch {
        self.0.bind(
            gpu,
            &[d.into(), g],
            &BiasGradParams {
                rows,
                width,
                off,
                scale,
                accumulate: accumulate as u32,
                _pad: [0; 3],
            },
            None,
            [width.div_ceil(64), 1, 1],
        )
    }
}

// ---------------------------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct SgdParams {
    count: u32,
    lr: f32,
    _pad: [u32; 2],
}

/// w -= lr * g over the flat parameter buffer.
pub struct Sgd(Kernel);

impl Sgd {
    pub fn new(gpu: &Gpu) -> Self {
        use Kind::*;
        Sgd(Kernel::new(
            gpu,
            "sgd",
            include_str!("../../shaders/sgd.wgsl"),
            &[ReadWrite, Read, Uniform],
            &[],
        ))
    }

    pub fn bind<'a>(
        &self,
        gpu: &Gpu,
        w: impl Into<Slice<'a>>,
        g: impl Into<Slice<'a>>,
        count: u32,
        lr: f32,
    ) -> Dispatch {
        self.0
            .bind(
                gpu,
                &[w.into(), g.into()],
                &SgdParams {
                    count,
                    lr,
                    _pad: [0; 2],
                },
                None,
                groups_1d(count as u64, 256),
            )
            // w read and written, g read
            .with_work(Work::Bytes(count as f64 * 12.0))
    }
}

/// The pipelines every run needs, compiled once per device. The selection kernels are
/// specialised per rule and batch size, so runs build their own ([`super::select`]).
pub struct Kernels {
    pub gather: Gather,
    pub matmul: Matmul,
    pub softmax: SoftmaxXent,
    pub batch_stats: BatchStats,
    pub bias_grad: BiasGrad,
    pub sgd: Sgd,
    pub row_dot: RowDot,
}

impl Kernels {
    pub fn new(gpu: &Gpu) -> anyhow::Result<Self> {
        let max = gpu.limits.max_compute_workgroup_storage_size;
        for (name, bytes) in WORKGROUP_BYTES {
            if bytes > max {
                anyhow::bail!(
                    "kernel {name} needs {bytes} bytes of workgroup memory but adapter {} offers {max}",
                    gpu.info.name
                );
            }
        }
        Ok(Kernels {
            gather: Gather::new(gpu),
            matmul: Matmul::new(gpu, MatmulVariant::for_device(gpu)),
            softmax: SoftmaxXent::new(gpu),
            batch_stats: BatchStats::new(gpu),
            bias_grad: BiasGrad::new(gpu),
            sgd: Sgd::new(gpu),
            row_dot: RowDot::new(gpu),
        })
    }
}

// ---------------------------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct TemporalParams {
    count: u32,
    every: u32,
    _pad: [u32; 2],
}

/// The temporal rules' combination of the last three minibatch mean gradients.
pub struct TemporalCombine {
    kernel: Kernel,
    rule: crate::rule::Temporal,
}

impl TemporalCombine {
    pub fn new(gpu: &Gpu, rule: crate::rule::Temporal) -> Self {
        use crate::rule::Temporal;
        use Kind::*;
        let mode = match rule {
            Temporal::Rm3 | Temporal::M3 => 0.0,
            Temporal::Ra3 => 1.0,
        };
        TemporalCombine {
            kernel: Kernel::new(
                gpu,
                "temporal",
                include_str!("../../shaders/temporal.wgsl"),
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

// ---------------------------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct RowDotParams {
    rows: u32,
    width: u32,
    out_base: u32,
    _pad: u32,
}

/// out[out_base + r] = x[r, :] . y[r, :] for `rows` rows of `width` floats (a squared norm
/// when x and y are the same buffer).
pub struct RowDot(Kernel);

impl RowDot {
    pub fn new(gpu: &Gpu) -> Self {
        use Kind::*;
        RowDot(Kernel::new(
            gpu,
            "row_dot",
            include_str!("../../shaders/row_dot.wgsl"),
            &[Read, Read, ReadWrite, Uniform],
            &[],
        ))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn bind<'a>(
        &self,
        gpu: &Gpu,
        x: impl Into<Slice<'a>>,
        y: impl Into<Slice<'a>>,
        out: impl Into<Slice<'a>>,
        rows: u32,
        width: u32,
        out_base: u32,
    ) -> Dispatch {
        self.0.bind(
            gpu,
            &[x.into(), y.into(), out.into()],
            &RowDotParams {
                rows,
                width,
                out_base,
                _pad: 0,
            },
            None,
            groups_1d(rows as u64, 64),
        )
    }
}
