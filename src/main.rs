//! The `winsor` command line: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use winsor::gpu::plan::{MatmulPlan, MatmulVariant, Operands, ShaderChecks, Units};
use winsor::gpu::{
    describe_adapters, Gpu, KernelChoice, KernelPlan, Kernels, LimitsChoice, Validation,
};
use winsor::model::{Arch, Init};
use winsor::rule::{Rule, Select};
use winsor::train::{stop, CheckpointEvery, LogGrid, RunOptions, SavedConfig, TrainConfig};

#[derive(Parser)]
#[command(
    name = "winsor",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("WINSOR_BUILD_COMMIT"), ")"),
    about = "Coherent-gradients lab: MLPs on MNIST with per-example gradients and winsorized SGD in WGSL compute shaders"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train an MLP with label noise and a robust aggregation rule; write a run directory.
    Train(TrainArgs),
    /// List the GPU adapters wgpu can see (for --adapter).
    Adapters,
    /// Run a grid of training runs (a plan file or a preset), skipping finished ones.
    Sweep(SweepArgs),
    /// Measure training steps per second (no evaluation), median over timed windows.
    Bench(BenchCmd),
    /// Per-kernel GPU times of training steps (timestamp queries), rates and a Chrome trace.
    Profile(ProfileArgs),
    /// Write the first images of a data set as a PNG grid, to check that it decodes right.
    Preview(PreviewArgs),
    /// Read run directories (single runs or folders of runs) and write figures and claims.md.
    Report(ReportArgs),
}

#[derive(Args)]
struct SweepArgs {
    /// Plan file (TOML): [train] holds settings of every run and [grid] lists of values to
    /// combine, by `winsor train` option names (see the README).
    #[arg(required_unless_present = "preset")]
    plan: Option<PathBuf>,
    /// A built-in plan instead: fig1 (1x2048, mean, noise 0..100), fig2 (1x2048, mean, noise
    /// 25/50/75 with --coherence) or fig4 (3x256, noise 0..100 x winsor:C for C in 0, 1, 2,
    /// 4, 8).
    #[arg(long, conflicts_with = "plan")]
    preset: Option<String>,
    /// With --preset: full (the paper's steps), medium or quick (fewer steps on training and
    /// test subsets, chosen by measurement; see BENCHMARKS.md).
    #[arg(long, requires = "preset")]
    scale: Option<String>,
    /// With --preset: seeds per cell, 0..N, a grid dimension (default 3 at every scale).
    #[arg(long, value_name = "N", requires = "preset")]
    seeds: Option<u64>,
    /// The sweep's folder; each run goes into a subfolder named from its grid values.
    /// Default: sweeps/<plan name>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Run only the cells i, i+n, i+2n, ... (0 <= i < n), e.g. 0/4. Default: the Slurm job
    /// array's task (SLURM_ARRAY_TASK_ID of SLURM_ARRAY_TASK_COUNT), else every cell.
    #[arg(long, value_name = "i/n")]
    shard: Option<winsor::sweep::Shard>,
    /// Train R runs together, every kernel serving all R at once (runs that share all
    /// settings but noise, rule and seed). Default: as many as fit the device, at most 8 under
    /// the cpu kernel plan and 64 under the gpu plan. Results are bit-identical to running each alone.
    #[arg(long, value_name = "R", value_parser = clap::value_parser!(u64).range(1..))]
    concurrent: Option<u64>,
    /// Write each run's checkpoint at every multiple of N steps (0: only every 10 minutes and
    /// on SIGINT/SIGTERM). Default: at each logged step from step 100 on, and every 10 minutes.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_count::<u64>)]
    checkpoint_every: Option<u64>,
    #[command(flatten)]
    device: DeviceArgs,
}

/// A sweep cell's settings, parsed exactly as `winsor train` parses its command line.
#[derive(Parser)]
#[command(name = "winsor train", no_binary_name = true)]
struct CellArgs {
    #[command(flatten)]
    train: TrainArgs,
}

