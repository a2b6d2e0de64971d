//! Pipeline creation: a kernel's WGSL with the run strides prepended (shaders/common/runs.wgsl),
//! compiled once per device with the plan's checks, its bind-group layouts, and `bind`,
//! which turns slices and a uniform into a [`Dispatch`].

use std::num::NonZeroU64;

use bytemuck::Pod;

use super::asserted;
use super::contract::{Contract, Field};
use super::dispatch::{Dispatch, Work};
use super::mirror::Mirror;
use super::slice::Slice;
use crate::gpu::context::Gpu;
use crate::gpu::plan::{Operands, ShaderChecks};

/// The module source handed to wgpu. Under `--validate`, the WGSL parsed here into naga's
/// IR: wgpu's debug flag (which the validation layer needs to send messages) otherwise
/// embeds the WGSL text in the SPIR-V as source language 10 (WGSL), which the SPIR-V
/// validator inside layers before 1.3.250 rejects as invalid, and then validates nothing
/// else of the module. From IR, wgpu emits the same SPIR-V without the embedded text. A
/// parse error falls back to the text, so that wgpu reports it as it always does.
fn shader_source(gpu: &Gpu, source: String) -> wgpu::ShaderSource<'static> {
    if gpu.validation != crate::gpu::validation::Validation::Off {
        if let Ok(module) = wgpu::naga::front::wgsl::parse_str(&source) {
            return wgpu::ShaderSource::Naga(std::borrow::Cow::Owned(module));
        }
    }
    wgpu::ShaderSource::Wgsl(source.into())
}

/// What every kernel's source starts with: the run strides every kernel reads.
pub fn with_prelude(source: &str) -> String {
    format!(
        "{}{source}",
        include_str!("../../../shaders/common/runs.wgsl")
    )
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

#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum Kind {
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
    pub(crate) fn operand(operands: Operands) -> Kind {
        match operands {
            Operands::Buffers => Kind::Read,
            Operands::Textures => Kind::Texture,
        }
    }
}

uniform_struct! {
    /// Run strides per binding, in 4-byte elements (shaders/common/runs.wgsl).
    pub struct RunStrides {
        stride: [u32; 8],
    }
}

/// The kernels compiled on a device, by name, checks, bindings, constants and source.
#[derive(Default)]
pub(crate) struct KernelCache(
    pub(super) std::sync::Mutex<std::collections::HashMap<String, Kernel>>,
);

#[derive(Clone)]
pub(crate) struct Kernel {
    pub(super) name: &'static str,
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
    pub(super) compiled: std::sync::Arc<str>,
}

impl Kernel {
    pub(crate) fn new(
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
    pub(crate) fn bind<U: Pod + Contract>(
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
