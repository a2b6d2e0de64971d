//! `winsor train`'s options, and their parsing into a [`TrainConfig`]: one place for the
//! command line, a sweep cell and a replayed config.toml.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser};

use crate::gpu::args::DeviceArgs;
use crate::model::{Arch, Init};
use crate::rule::{Rule, Select};
use crate::train::{CheckpointEvery, LogGrid, TrainConfig};

/// A sweep cell's settings, parsed exactly as `winsor train` parses its command line.
#[derive(Parser)]
#[command(name = "winsor train", no_binary_name = true)]
pub struct CellArgs {
    #[command(flatten)]
    pub train: TrainArgs,
}

pub fn parse_noise(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number; give a percentage in 0..=100"))?;
    if !(0.0..=100.0).contains(&v) {
        return Err(format!("{v} is outside 0..=100 (it is a percentage)"));
    }
    Ok(v)
}

/// A whole number of 0 or more, with a message that says so (for a negative number, say).
pub fn parse_count<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not a whole number of 0 or more (or is too large)"))
}

pub fn parse_winsor(s: &str) -> Result<f64, String> {
    let c: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number; C is a percentile in [0, 50)"))?;
    Rule::winsor(c)?;
    Ok(c)
}

#[derive(Args)]
pub struct TrainArgs {
    /// Network: DEPTHxWIDTH hidden layers (3x256, 1x2048) or all widths (784,512,128,10).
    #[arg(long, default_value = "3x256")]
    pub arch: Arch,
    /// Weight initialisation (biases start at 0).
    #[arg(long, value_enum, default_value = "code")]
    pub init: Init,
    /// Label noise in percent (0..=100): each training label is selected with this
    /// probability and the selected labels are permuted among themselves.
    #[arg(long, default_value = "0", value_parser = parse_noise, allow_negative_numbers = true)]
    pub noise: f64,
    /// Aggregation rule: mean; winsor:C (clip at the C-th and (100-C)-th percentile, then
    /// mean); trim:C (drop those values, then mean); median; sign-sum[:S] (S * sign of the
    /// summed gradient); sum-sign[:S] (S * sum of per-example signs); rm3, m3, ra3 (median,
    /// median every third step, mean of the last 3 minibatch gradients). S defaults to 0.001.
    #[arg(long, default_value = "mean", conflicts_with = "winsor")]
    pub rule: Rule,
    /// Selection kernel for winsor/trim/median: sort (bitonic network, any C), partial
    /// (keeps the C+1 extremes, fast for small C) or auto (the kernel plan's: partial at every C under
    /// the cpu plan; under the gpu plan partial up to 16 values clipped per side, sort beyond).
    #[arg(long, default_value = "auto")]
    pub select: Select,
    /// Shorthand for --rule winsor:C.
    #[arg(long, value_name = "C", value_parser = parse_winsor, allow_negative_numbers = true)]
    pub winsor: Option<f64>,
    /// Learning rate of plain SGD.
    #[arg(long, default_value = "0.1", allow_negative_numbers = true)]
    pub lr: f64,
    /// Minibatch size; must divide the training-set size (60000 for MNIST).
    #[arg(long, default_value = "100", allow_negative_numbers = true, value_parser = parse_count::<usize>)]
    pub batch: usize,
    /// Training steps (default 60000 = 100 epochs at batch 100; `winsor profile`: 20).
    #[arg(long, allow_negative_numbers = true, value_parser = parse_count::<u64>)]
    pub steps: Option<u64>,
    /// Seed for label noise, initialisation and minibatch order.
    #[arg(long, default_value = "0", allow_negative_numbers = true, value_parser = parse_count::<u64>)]
    pub seed: u64,
    /// Minibatch order: shuffle (a fresh random order each epoch, the paper's) or window:W
    /// (a window of W examples, a multiple of --batch, slides once over the training set
    /// during the run; each example is visited every ~W/B steps while in it, as many times
    /// in all as under shuffle). window:W is the intervention of docs/science.md's
    /// mechanism study.
    #[arg(long, default_value = "shuffle")]
    pub order: crate::data::Order,
    /// When to evaluate: paper (0-9, 10-90 by 10, ..., then every 10000) or every:N.
    #[arg(long, default_value = "paper")]
    pub log_grid: LogGrid,
    /// Run directory. Default: runs/<arch>-noise<N>-<rule>-seed<S>.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite the run in --out, finished or not (every file of it is removed first).
    /// Without it, an unfinished run with the same settings resumes from its checkpoint.
    #[arg(long)]
    pub force: bool,
    /// Re-run a run exactly: its settings and kernel plan from its config.toml (only --out,
    /// --force, --adapter, --validate, --checkpoint-every and --shaders-out may be given
    /// besides).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Write the checkpoint at every multiple of N steps (0: only every 10 minutes and on
    /// SIGINT/SIGTERM). Default: at each logged step from step 100 on, and every 10 minutes.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_count::<u64>)]
    pub checkpoint_every: Option<u64>,
    /// After the run, write the WGSL of every kernel it compiled, exactly as handed to the
    /// driver (the plan's generated parts filled in), to DIR/<kernel>.wgsl.
    #[arg(long, value_name = "DIR")]
    pub shaders_out: Option<PathBuf>,
    /// MNIST-format data folder (train-images-idx3-ubyte[.gz] etc.), or cifar10:DIR for the
    /// CIFAR-10 binary batches. Default: built-in MNIST.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Rows per evaluation chunk on the GPU.
    #[arg(long, default_value = "10000", hide = true)]
    pub eval_chunk: usize,
    /// Measure f_p/f_c (exact and sampled), null worlds, i_p/i_c, alpha and m-coherence at
    /// every logged step and every step up to --coherence-first; writes coherence.csv.
    #[arg(long)]
    pub coherence: bool,
    /// Train on the first N training examples only (a quick look).
    #[arg(long, value_name = "N")]
    pub train_subset: Option<usize>,
    /// Evaluate test accuracy and loss on the first N test examples only (makes frequent
    /// evaluation cheap; the quick presets use it).
    #[arg(long, value_name = "N")]
    pub test_subset: Option<usize>,
    /// Which training examples count as corrupt in pristine_acc/corrupt_acc, examples.csv,
    /// the coherence statistics and the report: changed (the label differs from the
    /// original, the paper's definition) or selected (selected for the permutation; about
    /// 1/10 of those keep their label by chance).
    #[arg(long, value_enum, default_value = "changed")]
    pub corrupt: crate::data::Corrupt,
    /// Measure the exact per-example gradient similarity matrix of N training examples (a
    /// probe drawn from --seed, stratified by class and by pristine/corrupt) at every
    /// logged step (and every step --coherence measures): writes similarity.csv,
    /// similarity_classes.csv and similarity_probe.csv. 1000 is a practical N.
    #[arg(long, value_name = "N", allow_negative_numbers = true,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub similarity: Option<u64>,
    /// With --similarity: how many null worlds (permutations of which probe examples are
    /// pristine and which corrupt), at most 99.
    #[arg(long, default_value = "3", requires = "similarity",
          value_parser = clap::value_parser!(u64).range(0..=99))]
    pub similarity_null_worlds: u64,
    /// With --similarity: also write each measured cosine matrix (N x N, f32) with the
    /// probe's training-set indices, labels and corrupt mask to
    /// similarity/step-S.safetensors (4 N^2 bytes each; the run says the total at its start).
    #[arg(long, requires = "similarity")]
    pub similarity_save: bool,
    /// With --coherence: also measure every step from 0 to this one.
    #[arg(long, default_value = "10", requires = "coherence")]
    pub coherence_first: u64,
    /// With --coherence: how many null worlds (random permutations of which examples are
    /// pristine and which corrupt), at most 999; 99 or more give claims.md's permutation
    /// test a p-value down to 0.01.
    #[arg(long, default_value = "3", requires = "coherence",
          value_parser = clap::value_parser!(u64).range(0..=999))]
    pub null_worlds: u64,
    /// With --coherence: how many fixed random minibatches (of --batch examples) the
    /// minibatch-averaged alpha is taken over.
    #[arg(long, default_value = "4", requires = "coherence")]
    pub coherence_minibatches: usize,
    #[command(flatten)]
    pub device: DeviceArgs,
}