#[derive(Args)]
struct ReportArgs {
    /// Run directories, or folders that hold run directories.
    #[arg(required = true)]
    dirs: Vec<PathBuf>,
    /// Where to write the report. Default: the first DIR.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct PreviewArgs {
    /// MNIST-format data folder, or cifar10:DIR. Default: built-in MNIST.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Which split to show.
    #[arg(long, value_parser = ["train", "test"], default_value = "train")]
    split: String,
    /// How many images.
    #[arg(long, default_value = "100")]
    count: usize,
    /// Images per grid row.
    #[arg(long, default_value = "10")]
    cols: usize,
    /// PNG file to write.
    #[arg(long)]
    out: PathBuf,
}

fn parse_noise(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number; give a percentage in 0..=100"))?;
    if !(0.0..=100.0).contains(&v) {
        return Err(format!("{v} is outside 0..=100 (it is a percentage)"));
    }
    Ok(v)
}

/// A whole number of 0 or more, with a message that says so (for a negative number, say).
fn parse_count<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not a whole number of 0 or more (or is too large)"))
}

fn parse_winsor(s: &str) -> Result<f64, String> {
    let c: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number; C is a percentile in [0, 50)"))?;
    Rule::winsor(c)?;
    Ok(c)
}

#[derive(Args)]
struct DeviceArgs {
    /// GPU adapter: its number in `winsor adapters` or part of its name. Default: the first
    /// real GPU, else any adapter (lavapipe on a CPU-only machine).
    #[arg(long)]
    adapter: Option<String>,
    /// Run under the Khronos Vulkan validation layer (README, "GPU readiness"): on checks
    /// API use and synchronization, gpu-assisted also out-of-bounds shader access. Its
    /// warnings are printed; any error fails the command. Needs vulkan-validationlayers.
    #[arg(long, value_enum, default_value = "off")]
    validate: Validation,
    #[command(flatten)]
    kernels: KernelArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Switch {
    On,
    Off,
}

/// The kernel plan (README, "Kernel plans"): a preset, then any finer overrides. The
/// resolved plan goes into config.toml and summary.json.
#[derive(Args)]
struct KernelArgs {
    /// Kernel plan: auto (cpu on a CPU driver such as lavapipe, gpu otherwise), cpu (tuned
    /// on lavapipe) or gpu (tiled products, dense inputs, sorting network beyond k = 16).
    #[arg(long, value_enum, default_value = "auto")]
    kernels: KernelChoice,
    /// Override the plan: the matrix-product kernel of every product.
    #[arg(long, value_enum)]
    matmul: Option<MatmulVariant>,
    /// Override the plan: skip the first layer's zero pixels in its product and selection.
    #[arg(long, value_enum)]
    sparse_inputs: Option<Switch>,
    /// Override the plan: apply SGD inside the per-example rules' selection kernel.
    #[arg(long, value_enum)]
    fused_sgd: Option<Switch>,
    /// Override the plan: sum the mean and temporal rules' gradient with the streaming
    /// selection kernel instead of the matrix product.
    #[arg(long, value_enum)]
    mean_through_select: Option<Switch>,
    /// Override the plan: output units per invocation of the partial selection (1..=16).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=16))]
    partial_units: Option<u64>,
    /// Override the plan: inputs per invocation of the column partial selection (1..=16).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=16))]
    cols_units: Option<u64>,
    /// Override the plan: the partial selection skips inserting values that cannot enter
    /// the kept set.
    #[arg(long, value_enum)]
    early_reject: Option<Switch>,
    /// Override the plan: the partial selection merges chunks of examples into the kept
    /// values with a sorting and merging network instead of inserting each value.
    #[arg(long, value_enum)]
    chunk_merge: Option<Switch>,
    /// Override the plan: shader modules with wgpu's runtime bounds checks, or trusted
    /// (none; the gpu plan's).
    #[arg(long, value_enum)]
    shader_checks: Option<ShaderChecks>,
    /// Override the plan: the forward products read their operands from the storage
    /// buffers, or from textures the step copies them into (the cpu plan's).
    #[arg(long, value_enum)]
    operands: Option<Operands>,
    /// A plan recorded in a run's config.toml (`train --config`), used as it is.
    #[arg(skip)]
    recorded: Option<KernelPlan>,
}

impl KernelArgs {
    /// The plan for `gpu` and networks whose widest hidden layer is `widest`: the preset
    /// fitted to them, then the overrides.
    fn plan(&self, gpu: &Gpu, widest: usize) -> Result<KernelPlan> {
        if let Some(plan) = self.recorded {
            plan.validate()?;
            return Ok(plan);
        }
        let mut plan = KernelPlan::resolve(self.kernels, gpu).fit_to(widest);
        let on = |s: Switch| matches!(s, Switch::On);
        if let Some(v) = self.matmul {
            plan.matmul = MatmulPlan::all(v);
        }
        if let Some(s) = self.sparse_inputs {
            plan.sparse_inputs = on(s);
        }
        if let Some(s) = self.fused_sgd {
            plan.fused_sgd = on(s);
        }
        if let Some(s) = self.mean_through_select {
            plan.mean_through_select = on(s);
        }
        if let Some(n) = self.partial_units {
            plan.partial_units = Units::Fixed(n as usize);
        }
        if let Some(n) = self.cols_units {
            plan.cols_units = Units::Fixed(n as usize);
        }
        if let Some(s) = self.early_reject {
            plan.partial_early_reject = on(s);
        }
        if let Some(s) = self.chunk_merge {
            plan.partial_chunk_merge = on(s);
        }
        if let Some(c) = self.shader_checks {
            plan.shader_checks = c;
        }
        if let Some(o) = self.operands {
            plan.operands = o;
        }
        plan.validate()?;
        Ok(plan)
    }
}

impl DeviceArgs {
    /// The adapter, and the kernels of the plan asked for.
    fn open(&self, widest: usize) -> Result<(Gpu, Kernels)> {
        let gpu = Gpu::with_options(
            self.adapter.as_deref(),
            LimitsChoice::Adapter,
            self.validate,
        )?;
        let plan = self.kernels.plan(&gpu, widest)?;
        let kernels = Kernels::new(&gpu, plan)?;
        Ok((gpu, kernels))
    }
}

#[derive(Args)]
struct TrainArgs {
    /// Network: DEPTHxWIDTH hidden layers (3x256, 1x2048) or all widths (784,512,128,10).
    #[arg(long, default_value = "3x256")]
    arch: Arch,
    /// Weight initialisation (biases start at 0).
    #[arg(long, value_enum, default_value = "code")]
    init: Init,
    /// Label noise in percent (0..=100): each training label is selected with this
    /// probability and the selected labels are permuted among themselves.
    #[arg(long, default_value = "0", value_parser = parse_noise, allow_negative_numbers = true)]
    noise: f64,
    /// Aggregation rule: mean; winsor:C (clip at the C-th and (100-C)-th percentile, then
    /// mean); trim:C (drop those values, then mean); median; sign-sum[:S] (S * sign of the
    /// summed gradient); sum-sign[:S] (S * sum of per-example signs); rm3, m3, ra3 (median,
    /// median every third step, mean of the last 3 minibatch gradients). S defaults to 0.001.
    #[arg(long, default_value = "mean", conflicts_with = "winsor")]
    rule: Rule,
    /// Selection kernel for winsor/trim/median: sort (bitonic network, any C), partial
    /// (keeps the C+1 extremes, fast for small C) or auto (the kernel plan's: partial at every C under
    /// the cpu plan; under the gpu plan partial up to 16 values clipped per side, sort beyond).
    #[arg(long, default_value = "auto")]
    select: Select,
    /// Shorthand for --rule winsor:C.
    #[arg(long, value_name = "C", value_parser = parse_winsor, allow_negative_numbers = true)]
    winsor: Option<f64>,
    /// Learning rate of plain SGD.
    #[arg(long, default_value = "0.1", allow_negative_numbers = true)]
    lr: f64,
    /// Minibatch size; must divide the training-set size (60000 for MNIST).
    #[arg(long, default_value = "100", allow_negative_numbers = true, value_parser = parse_count::<usize>)]
    batch: usize,
    /// Training steps (default 60000 = 100 epochs at batch 100; `winsor profile`: 20).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_count::<u64>)]
    steps: Option<u64>,
    /// Seed for label noise, initialisation and minibatch order.
    #[arg(long, default_value = "0", allow_negative_numbers = true, value_parser = parse_count::<u64>)]
    seed: u64,
    /// When to evaluate: paper (0-9, 10-90 by 10, ..., then every 10000) or every:N.
    #[arg(long, default_value = "paper")]
    log_grid: LogGrid,
    /// Run directory. Default: runs/<arch>-noise<N>-<rule>-seed<S>.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Overwrite the run in --out, finished or not (every file of it is removed first).
    /// Without it, an unfinished run with the same settings resumes from its checkpoint.
    #[arg(long)]
    force: bool,
    /// Re-run a run exactly: its settings and kernel plan from its config.toml (only --out,
    /// --force, --adapter, --validate, --checkpoint-every and --shaders-out may be given
    /// besides).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Write the checkpoint at every multiple of N steps (0: only every 10 minutes and on
    /// SIGINT/SIGTERM). Default: at each logged step from step 100 on, and every 10 minutes.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_count::<u64>)]
    checkpoint_every: Option<u64>,
    /// After the run, write the WGSL of every kernel it compiled, exactly as handed to the
    /// driver (the plan's generated parts filled in), to DIR/<kernel>.wgsl.
    #[arg(long, value_name = "DIR")]
    shaders_out: Option<PathBuf>,
    /// MNIST-format data folder (train-images-idx3-ubyte[.gz] etc.), or cifar10:DIR for the
    /// CIFAR-10 binary batches. Default: built-in MNIST.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Rows per evaluation chunk on the GPU.
    #[arg(long, default_value = "10000", hide = true)]
    eval_chunk: usize,
    /// Measure f_p/f_c (exact and sampled), null worlds, i_p/i_c, alpha and m-coherence at
    /// every logged step and every step up to --coherence-first; writes coherence.csv.
    #[arg(long)]
    coherence: bool,
    /// Train on the first N training examples only (a quick look).
    #[arg(long, value_name = "N")]
    train_subset: Option<usize>,
    /// Evaluate test accuracy and loss on the first N test examples only (makes frequent
    /// evaluation cheap; the quick presets use it).
    #[arg(long, value_name = "N")]
    test_subset: Option<usize>,
    /// Which training examples count as corrupt in pristine_acc/corrupt_acc, examples.csv,
    /// the coherence statistics and the report: changed (the label differs from the
    /// original, the paper's definition) or selected (selected for the permutation; about
    /// 1/10 of those keep their label by chance).
    #[arg(long, value_enum, default_value = "changed")]
    corrupt: winsor::data::Corrupt,
    /// With --coherence: also measure every step from 0 to this one.
    #[arg(long, default_value = "10", requires = "coherence")]
    coherence_first: u64,
    /// With --coherence: how many null worlds (random permutations of which examples are
    /// pristine and which corrupt), at most 999; 99 or more give claims.md's permutation
    /// test a p-value down to 0.01.
    #[arg(long, default_value = "3", requires = "coherence",
          value_parser = clap::value_parser!(u64).range(0..=999))]
    null_worlds: u64,
    /// With --coherence: how many fixed random minibatches (of --batch examples) the
    /// minibatch-averaged alpha is taken over.
    #[arg(long, default_value = "4", requires = "coherence")]
    coherence_minibatches: usize,
    #[command(flatten)]
    device: DeviceArgs,
}

