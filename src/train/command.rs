//! `winsor train`: replay a config.toml if asked, check the data, open the device, run.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::train::args::{checkpoint_every, parse_cell, TrainArgs};
use crate::train::{RunOptions, SavedConfig};

/// The options `train --config` allows besides the file (they do not change the results).
pub const BESIDES_CONFIG: [&str; 7] = [
    "config",
    "out",
    "force",
    "adapter",
    "validate",
    "checkpoint_every",
    "shaders_out",
];

/// `train --config FILE`: the run's settings and kernel plan from FILE, with `given`'s
/// --out, --force, --adapter, --validate, --checkpoint-every and --shaders-out. `explicit` names the options on the
/// command line; any other setting there is refused rather than silently overridden.
pub fn from_config(
    path: &std::path::Path,
    given: TrainArgs,
    explicit: &[String],
) -> Result<(TrainArgs, SavedConfig)> {
    if let Some(k) = explicit
        .iter()
        .find(|k| !BESIDES_CONFIG.contains(&k.as_str()))
    {
        anyhow::bail!(
            "--{}: the settings come from --config {}; drop the flag, or copy the file and edit the copy",
            k.replace('_', "-"),
            path.display()
        );
    }
    let saved = SavedConfig::read(path)
        .with_context(|| format!("--config {}", path.display()))?
        .with_context(|| {
        format!(
            "--config {}: an older winsor wrote it (no [train] table), so it cannot be re-run; pass its settings as flags",
            path.display()
        )
    })?;
    let plan = crate::sweep::Plan::from_toml(path)?;
    let cells = plan.cells();
    let [cell] = &cells[..] else {
        anyhow::bail!(
            "--config {}: has a [grid] of {} runs; run it with `winsor sweep`",
            path.display(),
            cells.len()
        );
    };
    let mut a = parse_cell(cell.args()).with_context(|| format!("--config {}", path.display()))?;
    a.out = given.out;
    a.force = given.force;
    a.checkpoint_every = given.checkpoint_every;
    a.shaders_out = given.shaders_out;
    a.device.adapter = given.device.adapter;
    a.device.validate = given.device.validate;
    a.device.kernels.recorded = Some(saved.kernels);
    Ok((a, saved))
}

pub fn train(a: TrainArgs, explicit: &[String]) -> Result<()> {
    let (a, recorded) = match a.config.clone() {
        Some(path) => {
            let (a, saved) = from_config(&path, a, explicit)?;
            (a, Some((path, saved)))
        }
        None => (a, None),
    };
    let cfg = a.config()?;
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(format!(
            "{}-noise{}-{}-seed{}",
            cfg.arch.spec,
            cfg.noise,
            cfg.rule.to_string().replace(':', ""),
            cfg.seed
        ))
    });
    let data = crate::data::load(a.data.as_deref())?;
    if let Some((path, saved)) = &recorded {
        let sha = data.sha256();
        if sha != saved.run.data_sha256 {
            anyhow::bail!(
                "--config {}: the data differ from the run's: {} has SHA-256 {}, the run's ({}) had {}; give the run's data",
                path.display(),
                data.source,
                sha,
                saved.run.data_source,
                saved.run.data_sha256
            );
        }
    }
    // checked here too, before the adapter opens, for a quick message
    let (n_train, n_test) = cfg.sizes(&data)?;
    let (gpu, kernels) = a.device.open(cfg.arch.widest_hidden())?;
    if let Some((path, saved)) = &recorded {
        if saved.run.adapter != gpu.adapter_name() {
            eprintln!(
                "note: {} was trained on {}, this is {}: results are bit-identical only on the same device",
                path.display(),
                saved.run.adapter,
                gpu.adapter_name()
            );
        }
    }
    eprintln!(
        "winsor {}: {} on {} ({} train / {} test), {} rule {} noise {}% lr {} batch {} steps {} seed {} -> {}",
        env!("CARGO_PKG_VERSION"),
        cfg.arch.spec,
        data.source,
        n_train,
        n_test,
        gpu.adapter_name(),
        cfg.rule,
        cfg.noise,
        cfg.lr,
        cfg.batch,
        cfg.steps,
        cfg.seed,
        out.display()
    );
    if let Some(dir) = &a.shaders_out {
        // before training, so that a bad folder costs no run
        std::fs::create_dir_all(dir)
            .with_context(|| format!("--shaders-out {}: creating the folder", dir.display()))?;
    }
    let s = crate::train::run(
        &gpu,
        &kernels,
        &data,
        &cfg,
        &RunOptions {
            out: out.clone(),
            force: a.force,
            progress: true,
            parent: None,
            checkpoint: checkpoint_every(a.checkpoint_every),
        },
    )?;
    if let Some(dir) = &a.shaders_out {
        let n = crate::gpu::kernels::write_compiled_shaders(&gpu, dir)?;
        eprintln!("wrote the WGSL of {n} kernels to {}", dir.display());
    }
    let f = &s.final_metrics;
    println!(
        "done: {} steps in {:.1}s ({:.1} steps/s training), train acc {:.4} test acc {:.4} overfit {:.4} -> {}",
        s.steps,
        s.wall_s,
        s.steps_per_s,
        f.train_acc,
        f.test_acc,
        f.overfit,
        out.display()
    );
    Ok(())
}