impl TrainArgs {
    /// The training configuration of these options (checked, except against the data).
    pub fn config(&self) -> Result<TrainConfig> {
        let a = self;
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
            order: a.order,
            log_grid: a.log_grid,
            eval_chunk: a.eval_chunk,
            train_subset: a.train_subset,
            test_subset: a.test_subset,
            corrupt: a.corrupt,
            data: a.data.clone(),
            coherence: a
                .coherence
                .then(|| crate::analysis::coherence::CoherenceConfig {
                    first: a.coherence_first,
                    null_worlds: a.null_worlds as usize,
                    minibatches: a.coherence_minibatches,
                    ..Default::default()
                }),
            similarity: a
                .similarity
                .map(|n| crate::analysis::similarity::SimilarityConfig {
                    n: n as usize,
                    null_worlds: a.similarity_null_worlds as usize,
                    save: a.similarity_save,
                }),
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// When a run writes its checkpoint, from `--checkpoint-every`.
pub fn checkpoint_every(n: Option<u64>) -> CheckpointEvery {
    n.map_or(CheckpointEvery::Logged, CheckpointEvery::Steps)
}

/// `winsor train` options a sweep cell (or a config.toml) sets, parsed as the command line
/// would be, with clap's message reduced to its first lines.
pub fn parse_cell(args: Vec<String>) -> Result<TrainArgs> {
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