#[derive(Args)]
struct ProfileArgs {
    /// The run to profile: the options of `winsor train` (--steps: steps profiled, default
    /// 20; --out and the logging options are not used).
    #[command(flatten)]
    train: TrainArgs,
    /// Untimed steps first (pipeline compilation, caches).
    #[arg(long, default_value = "5")]
    warmup: usize,
    /// Write the per-dispatch timings as a Chrome trace (JSON; open in Perfetto).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
}

/// `winsor bench`: its own options (bench.rs) and the device's.
#[derive(Args)]
struct BenchCmd {
    #[command(flatten)]
    bench: winsor::bench::BenchArgs,
    #[command(flatten)]
    device: DeviceArgs,
}

/// The training configuration of `train`'s options (checked, except against the data).
fn train_config(a: &TrainArgs) -> Result<TrainConfig> {
    let rule = match a.winsor {
        Some(c) => Rule::Winsor(c),
        None => a.rule,
    };
    let cfg = TrainConfig {
        arch: a.arch.clone(),
        init: a.init,
        noise: a.noise,
        rule,
        select: a.select,
        lr: a.lr,
        batch: a.batch,
        steps: a.steps.unwrap_or(60000),
        seed: a.seed,
        log_grid: a.log_grid,
        eval_chunk: a.eval_chunk,
        train_subset: a.train_subset,
        test_subset: a.test_subset,
        corrupt: a.corrupt,
        data: a.data.clone(),
        coherence: a
            .coherence
            .then(|| winsor::analysis::coherence::CoherenceConfig {
                first: a.coherence_first,
                null_worlds: a.null_worlds as usize,
                minibatches: a.coherence_minibatches,
                ..Default::default()
            }),
    };
    cfg.validate()?;
    Ok(cfg)
}

