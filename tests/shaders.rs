//! Every shader variant the kernels can emit, compiled without a GPU.
//!
//! Pipelines are created lazily, when a trainer first needs them, and the selection kernels
//! are generated per rule, batch size and vec4 mode, so most variants are never compiled by
//! the tests that run on a device (and none are where CI has no GPU): a variant no test
//! reaches would first fail on a user's machine. Worse, one that compiles through Vulkan
//! (SPIR-V) can still fail in naga's MSL or HLSL back end, which only Metal and DX12 users
//! would meet. So for each variant of `catalog::all()` this test does what wgpu does with it,
//! with naga, the version wgpu 30 uses:
//!
//! - parse the WGSL and validate it with the capabilities wgpu grants a device created with
//!   no features (none that concern compute shaders);
//! - apply the pipeline-overridable constants the pipeline sets;
//! - translate the entry point `main` to SPIR-V, MSL and HLSL with options close to those of
//!   wgpu-hal's Vulkan, Metal and DX12 back ends.
//!
//! It also checks the uniform structs against the Rust structs whose bytes they read, field
//! by field: the parameters `p` against the variant's `params`, the per-step `step`
//! (shaders/common/step.wgsl) against [`StepInfo`] and the run strides `runs` (shaders/common/runs.wgsl)
//! against [`RunStrides`]. Each test collects every failure and reports them all at once.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use naga::back::pipeline_constants::{process_overrides, PipelineConstantError};
use naga::back::{hlsl, msl, spv, PipelineConstants};
use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};
use naga::{AddressSpace, Module, ShaderStage, StorageAccess, TypeInner};
use winsor::gpu::kernels::{catalog, Contract, Field, RunStrides, ShaderVariant, StepInfo};

/// The entry point every kernel declares.
const ENTRY: &str = "main";

/// A variant parsed and validated, or the stage that failed and naga's message.
struct Parsed {
    variant: ShaderVariant,
    module: Result<(Module, ModuleInfo), (&'static str, String)>,
    /// Seconds spent parsing and validating it.
    secs: f64,
}

fn failure(label: &str, stage: &str, message: impl std::fmt::Display) -> String {
    let message = message.to_string();
    format!("[{label}] {stage}: {}", message.trim_end())
}

/// `f` of every item, in order, on all available cores (the variants differ a lot in size,
/// so each thread takes the next item when it is done).
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items.len().max(1));
    let next = AtomicUsize::new(0);
    let mut out: Vec<(usize, R)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker thread"))
            .collect()
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Every variant, parsed and validated once for all the tests of this file.
fn parsed() -> &'static [Parsed] {
    static PARSED: OnceLock<Vec<Parsed>> = OnceLock::new();
    PARSED.get_or_init(|| {
        let variants = catalog::all();
        let modules = par_map(&variants, |v| {
            let start = Instant::now();
            (parse_and_validate(&v.source), start.elapsed().as_secs_f64())
        });
        variants
            .into_iter()
            .zip(modules)
            .map(|(variant, (module, secs))| Parsed {
                variant,
                module,
                secs,
            })
            .collect()
    })
}

fn parse_and_validate(source: &str) -> Result<(Module, ModuleInfo), (&'static str, String)> {
    let module =
        naga::front::wgsl::parse_str(source).map_err(|e| ("parse", e.emit_to_string(source)))?;
    // What wgpu-core grants a device requested with no features beyond timestamp queries
    // (src/gpu/context.rs): none of the capabilities naga checks in compute shaders. Empty
    // rather than `Capabilities::default()`, whose two flags concern fragment shaders only.
    let info = Validator::new(ValidationFlags::all(), Capabilities::empty())
        .validate(&module)
        .map_err(|e| ("validate", e.emit_to_string(source)))?;
    Ok((module, info))
}

#[test]
fn the_catalog_is_complete_and_labels_are_unique() {
    let all = parsed();
    assert!(
        all.len() > 100,
        "catalog::all() lists only {} variants",
        all.len()
    );
    let mut seen = HashSet::new();
    let dups: Vec<&str> = all
        .iter()
        .map(|p| p.variant.label.as_str())
        .filter(|l| !seen.insert(*l))
        .collect();
    assert!(dups.is_empty(), "labels listed twice: {dups:?}");
}

