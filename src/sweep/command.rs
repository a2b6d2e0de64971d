//! `winsor sweep`: its options, and the command that parses every cell, opens the device
//! and runs the sweep.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::gpu::args::DeviceArgs;
use crate::train::args::{checkpoint_every, parse_count};

#[derive(Args)]
pub struct SweepArgs {
    /// Plan file (TOML): [train] holds settings of every run and [grid] lists of values to
    /// combine, by `winsor train` option names (see the README).
    #[arg(required_unless_present = "preset")]
    pub plan: Option<PathBuf>,
    /// A built-in plan instead: fig1 (1x2048, mean, noise 0..100), fig2 (1x2048, mean, noise
    /// 25/50/75 with --coherence), fig4 (3x256, noise 0..100 x winsor:C for C in 0, 1, 2,
    /// 4, 8) or similarity (fig2's runs with --similarity and --similarity-save).
    #[arg(long, conflicts_with = "plan")]
    pub preset: Option<String>,
    /// With --preset: full (the paper's steps), medium or quick (fewer steps on training and
    /// test subsets, chosen by measurement; see BENCHMARKS.md).
    #[arg(long, requires = "preset")]
    pub scale: Option<String>,
    /// With --preset: seeds per cell, 0..N, a grid dimension (default 3 at every scale).
    #[arg(long, value_name = "N", requires = "preset")]
    pub seeds: Option<u64>,
    /// The sweep's folder; each run goes into a subfolder named from its grid values.
    /// Default: sweeps/<plan name>.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run only the cells i, i+n, i+2n, ... (0 <= i < n), e.g. 0/4. Default: the Slurm job
    /// array's task (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT), else every cell.
    #[arg(long, value_name = "i/n")]
    pub shard: Option<crate::sweep::Shard>,
    /// Train R runs together, every kernel serving all R at once (runs that share all
    /// settings but noise, rule and seed). Default: as many as fit the device, at most 8 under
    /// the cpu kernel plan and 64 under the gpu plan. Results are bit-identical to running each alone.
    #[arg(long, value_name = "R", value_parser = clap::value_parser!(u64).range(1..))]
    pub concurrent: Option<u64>,
    /// Write each run's checkpoint at every multiple of N steps (0: only every 10 minutes and
    /// on SIGINT/SIGTERM). Default: at each logged step from step 100 on, and every 10 minutes.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_count::<u64>)]
    pub checkpoint_every: Option<u64>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Exit status 1 when some runs failed (the others are done), 2 for an error that stopped it.
pub fn sweep(a: SweepArgs) -> Result<ExitCode> {
    use crate::sweep::{Plan, Prepared, Shard};
    // (clap's `requires` does not hold these here, so they are checked by hand)
    if a.preset.is_none() && (a.scale.is_some() || a.seeds.is_some()) {
        anyhow::bail!(
            "--scale and --seeds go with --preset; a plan file sets its steps, subsets and seeds itself"
        );
    }
    let plan = match (&a.plan, &a.preset) {
        (_, Some(p)) => Plan::preset(p, a.scale.as_deref().unwrap_or("full"), a.seeds)?,
        (Some(path), None) => Plan::from_toml(path)?,
        (None, None) => anyhow::bail!("give a plan file or --preset fig1|fig2|fig4|similarity"),
    };
    let shard = match a.shard {
        Some(s) => Some(s),
        None => Shard::from_env(|k| std::env::var(k).ok())?,
    };
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("sweeps").join(&plan.name));
    // every cell is parsed and checked before anything runs, so a typo fails at once
    let cells = Prepared::all(&plan)?;
    let widest = cells.iter().map(|c| c.config.arch.widest_hidden());
    let (gpu, kernels) = a.device.open(widest.max().unwrap_or(0))?;
    let load = |path: Option<&std::path::Path>| crate::data::load(path);
    let opts = crate::sweep::SweepOptions {
        shard,
        progress: true,
        concurrent: a.concurrent.map(|r| r as usize),
        checkpoint: checkpoint_every(a.checkpoint_every),
    };
    let o = crate::sweep::run(&gpu, &kernels, &plan, cells, &out, &load, opts)?;
    println!(
        "sweep {}: {} runs done, {} finished before, {} failed (this job's share: {} of {}) -> {}",
        plan.name,
        o.done,
        o.skipped,
        o.failed.len(),
        o.mine,
        o.cells,
        out.display()
    );
    if !o.failed.is_empty() {
        for (name, e) in &o.failed {
            eprintln!("failed: {name}: {e}");
        }
        eprintln!(
            "error: {} of the sweep's runs failed (above); rerun the same command to retry them",
            o.failed.len()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