/// When a run writes its checkpoint, from `--checkpoint-every`.
fn checkpoint_every(n: Option<u64>) -> CheckpointEvery {
    n.map_or(CheckpointEvery::Logged, CheckpointEvery::Steps)
}

/// `winsor train` options a sweep cell (or a config.toml) sets, parsed as the command line
/// would be, with clap's message reduced to its first lines.
fn parse_cell(args: Vec<String>) -> Result<TrainArgs> {
    CellArgs::try_parse_from(args)
        .map(|c| c.train)
        .map_err(|e| {
            let text = e.render().to_string();
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| !l.starts_with("For more information"))
                .collect();
            anyhow::anyhow!("{}", lines.join("\n").trim().trim_start_matches("error: "))
        })
}

/// The options `train --config` allows besides the file (they do not change the results).
const BESIDES_CONFIG: [&str; 7] = [
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
fn from_config(
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
    let plan = winsor::sweep::Plan::from_toml(path)?;
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

fn train(a: TrainArgs, explicit: &[String]) -> Result<()> {
    let (a, recorded) = match a.config.clone() {
        Some(path) => {
            let (a, saved) = from_config(&path, a, explicit)?;
            (a, Some((path, saved)))
        }
        None => (a, None),
    };
    let cfg = train_config(&a)?;
    let out = a.out.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(format!(
            "{}-noise{}-{}-seed{}",
            cfg.arch.spec,
            cfg.noise,
            cfg.rule.to_string().replace(':', ""),
            cfg.seed
        ))
    });
    let data = winsor::data::load(a.data.as_deref())?;
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
    // the subset sizes are checked here, before the adapter opens
    let subset = data.subsets(cfg.train_subset, cfg.test_subset)?;
    let (n_train, n_test) = (subset.train.n, subset.test.n);
    drop(subset);
    cfg.validate_for(n_train)?;
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
    let s = winsor::train::run(
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
        let n = winsor::gpu::kernels::write_compiled_shaders(&gpu, dir)?;
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

/// Exit status 1 when some runs failed (the others are done), 2 for an error that stopped it.
fn sweep(a: SweepArgs) -> Result<ExitCode> {
    use winsor::sweep::{Plan, Prepared, Shard};
    // (clap's `requires` does not hold these here, so they are checked by hand)
    if a.preset.is_none() && (a.scale.is_some() || a.seeds.is_some()) {
        anyhow::bail!(
            "--scale and --seeds go with --preset; a plan file sets its steps, subsets and seeds itself"
        );
    }
    let plan = match (&a.plan, &a.preset) {
        (_, Some(p)) => Plan::preset(p, a.scale.as_deref().unwrap_or("full"), a.seeds)?,
        (Some(path), None) => Plan::from_toml(path)?,
        (None, None) => anyhow::bail!("give a plan file or --preset fig1|fig2|fig4"),
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
    let cells = plan
        .cells()
        .into_iter()
        .map(|cell| {
            let parsed = parse_cell(cell.args())
                .and_then(|c| Ok((train_config(&c)?, c.data)))
                .with_context(|| format!("sweep {} run {}", plan.name, cell.name))?;
            Ok(Prepared {
                cell,
                config: parsed.0,
                data: parsed.1,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let widest = cells.iter().map(|c| c.config.arch.widest_hidden());
    let (gpu, kernels) = a.device.open(widest.max().unwrap_or(0))?;
    let load = |path: Option<&std::path::Path>| winsor::data::load(path);
    let opts = winsor::sweep::SweepOptions {
        shard,
        progress: true,
        concurrent: a.concurrent.map(|r| r as usize),
        checkpoint: checkpoint_every(a.checkpoint_every),
    };
    let o = winsor::sweep::run(&gpu, &kernels, &plan, cells, &out, &load, opts)?;
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

fn bench(a: BenchCmd) -> Result<()> {
    let data = winsor::data::load(a.bench.data.as_deref())?;
    let widest = if a.bench.suite {
        winsor::bench::suite_widest()?
    } else {
        a.bench.arch.widest_hidden()
    };
    let (gpu, kernels) = a.device.open(widest)?;
    winsor::bench::print(&a.bench, &gpu, &kernels, &data)
}

/// The environment switches the kernel plan replaced: a value left set would otherwise be
/// ignored without a word.
const RETIRED_SWITCHES: [(&str, &str); 5] = [
    ("WINSOR_MATMUL", "--matmul tiled|cpu"),
    ("WINSOR_SPARSE_INPUTS", "--sparse-inputs on|off"),
    ("WINSOR_FUSED_SGD", "--fused-sgd on|off"),
    ("WINSOR_PARTIAL_R", "--partial-units N"),
    ("WINSOR_COLS_R", "--cols-units N"),
];

fn retired_switches() -> Result<()> {
    for (var, flag) in RETIRED_SWITCHES {
        if std::env::var_os(var).is_some() {
            anyhow::bail!(
                "{var} is no longer read: kernel choices are flags now (use {flag}, or --kernels cpu|gpu; README, \"Kernel plans\"); unset {var}"
            );
        }
    }
    Ok(())
}

/// Mesa's Vulkan drivers print "XDG_RUNTIME_DIR is invalid or not set" (twice) when that
/// variable is unset, as on batch nodes and in containers, though compute needs no display.
/// Pointing it at a private folder of ours keeps a normal run quiet. Done first, while the
/// process has one thread, because changing the environment later would race with readers.
#[cfg(target_os = "linux")]
fn quiet_runtime_dir() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    // the owner of /proc/self is this process's user
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("winsor-runtime-{uid}"));
    let _ = std::fs::create_dir(&dir);
    let ours = std::fs::metadata(&dir).is_ok_and(|m| m.is_dir() && m.uid() == uid);
    if ours && std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).is_ok() {
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
    }
}

#[cfg(not(target_os = "linux"))]
fn quiet_runtime_dir() {}

fn main() -> ExitCode {
    quiet_runtime_dir();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // the options given on the command line (not defaults), for `train --config`
    let explicit: Vec<String> = matches
        .subcommand_matches("train")
        .map(|m| {
            m.ids()
                .filter(|id| {
                    m.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
                })
                .map(|id| id.to_string())
                .collect()
        })
        .unwrap_or_default();
    if matches!(cli.command, Command::Train(_) | Command::Sweep(_)) {
        // a signal checkpoints the runs and stops them (exit 130 or 143)
        stop::install();
    }
    // the commands that open a device, where the retired switches used to act
    let opens_device = matches!(
        cli.command,
        Command::Train(_) | Command::Sweep(_) | Command::Bench(_) | Command::Profile(_)
    );
    if let (true, Err(e)) = (opens_device, retired_switches()) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Train(a) => train(a, &explicit),
        Command::Adapters => {
            let list = describe_adapters();
            if list.is_empty() {
                eprintln!("error: {}", winsor::gpu::NO_ADAPTER_HELP);
                return ExitCode::from(2);
            }
            for l in list {
                println!("{l}");
            }
            Ok(())
        }
        Command::Sweep(a) => match sweep(a) {
            Ok(code) => return code,
            Err(e) => return exit_with(&e),
        },
        Command::Bench(a) => bench(a),
        Command::Profile(a) => (|| {
            let mut t = a.train;
            let steps = t.steps.unwrap_or(20);
            t.steps = Some(steps);
            let cfg = train_config(&t)?;
            let data = winsor::data::load(t.data.as_deref())?;
            let (gpu, kernels) = t.device.open(cfg.arch.widest_hidden())?;
            winsor::profile::run(
                &gpu,
                &kernels,
                &data,
                &cfg,
                a.warmup,
                steps as usize,
                a.trace.as_deref(),
            )
        })(),
        Command::Preview(a) => (|| {
            let data = winsor::data::load(a.data.as_deref())?;
            let images = if a.split == "train" {
                &data.train
            } else {
                &data.test
            };
            winsor::data::preview::write_grid(images, a.count, a.cols, &a.out)?;
            let labels: Vec<String> = images.labels[..a.count.min(images.n)]
                .iter()
                .map(|l| l.to_string())
                .collect();
            println!("{}: labels {}", a.out.display(), labels.join(" "));
            Ok(())
        })(),
        Command::Report(a) => (|| {
            let written = winsor::report::report(&a.dirs, a.out.as_deref())?;
            for (dir, why) in &written.skipped {
                eprintln!("skipped {}: {why}", dir.display());
            }
            for f in written.files {
                println!("wrote {}", f.display());
            }
            Ok(())
        })(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => exit_with(&e),
    }
}

/// The message and status for an error: 130 or 143 (and no "error:") for a run stopped by a
/// signal after its checkpoint, 2 otherwise.
fn exit_with(e: &anyhow::Error) -> ExitCode {
    match stop::exit_code_of(e) {
        Some(code) => {
            eprintln!("{e:#}");
            ExitCode::from(code)
        }
        None => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan file may not set a kernel option (the sweep's runs share their dispatches), so
    /// the sweep must know every one of them: a new override missing there would be
    /// accepted in a plan and silently dropped.
    #[test]
    fn the_sweep_refuses_every_kernel_option() {
        let cmd = KernelArgs::augment_args(clap::Command::new("k"));
        let ids: Vec<String> = cmd
            .get_arguments()
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect();
        assert!(ids.contains(&"kernels".to_string()), "{ids:?}");
        let mut known: Vec<&str> = winsor::sweep::plan::KERNEL_OPTIONS.to_vec();
        let mut ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        known.sort_unstable();
        ids.sort_unstable();
        assert_eq!(known, ids);
        // and the CLI itself parses
        Cli::command().debug_assert();
    }
}