#[test]
fn every_variant_translates_to_spirv_msl_and_hlsl() {
    let all = parsed();
    let start = Instant::now();
    let results = par_map(all, translate);
    let mut failures: Vec<String> = Vec::new();
    // CPU seconds (parse, validate and translate) per kernel, to see what dominates
    let mut per_kernel: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for (p, (fails, secs)) in all.iter().zip(results) {
        failures.extend(fails);
        let kernel = p.variant.label.split(' ').next().unwrap_or("");
        let entry = per_kernel.entry(kernel).or_default();
        *entry = (entry.0 + 1, entry.1 + p.secs + secs);
    }
    let mut per_kernel: Vec<_> = per_kernel.into_iter().collect();
    per_kernel.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    eprintln!(
        "{} variants translated in {:.1} s; CPU seconds per kernel (variants): {}",
        all.len(),
        start.elapsed().as_secs_f64(),
        per_kernel
            .iter()
            .map(|(k, (n, s))| format!("{k} {s:.1} ({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert!(
        failures.is_empty(),
        "{} of {} shader variants fail:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n\n")
    );
}

/// The failures of one variant (empty if it translates everywhere), and the seconds it took.
fn translate(p: &Parsed) -> (Vec<String>, f64) {
    let start = Instant::now();
    let label = &p.variant.label;
    let source = &p.variant.source;
    let (module, info) = match &p.module {
        Ok(m) => m,
        Err((stage, message)) => return (vec![failure(label, stage, message)], 0.0),
    };
    let mut fails = Vec::new();
    let constants: PipelineConstants = p
        .variant
        .constants
        .iter()
        .map(|&(name, value)| (name.to_string(), value))
        .collect();
    let (module, info) = match process_overrides(
        module,
        info,
        Some((ShaderStage::Compute, ENTRY)),
        &constants,
    ) {
        Ok(m) => m,
        Err(PipelineConstantError::ValidationError(e)) => {
            let message = format!(
                "validation after the overrides: {}",
                e.emit_to_string(source)
            );
            return (vec![failure(label, "override", message)], 0.0);
        }
        Err(e) => {
            return (
                vec![failure(label, "override", format!("{e} ({e:?})"))],
                0.0,
            )
        }
    };
    if let Err(e) = spirv(&module, &info) {
        fails.push(failure(label, "spv", e));
    }
    if let Err(e) = metal(&module, &info) {
        fails.push(failure(label, "msl", e));
    }
    if let Err(e) = hlsl(&module, &info) {
        fails.push(failure(label, "hlsl", e));
    }
    (fails, start.elapsed().as_secs_f64())
}

/// What the kernels' pipelines ask for: bounds checks on (the default of
/// `create_shader_module`), workgroup memory not zeroed (`zero_initialize_workgroup_memory:
/// false` in src/gpu/kernels/mod.rs).
fn bounds_checks() -> naga::proc::BoundsCheckPolicies {
    let restrict = naga::proc::BoundsCheckPolicy::Restrict;
    naga::proc::BoundsCheckPolicies {
        index: restrict,
        buffer: restrict,
        image_load: restrict,
        binding_array: naga::proc::BoundsCheckPolicy::Unchecked,
    }
}

/// wgpu-hal's Vulkan options on a Vulkan 1.0 device (SPIR-V 1.0), the bindings as declared.
fn spirv(module: &Module, info: &ModuleInfo) -> Result<(), String> {
    let options = spv::Options {
        lang_version: (1, 0),
        flags: spv::WriterFlags::LABEL_VARYINGS | spv::WriterFlags::FORCE_POINT_SIZE,
        bounds_check_policies: bounds_checks(),
        zero_initialize_workgroup_memory: spv::ZeroInitializeWorkgroupMemoryMode::None,
        ..spv::Options::default()
    };
    let pipeline = spv::PipelineOptions {
        shader_stage: ShaderStage::Compute,
        entry_point: ENTRY.into(),
    };
    spv::write_vec(module, info, &options, Some(&pipeline))
        .map(drop)
        .map_err(|e| format!("{e} ({e:?})"))
}

/// wgpu-hal's Metal options for MSL 2.0 (macOS 10.13), with the slots it assigns: one buffer
/// slot per buffer binding in order, then the buffer of runtime array sizes; one texture slot
/// per texture binding.
fn metal(module: &Module, info: &ModuleInfo) -> Result<(), String> {
    let mut bound: Vec<_> = module
        .global_variables
        .iter()
        .filter_map(|(_, g)| g.binding.map(|b| (b, g.space)))
        .collect();
    bound.sort_by_key(|(b, _)| (b.group, b.binding));
    // buffers and textures (the texture mirrors of `Operands::Textures`) have separate slots
    let mut resources = msl::BindingMap::new();
    let (mut buffers, mut textures) = (0, 0);
    for (binding, space) in &bound {
        let target = match space {
            AddressSpace::Handle => {
                textures += 1;
                msl::BindTarget {
                    texture: Some(textures - 1),
                    ..Default::default()
                }
            }
            _ => {
                buffers += 1;
                msl::BindTarget {
                    buffer: Some(buffers - 1),
                    mutable: matches!(space, AddressSpace::Storage { access } if access.contains(StorageAccess::STORE)),
                    ..Default::default()
                }
            }
        };
        resources.insert(*binding, target);
    }
    let entry = msl::EntryPointResources {
        resources,
        immediates_buffer: None,
        sizes_buffer: Some(buffers),
    };
    let options = msl::Options {
        lang_version: (2, 0),
        per_entry_point_map: BTreeMap::from([(ENTRY.to_string(), entry)]),
        fake_missing_bindings: false,
        bounds_check_policies: bounds_checks(),
        zero_initialize_workgroup_memory: false,
        ..msl::Options::default()
    };
    let pipeline = msl::PipelineOptions {
        entry_point: Some((ShaderStage::Compute, ENTRY.into())),
        vertex_pulling_transform: true,
        ..msl::PipelineOptions::default()
    };
    let (_, translation) =
        msl::write_string(module, info, &options, &pipeline).map_err(|e| format!("{e} ({e:?})"))?;
    match translation.entry_point_names.first() {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(format!("entry point: {e} ({e:?})")),
        None => Err("no entry point written".into()),
    }
}

/// wgpu-hal's DX12 options at its lowest shader model (5.1), register = binding and space =
/// group.
fn hlsl(module: &Module, info: &ModuleInfo) -> Result<(), String> {
    let options = hlsl::Options {
        shader_model: hlsl::ShaderModel::V5_1,
        zero_initialize_workgroup_memory: false,
        restrict_indexing: true,
        ..hlsl::Options::default()
    };
    let pipeline = hlsl::PipelineOptions {
        entry_point: Some((ShaderStage::Compute, ENTRY.into())),
    };
    let mut out = String::new();
    let reflection = hlsl::Writer::new(&mut out, &options, &pipeline)
        .write(module, info, None)
        .map_err(|e| format!("{e} ({e:?})"))?;
    match reflection.entry_point_names.first() {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(format!("entry point: {e} ({e:?})")),
        None => Err("no entry point written".into()),
    }
}

#[test]
fn uniform_structs_match_the_rust_structs() {
    let all = parsed();
    let step = StepInfo::fields();
    let runs = RunStrides::fields();
    let mut failures = Vec::new();
    let mut with_step = 0;
    for p in all {
        let label = &p.variant.label;
        let Ok((module, _)) = &p.module else {
            // reported by the translation test
            continue;
        };
        for (_, g) in module.global_variables.iter() {
            let name = g.name.as_deref().unwrap_or("");
            if g.space == AddressSpace::Uniform && !["p", "step", "runs"].contains(&name) {
                failures.push(failure(
                    label,
                    "contract",
                    format!("uniform `{name}` has no Rust struct to check"),
                ));
            }
        }
        match &p.variant.params {
            Some(fields) => compare(label, module, "p", fields, &mut failures),
            None if uniform(module, "p").is_some() => failures.push(failure(
                label,
                "contract p",
                "the shader reads a uniform `p` but the variant names no Rust struct",
            )),
            None => {}
        }
        if uniform(module, "step").is_some() {
            with_step += 1;
            compare(label, module, "step", &step, &mut failures);
        }
        compare(label, module, "runs", &runs, &mut failures);
    }
    assert!(
        with_step > 0,
        "no variant reads the per-step uniform `step`"
    );
    assert!(
        failures.is_empty(),
        "{} uniform contract failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The global `name` in the uniform address space.
fn uniform<'m>(module: &'m Module, name: &str) -> Option<&'m naga::GlobalVariable> {
    module
        .global_variables
        .iter()
        .map(|(_, g)| g)
        .find(|g| g.space == AddressSpace::Uniform && g.name.as_deref() == Some(name))
}

/// Checks the WGSL struct of uniform `name` against the Rust fields: the same named fields
/// (those starting with `_` are padding and may differ) at the same offsets with the same
/// sizes, and the same size in all.
fn compare(label: &str, module: &Module, name: &str, rust: &[Field], failures: &mut Vec<String>) {
    let stage = format!("contract {name}");
    let mut fail = |m: String| failures.push(failure(label, &stage, m));
    let Some(global) = uniform(module, name) else {
        fail(format!("no uniform `{name}` in the shader"));
        return;
    };
    let TypeInner::Struct { members, span } = &module.types[global.ty].inner else {
        fail(format!("uniform `{name}` is not a struct"));
        return;
    };
    for m in members {
        let mname = m.name.as_deref().unwrap_or("");
        let (offset, size) = (
            m.offset as usize,
            module.types[m.ty].inner.size(module.to_ctx()) as usize,
        );
        match rust.iter().find(|r| r.name == mname) {
            Some(r) if (r.offset, r.size) != (offset, size) => fail(format!(
                "field `{mname}`: WGSL offset {offset} size {size}, Rust offset {} size {}",
                r.offset, r.size
            )),
            Some(_) => {}
            None if !mname.starts_with('_') => fail(format!(
                "WGSL field `{mname}` (offset {offset} size {size}) is not in the Rust struct"
            )),
            None => {}
        }
    }
    for r in rust.iter().filter(|r| !r.name.starts_with('_')) {
        if !members.iter().any(|m| m.name.as_deref() == Some(r.name)) {
            fail(format!(
                "Rust field `{}` (offset {} size {}) is not in the WGSL struct",
                r.name, r.offset, r.size
            ));
        }
    }
    // The Rust structs are #[repr(C)] of 4-byte fields, so their size is where the last field
    // ends; the WGSL struct's span is where its last member ends, rounded up to its alignment.
    let rust_size = rust.iter().map(|r| r.offset + r.size).max().unwrap_or(0);
    if *span as usize != rust_size {
        fail(format!(
            "WGSL struct is {span} bytes, the Rust struct {rust_size}"
        ));
    }
}

/// The struct check itself reports what it should: a moved field, a field missing on either
/// side (padding excepted) and a size mismatch.
#[test]
fn the_struct_check_finds_mismatches() {
    let source = "struct Params { a: u32, b: vec2<u32>, _pad: u32, only_wgsl: u32 }
        @group(0) @binding(0) var<uniform> p: Params;
        @compute @workgroup_size(1) fn main() { _ = p.a; }";
    let module = naga::front::wgsl::parse_str(source).expect("test WGSL parses");
    let field = |name, offset, size| Field { name, offset, size };
    let rust = [
        field("a", 0, 4),
        field("b", 4, 8),
        field("_pad1", 12, 4),
        field("only_rust", 16, 4),
    ];
    let mut failures = Vec::new();
    compare("test", &module, "p", &rust, &mut failures);
    let expected = [
        "field `b`: WGSL offset 8 size 8, Rust offset 4 size 8",
        "WGSL field `only_wgsl` (offset 20 size 4)",
        "Rust field `only_rust` (offset 16 size 4)",
        "WGSL struct is 24 bytes, the Rust struct 20",
    ];
    assert_eq!(failures.len(), expected.len(), "{failures:#?}");
    for (f, e) in failures.iter().zip(expected) {
        assert!(f.contains(e), "{f:?} should say {e:?}");
    }
    failures.clear();
    compare("test", &module, "step", &rust, &mut failures);
    assert!(failures[0].contains("no uniform `step`"), "{failures:?}");
}
