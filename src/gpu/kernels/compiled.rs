//! The WGSL of every kernel compiled on a device, exactly as handed to the driver, for
//! `winsor train --shaders-out`.

use super::pipeline::KernelCache;
use crate::gpu::context::Gpu;

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
