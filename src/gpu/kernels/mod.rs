//! One file per WGSL kernel: its parameter struct, its pipelines and a `bind` that turns
//! buffers into a ready-to-record [`Dispatch`]. Each file's first line names its shader, its
//! CPU twin in `crate::reference` and its test in tests/kernels.rs.
//!
//! This file holds what every kernel shares: bindable slices, the dispatch, pipeline
//! creation with the prepended run strides (shaders/runs.wgsl), the per-step uniform
//! (shaders/step.wgsl), and the uniform-struct contracts that tests/shaders.rs checks
//! against the WGSL, field by field.

/// Declares a uniform struct shared with WGSL: `#[repr(C)]`, `Pod`, and a [`Contract`] that
/// lists every field's name, byte offset and size, so that a test can check the shader's
/// struct of the same role against it (tests/shaders.rs). Fields named `_...` are padding.
macro_rules! uniform_struct {
    ($(#[$m:meta])* $vis:vis struct $name:ident { $($(#[$fm:meta])* $fvis:vis $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Debug)]
        $vis struct $name { $($(#[$fm])* $fvis $f: $t),* }

        impl $crate::gpu::kernels::Contract for $name {
            fn fields() -> Vec<$crate::gpu::kernels::Field> {
                vec![$($crate::gpu::kernels::Field {
                    name: stringify!($f),
                    offset: std::mem::offset_of!($name, $f),
                    size: std::mem::size_of::<$t>(),
                }),*]
            }
        }
    };
}

pub mod asserted;
pub mod batch_stats;
pub mod bias_grad;
pub mod catalog;
pub mod gather;
pub mod matmul;
pub mod matmul_sparse;
pub(crate) mod mirror;
pub mod row_dot;
pub mod select;
pub mod select_network;
pub mod select_partial;
mod select_partial_source;
pub mod select_sort;
pub mod sgd;
pub mod softmax_xent;
pub mod temporal;

pub use batch_stats::BatchStats;
pub use bias_grad::BiasGrad;
pub use gather::{Gather, GatherFrom};
pub use matmul::{Epilogue, Matmul, MatmulParams};
pub use matmul_sparse::SparseMatmul;
pub use row_dot::RowDot;
pub use sgd::Sgd;
pub use softmax_xent::SoftmaxXent;
pub use temporal::TemporalCombine;

pub use super::plan::MatmulVariant;
use super::plan::{KernelPlan, Operands, ShaderChecks};
use mirror::Mirror;

use std::num::NonZeroU64;

use bytemuck::Pod;

use super::context::Gpu;

/// Bytes between per-step uniform slots: the minimum dynamic-offset alignment of every device.
pub const STEP_STRIDE: u64 = 256;

/// Workgroup memory each fixed-size kernel declares, checked against the device limit at
/// start-up because wgpu 30 does not check it (the sort kernel sizes its own tile).
pub const WORKGROUP_BYTES: [(&str, u32); 2] = [("matmul", 8192), ("batch_stats", 2048)];

/// One field of a uniform struct shared with WGSL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
}

/// A Rust struct whose bytes a shader reads as a uniform (declared with `uniform_struct!`).
pub trait Contract {
    fn fields() -> Vec<Field>;
}

/// The module source handed to wgpu. Under `--validate`, the WGSL parsed here into naga's
/// IR: wgpu's debug flag (which the validation layer needs to send messages) otherwise
/// embeds the WGSL text in the SPIR-V as source language 10 (WGSL), which the SPIR-V
/// validator inside layers before 1.3.250 rejects as invalid, and then validates nothing
/// else of the module. From IR, wgpu emits the same SPIR-V without the embedded text. A
/// parse error falls back to the text, so that wgpu reports it as it always does.
fn shader_source(gpu: &Gpu, source: String) -> wgpu::ShaderSource<'static> {
    if gpu.validation != crate::gpu::Validation::Off {
        if let Ok(module) = wgpu::naga::front::wgsl::parse_str(&source) {
            return wgpu::ShaderSource::Naga(std::borrow::Cow::Owned(module));
        }
    }
    wgpu::ShaderSource::Wgsl(source.into())
}

/// What every kernel's source starts with: the run strides every kernel reads.
pub fn with_prelude(source: &str) -> String {
    format!("{}{source}", include_str!("../../../shaders/runs.wgsl"))
}

/// A shader the kernels can compile, as the device receives it (for tests/shaders.rs).
pub struct ShaderVariant {
    /// The kernel's name and what this variant is specialised for.
    pub label: String,
    /// The whole WGSL, prelude included.
    pub source: String,
    /// Pipeline-overridable constants the pipeline sets.
    pub constants: Vec<(&'static str, f64)>,
    /// The fields of the struct the shader reads as `p` (its parameters), if any.
    pub params: Option<Vec<Field>>,
}

impl ShaderVariant {
    pub fn new<P: Contract>(
        label: String,
        source: String,
        constants: &[(&'static str, f64)],
    ) -> Self {
        ShaderVariant {
            label,
            source: with_prelude(&source),
            constants: constants.to_vec(),
            params: Some(P::fields()),
        }
    }
}

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

    /// The same slice cut to what `runs` runs read when each reads its first `floats`
    /// floats (whole vec4s): a texture mirror then copies only that (the activation
    /// buffers are sized for evaluation blocks far larger than a minibatch).
    pub fn reading(self, floats: u64, runs: u32) -> Self {
        let len = self.bytes();
        let want = (runs.max(1) as u64 - 1) * self.run + (floats * 4).next_multiple_of(16);
        Slice {
            size: Some(want.min(len)),
            ..self
        }
    }

    /// Bytes in the range (to the buffer's end if it has no size).
    pub fn bytes(&self) -> u64 {
        self.size.unwrap_or(self.buf.size() - self.offset)
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

#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Kind {
    Read,
    ReadWrite,
    Uniform,
    /// The per-step uniform, selected with a dynamic offset at record time.
    StepUniform,
    /// A read-only operand mirrored in a texture (mirror.rs), bound from a slice like
    /// `Read`; its dispatch refreshes the mirror before it runs.
    Texture,
}

impl Kind {
    /// The binding of a read-only operand the plan's `operands` may put in a texture.
    pub(super) fn operand(operands: Operands) -> Kind {
        match operands {
            Operands::Buffers => Kind::Read,
            Operands::Textures => Kind::Texture,
        }
    }
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
    /// Textures this dispatch reads, copied from their buffers before it runs.
    mirrors: Vec<std::sync::Arc<Mirror>>,
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

    /// Whether the dispatch reads texture mirrors, which [`Dispatch::record_copies`] must
    /// refresh outside a compute pass first.
    pub fn has_copies(&self) -> bool {
        !self.mirrors.is_empty()
    }

    /// Refreshes the dispatch's texture mirrors from their buffers.
    pub fn record_copies(&self, enc: &mut wgpu::CommandEncoder) {
        for m in &self.mirrors {
            m.record(enc);
        }
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

uniform_struct! {
    /// Run strides per binding, in 4-byte elements (shaders/runs.wgsl).
    pub struct RunStrides {
        stride: [u32; 8],
    }
}

/// Records dispatches (each with its per-step uniform slot) in compute passes, in order. A
/// dispatch that reads texture mirrors ends the pass, since copies are recorded outside
/// passes; with buffer operands everything goes into one pass.
pub fn record_all<'d>(
    enc: &mut wgpu::CommandEncoder,
    dispatches: impl IntoIterator<Item = (&'d Dispatch, u32)>,
) {
    let mut pass: Option<wgpu::ComputePass<'static>> = None;
    for (d, slot) in dispatches {
        if d.has_copies() {
            drop(pass.take());
            d.record_copies(enc);
        }
        let p = pass.get_or_insert_with(|| {
            enc.begin_compute_pass(&Default::default())
                .forget_lifetime()
        });
        d.record(p, slot);
    }
}

/// Splits `n` workgroups over x and y so that neither exceeds the 65535 per-dimension limit;
/// the shaders linearise with `gid.x + gid.y * num_workgroups.x * WG`.
pub fn groups_1d(items: u64, wg: u64) -> [u32; 3] {
    let n = items.div_ceil(wg).max(1);
    let x = n.min(65535);
    let y = n.div_ceil(x);
    [x as u32, y as u32, 1]
}

/// The kernels compiled on a device, by name, checks, bindings, constants and source.
#[derive(Default)]
pub(crate) struct KernelCache(std::sync::Mutex<std::collections::HashMap<String, Kernel>>);

#[derive(Clone)]
pub(super) struct Kernel {
    name: &'static str,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    runs_layout: wgpu::BindGroupLayout,
    kinds: Vec<Kind>,
    /// Built with range assertions (ShaderChecks::Asserted): group 1 also binds the
    /// device's debug buffer.
    asserted: bool,
    /// The WGSL exactly as handed to wgpu (prelude, generated parts and assertions in),
    /// preceded by a comment naming the pipeline-overridable constants the pipeline sets
    /// (matmul's epilogue MODE), for `winsor train --shaders-out`: kernels that differ only
    /// in those constants share one text.
    compiled: std::sync::Arc<str>,
}

/// Writes [`compiled_shaders`] to `dir`, one file per kernel: NAME.wgsl, and NAME-2.wgsl,
/// NAME-3.wgsl, ... where one kernel was compiled in several variants (selection kernels per
/// clip count, products per layout). Each file is written atomically. Returns the count.
pub fn write_compiled_shaders(gpu: &Gpu, dir: &std::path::Path) -> anyhow::Result<usize> {
    use anyhow::Context as _;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("--shaders-out {}: creating the folder", dir.display()))?;
    let all = compiled_shaders(gpu);
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    for (name, text) in &all {
        let n = seen.entry(name).or_default();
        *n += 1;
        let file = match *n {
            1 => format!("{name}.wgsl"),
            k => format!("{name}-{k}.wgsl"),
        };
        crate::output::write_atomic(&dir.join(&file), text.as_bytes())
            .with_context(|| format!("--shaders-out {}", dir.display()))?;
    }
    Ok(all.len())
}

/// Every kernel compiled on `gpu` so far, as (name, the WGSL handed to wgpu after a comment
/// naming its pipeline constants, if any), ordered by
/// name and then text, so that a listing is the same from run to run.
pub fn compiled_shaders(gpu: &Gpu) -> Vec<(&'static str, std::sync::Arc<str>)> {
    let cache = gpu.attached::<KernelCache>();
    let cache = cache.0.lock().unwrap_or_else(|p| p.into_inner());
    let mut all: Vec<_> = cache
        .values()
        .map(|k| (k.name, k.compiled.clone()))
        .collect();
    all.sort();
    all.dedup();
    all
}

impl Kernel {
    pub(super) fn new(
        gpu: &Gpu,
        checks: ShaderChecks,
        name: &'static str,
        source: &str,
        kinds: &[Kind],
        constants: &[(&str, f64)],
    ) -> Self {
        // One compile per distinct shader on a device: the selection kernels are generated
        // per rule and minibatch size, and every trainer (each run of a sweep, each test)
        // asks for its own; lavapipe spends up to a second compiling a large one.
        let key = format!("{name}|{checks:?}|{kinds:?}|{constants:?}|{source}");
        let cache = gpu.attached::<KernelCache>();
        let mut cache = cache.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = cache.get(&key) {
            return k.clone();
        }
        let kernel = Self::compile(gpu, checks, name, source, kinds, constants);
        cache.insert(key, kernel.clone());
        kernel
    }

    fn compile(
        gpu: &Gpu,
        checks: ShaderChecks,
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
                    Kind::Texture => wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: false },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
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
        // group 1: the run strides, and in the asserted build its debug buffer
        let asserted = checks == ShaderChecks::Asserted;
        let runs_entries = [
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            },
            wgpu::BindGroupLayoutEntry {
                binding: asserted::BINDING,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: false },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            },
        ];
        let runs_layout = gpu
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("runs"),
                entries: &runs_entries[..if asserted { 2 } else { 1 }],
            });
        let pl = gpu
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(name),
                bind_group_layouts: &[Some(&layout), Some(&runs_layout)],
                immediate_size: 0,
            });
        let mut source = with_prelude(source);
        if asserted {
            source = asserted::instrument_on(gpu, name, &source);
        }
        let overrides: Vec<String> = constants
            .iter()
            .map(|(k, v)| format!("{k} = {v}"))
            .collect();
        let compiled: std::sync::Arc<str> = if overrides.is_empty() {
            source.as_str().into()
        } else {
            format!(
                "// pipeline-overridable constants set by the pipeline: {}\n{source}",
                overrides.join(", ")
            )
            .into()
        };
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: shader_source(gpu, source),
        };
        let module = match checks {
            ShaderChecks::Bounds => gpu.device.create_shader_module(desc),
            // SAFETY: docs/trusted-shaders.md goes through every kernel: each storage index
            // is guarded in the shader (an early return or a clamp) against a uniform the
            // host sets from the size it allocated, or bounded by the dispatch size; the
            // trainer checks labels, image sizes and minibatch indices before they reach
            // the kernels; every loop is bounded by a constant or a uniform count; no
            // integer divisor is a uniform. tests/e2e.rs trains every rule group both ways
            // and requires the same bits (on lavapipe, whose robust buffer access would
            // also hide a storage read out of range; see the doc).
            // SAFETY: as for Trusted; the asserted build adds a range check to every array
            // index on top of the same module.
            ShaderChecks::Trusted | ShaderChecks::Asserted => unsafe {
                gpu.device
                    .create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
            },
        };
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
            asserted,
            compiled,
        }
    }

    /// `slices` are the storage bindings in order; the uniform (if any) comes from `uniform`,
    /// and the step uniform (if the kernel has one) from `step`.
    pub(super) fn bind<U: Pod + Contract>(
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
            .filter(|(_, k)| matches!(k, Kind::Read | Kind::ReadWrite | Kind::Texture))
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
        let oob = self.asserted.then(|| asserted::debug_buffer(gpu));
        let mut runs_entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: sbuf.as_entire_binding(),
        }];
        if let Some(oob) = &oob {
            runs_entries.push(wgpu::BindGroupEntry {
                binding: asserted::BINDING,
                resource: oob.as_entire_binding(),
            });
        }
        let runs_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("runs"),
            layout: &self.runs_layout,
            entries: &runs_entries,
        });
        // one mirror per texture binding, in binding order
        let mut si = slices.iter();
        let mirrors: Vec<std::sync::Arc<Mirror>> = self
            .kinds
            .iter()
            .filter(|k| matches!(k, Kind::Read | Kind::ReadWrite | Kind::Texture))
            .zip(&mut si)
            .filter(|(k, _)| **k == Kind::Texture)
            .map(|(_, s)| Mirror::shared(gpu, s))
            .collect();
        let mut mi = mirrors.iter();
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
                    Kind::Texture => {
                        si.next().expect("slice per binding");
                        wgpu::BindingResource::TextureView(&mi.next().expect("mirror").view)
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
            mirrors,
            _uniform: [ubuf, sbuf],
        }
    }
}

uniform_struct! {
    /// Per-step uniform (shaders/step.wgsl): which stats slot a step writes, where its
    /// minibatch indices start, and the step's 0-based number in the run (rewritten before
    /// each submission).
    pub struct StepInfo {
        pub slot: u32,
        pub index_base: u32,
        pub t: u32,
        pub _pad: u32,
    }
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

/// The pipelines a kernel plan needs, compiled once per device: the fixed kernels, and the
/// matrix products of the variants the plan names. The selection kernels are specialised per
/// rule and batch size, so trainers build their own ([`select`]).
pub struct Kernels {
    /// The plan every trainer built with these kernels follows.
    pub plan: KernelPlan,
    pub gather: Gather,
    /// One per variant the plan uses.
    matmuls: Vec<Matmul>,
    /// With `plan.sparse_inputs`: the first layer's forward product over non-zero inputs.
    pub sparse: Option<SparseMatmul>,
    pub softmax: SoftmaxXent,
    pub batch_stats: BatchStats,
    pub bias_grad: BiasGrad,
    pub sgd: Sgd,
    pub row_dot: RowDot,
}

impl Kernels {
    pub fn new(gpu: &Gpu, plan: KernelPlan) -> anyhow::Result<Self> {
        plan.validate()?;
        let max = gpu.limits.max_compute_workgroup_storage_size;
        for (name, bytes) in WORKGROUP_BYTES {
            if bytes > max {
                anyhow::bail!(
                    "kernel {name} needs {bytes} bytes of workgroup memory but adapter {} offers {max}",
                    gpu.info.name
                );
            }
        }
        let checks = plan.shader_checks;
        let mut matmuls: Vec<Matmul> = Vec::new();
        for v in [plan.matmul.forward, plan.matmul.backward, plan.matmul.grad] {
            if !matmuls.iter().any(|m| m.variant == v) {
                matmuls.push(Matmul::new(gpu, checks, plan.operands, v));
            }
        }
        Ok(Kernels {
            plan,
            gather: Gather::new(gpu, checks),
            matmuls,
            sparse: plan
                .sparse_inputs
                .then(|| SparseMatmul::new(gpu, checks, plan.operands)),
            softmax: SoftmaxXent::new(gpu, checks),
            batch_stats: BatchStats::new(gpu, checks),
            bias_grad: BiasGrad::new(gpu, checks),
            sgd: Sgd::new(gpu, checks),
            row_dot: RowDot::new(gpu, checks),
        })
    }

    /// The kernels of the plan the adapter calls for ([`KernelPlan::for_adapter`]).
    pub fn for_adapter(gpu: &Gpu) -> anyhow::Result<Self> {
        Self::new(gpu, KernelPlan::for_adapter(&gpu.info))
    }

    fn matmul(&self, v: MatmulVariant) -> &Matmul {
        self.matmuls
            .iter()
            .find(|m| m.variant == v)
            .expect("Kernels::new builds every variant its plan names")
    }

    /// The forward product z = a W^T + b.
    pub fn forward(&self) -> &Matmul {
        self.matmul(self.plan.matmul.forward)
    }

    /// The backward product (errors of the layer below, masked by relu').
    pub fn backward(&self) -> &Matmul {
        self.matmul(self.plan.matmul.backward)
    }

    /// The summed-gradient product d^T a.
    pub fn grad(&self) -> &Matmul {
        self.matmul(self.plan.matmul.grad)
    }
}
