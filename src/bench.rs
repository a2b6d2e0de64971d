//! `winsor bench`: training-step throughput without evaluation, as the median over several
//! timed windows (these machines are noisy), on the built-in data.

use std::time::Instant;

use std::path::PathBuf;

use anyhow::{Context as _, Result};

use crate::data::{BatchOrder, DataSet, CLASSES};
use crate::gpu::trainer::{RunInit, TrainerSpec};
use crate::gpu::{Gpu, GpuTrainer, KernelPlan, Kernels};
use crate::model::{Arch, Init, Params};
use crate::rule::{Rule, Select};

pub struct BenchSpec {
    pub arch: Arch,
    pub rule: Rule,
    pub select: Select,
    pub batch: usize,
    pub warmup: usize,
    pub window: usize,
    pub windows: usize,
    pub seed: u64,
    /// Runs trained together in the same dispatches (seeds `seed..seed + concurrent`);
    /// the rates are then run-steps per second.
    pub concurrent: usize,
    /// Also time one evaluation over both splits, dispatch by dispatch.
    pub profile_eval: bool,
}

pub struct BenchResult {
    /// Per-dispatch wall times of one step, in step order.
    pub profile: Vec<(&'static str, f64)>,
    /// Per-dispatch wall times of one evaluation (if asked for), summed by kernel name.
    pub eval_profile: Vec<(&'static str, f64)>,
    pub median: f64,
    pub windows: Vec<f64>,
}

pub fn run(gpu: &Gpu, kernels: &Kernels, data: &DataSet, spec: &BenchSpec) -> Result<BenchResult> {
    let widths = spec.arch.widths(data.input_dim(), CLASSES)?;
    let runs = spec.concurrent.max(1);
    let inits: Vec<Params> = (0..runs as u64)
        .map(|r| Params::init(&widths, Init::Code, spec.seed + r))
        .collect();
    let run_inits: Vec<RunInit> = inits
        .iter()
        .map(|init| RunInit {
            labels: &data.train.labels,
            init,
            rule: spec.rule,
        })
        .collect();
    let trainer = GpuTrainer::new_runs(
        gpu,
        kernels,
        data,
        &run_inits,
        TrainerSpec {
            batch: spec.batch,
            select: spec.select,
            lr: 0.1,
            eval_chunk: 10000,
            steps_per_submit: crate::train::STEPS_PER_SUBMIT,
            coherence: false,
        },
    )?;
    let mut orders: Vec<BatchOrder> = (0..runs as u64)
        .map(|r| BatchOrder::new(data.train.n, spec.batch, spec.seed + r))
        .collect();
    // each step: every run's minibatch, in run order
    let mut batches = |n: usize| -> Vec<Vec<u32>> {
        (0..n)
            .map(|_| {
                orders
                    .iter_mut()
                    .flat_map(|o| o.next_batch().to_vec())
                    .collect()
            })
            .collect()
    };
    trainer.train(&batches(spec.warmup))?;
    let profile = trainer.profile_step(&batches(1)[0])?;
    let mut eval_profile: Vec<(&'static str, f64)> = Vec::new();
    if spec.profile_eval {
        for (name, t) in trainer.profile_eval()? {
            match eval_profile.iter_mut().find(|(n, _)| *n == name) {
                Some(e) => e.1 += t,
                None => eval_profile.push((name, t)),
            }
        }
    }
    let mut rates = Vec::new();
    for _ in 0..spec.windows {
        let b = batches(spec.window);
        let t = Instant::now();
        trainer.train(&b)?;
        rates.push((spec.window * runs) as f64 / t.elapsed().as_secs_f64());
    }
    let mut sorted = rates.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let median = if sorted.is_empty() {
        0.0
    } else {
        sorted[sorted.len() / 2]
    };
    Ok(BenchResult {
        profile,
        eval_profile,
        median,
        windows: rates,
    })
}

/// One case of the fixed suite of `winsor bench --suite`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SuiteCase {
    pub arch: String,
    pub rule: String,
    /// Runs in the same dispatches (the sweep's concurrent mode).
    pub runs: usize,
}

/// The fixed suite (documented in the README): 3x256 with mean, winsor:C for C in
/// {1, 2, 4, 8} and the other rule families; the concurrent sweep mode (8 runs) on mean,
/// winsor:1 and winsor:8; 1x2048 with mean, winsor:1 and winsor:8.
pub fn suite() -> Vec<SuiteCase> {
    let case = |arch: &str, rule: &str, runs: usize| SuiteCase {
        arch: arch.into(),
        rule: rule.into(),
        runs,
    };
    let mut out = Vec::new();
    for rule in [
        "mean", "winsor:1", "winsor:2", "winsor:4", "winsor:8", "trim:4", "median", "sign-sum",
        "sum-sign", "rm3",
    ] {
        out.push(case("3x256", rule, 1));
    }
    for rule in ["mean", "winsor:1", "winsor:8"] {
        out.push(case("3x256", rule, 8));
    }
    for rule in ["mean", "winsor:1", "winsor:8"] {
        out.push(case("1x2048", rule, 1));
    }
    out
}

/// `winsor bench`'s options (the device's are the command line's).
#[derive(clap::Args)]
pub struct BenchArgs {
    #[arg(long, default_value = "3x256")]
    pub arch: Arch,
    /// Rules to measure, in order; ratios are given against the first.
    #[arg(long, num_args = 1.., default_values = ["mean", "winsor:1", "winsor:2", "winsor:4", "winsor:8"])]
    pub rule: Vec<Rule>,
    /// Selection kernel for winsor/trim/median (sort, partial or auto).
    #[arg(long, default_value = "auto")]
    pub select: Select,
    #[arg(long, default_value = "100")]
    pub batch: usize,
    /// Untimed steps first (pipeline compilation, caches).
    #[arg(long, default_value = "10")]
    pub warmup: usize,
    /// Steps per timed window.
    #[arg(long, default_value = "50")]
    pub window: usize,
    /// Timed windows; the median is reported.
    #[arg(long, default_value = "5")]
    pub windows: usize,
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Also print the wall time of each dispatch of one step (each submitted on its own).
    #[arg(long)]
    pub profile: bool,
    /// Instead of training steps, time the selection kernel alone on the first layer (its
    /// inputs real MNIST images), in million coordinates per second: on both paths, or on
    /// the one that --select partial or sort names.
    #[arg(long)]
    pub aggregation: bool,
    /// With --aggregation: dispatches per timed window.
    #[arg(long, default_value = "5")]
    pub reps: usize,
    /// Runs trained together in the same dispatches (seeds 0..R), one or more values;
    /// rates are then run-steps per second.
    #[arg(long, num_args = 1.., default_values = ["1"])]
    pub concurrent: Vec<usize>,
    /// Run the fixed suite instead (README): 3x256 and 1x2048, mean, winsor:1/2/4/8, other
    /// rules, and 8 concurrent runs; --arch, --rule and --concurrent are ignored.
    #[arg(long)]
    pub suite: bool,
    /// With --suite: also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE", requires = "suite")]
    pub json: Option<PathBuf>,
}

impl BenchArgs {
    /// The measurement of `rule` on `arch` with `concurrent` runs, timed as these options say.
    fn spec(&self, arch: Arch, rule: Rule, concurrent: usize, profile_eval: bool) -> BenchSpec {
        BenchSpec {
            arch,
            rule,
            select: self.select,
            batch: self.batch,
            warmup: self.warmup,
            window: self.window,
            windows: self.windows,
            seed: 0,
            concurrent,
            profile_eval,
        }
    }
}

/// Runs what `a` asks for on `gpu` and prints its tables to stdout, as markdown.
pub fn print(a: &BenchArgs, gpu: &Gpu, kernels: &Kernels, data: &DataSet) -> Result<()> {
    println!(
        "# winsor bench: {} batch {} on {}, median of {} windows of {} steps after {} warm-up steps",
        if a.suite { "the suite" } else { &a.arch.spec },
        a.batch,
        gpu.adapter_name(),
        a.windows,
        a.window,
        a.warmup
    );
    println!("# {}", kernels.plan.describe());
    if a.aggregation {
        return aggregation_table(a, gpu, &kernels.plan, data);
    }
    if a.suite {
        return suite_table(a, gpu, kernels, data);
    }
    if let Some(r) = a.concurrent.iter().find(|&&r| r == 0) {
        anyhow::bail!("--concurrent {r}: at least one run");
    }
    print!(
        "{}",
        table_head(&[
            "rule",
            "runs",
            "run-steps/s (median)",
            "windows",
            &format!("vs {} x{}", a.rule[0], a.concurrent[0]),
        ])
    );
    let mut base = None;
    for (rule, &concurrent) in a
        .rule
        .iter()
        .flat_map(|r| a.concurrent.iter().map(move |c| (r, c)))
    {
        let r = run(
            gpu,
            kernels,
            data,
            &a.spec(a.arch.clone(), *rule, concurrent, a.profile),
        )
        .with_context(|| format!("benchmarking {rule} with {concurrent} runs"))?;
        let b = *base.get_or_insert(r.median);
        let ws: Vec<String> = r.windows.iter().map(|w| format!("{w:.1}")).collect();
        print!(
            "{}",
            table_row(&[
                &rule.to_string(),
                &concurrent.to_string(),
                &format!("{:.1}", r.median),
                &ws.join(" "),
                &format!("{:.2}x", r.median / b),
            ])
        );
        if a.profile {
            let steps = r.profile.iter().map(|(n, t)| (format!("  step: {n}"), t));
            let evals = (r.eval_profile.iter())
                .map(|(n, t)| (format!("  evaluation, all {n} dispatches"), t));
            for (what, t) in steps.chain(evals) {
                let ms = format!("{:.3} ms", t * 1e3);
                print!("{}", table_row(&[&what, "", &ms, "", ""]));
            }
        }
    }
    Ok(())
}

fn suite_table(a: &BenchArgs, gpu: &Gpu, kernels: &Kernels, data: &DataSet) -> Result<()> {
    let mut report = SuiteReport {
        device: gpu.adapter_name(),
        driver: format!("{} {}", gpu.info.driver, gpu.info.driver_info),
        date: today(),
        commit: commit(),
        kernels: kernels.plan,
        batch: a.batch,
        warmup: a.warmup,
        window: a.window,
        windows: a.windows,
        rows: Vec::new(),
    };
    for case in suite() {
        let rule: Rule = case.rule.parse().map_err(|e: String| anyhow::anyhow!(e))?;
        let r = run(
            gpu,
            kernels,
            data,
            &a.spec(
                case.arch.parse().map_err(|e: String| anyhow::anyhow!(e))?,
                rule,
                case.runs,
                false,
            ),
        )
        .with_context(|| format!("benchmarking {} {} x{}", case.arch, case.rule, case.runs))?;
        eprintln!(
            "{} {} x{}: {:.1} run-steps/s",
            case.arch, case.rule, case.runs, r.median
        );
        report.rows.push(SuiteRow {
            case,
            steps_per_s: r.median,
            windows: r.windows,
        });
        // rewritten after every case, so that a suite cut off by a time limit keeps the cases
        // it finished
        if let Some(path) = &a.json {
            crate::output::write_atomic(path, serde_json::to_string_pretty(&report)?.as_bytes())?;
        }
    }
    print!("{}", report.markdown());
    if let Some(path) = &a.json {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn aggregation_table(a: &BenchArgs, gpu: &Gpu, plan: &KernelPlan, data: &DataSet) -> Result<()> {
    let widths = a.arch.widths(data.input_dim(), crate::data::CLASSES)?;
    println!(
        "# selection kernel alone: layer {}x{} ({} coordinates), batch {}, {} dispatches per window, median of {} windows",
        widths[1],
        widths[0],
        widths[1] * (widths[0] + 1),
        a.batch,
        a.reps,
        a.windows
    );
    print!(
        "{}",
        table_head(&[
            "rule",
            "partial Mcoords/s",
            "partial, zero inputs skipped",
            "sort Mcoords/s",
            "sort / partial",
        ])
    );
    for rule in &a.rule {
        // None: not measured (--select partial or sort measures that path only, the sort path
        // being slow on lavapipe)
        let rate = |select, sparse, wanted: bool| {
            wanted.then(|| {
                aggregation(
                    gpu, plan, data, rule, select, a.batch, widths[1], sparse, a.reps, a.windows,
                )
                .map(|(r, _)| r)
            })
        };
        let partial_wanted = a.select != Select::Sort;
        let partial = rate(Select::Partial, false, partial_wanted);
        let sparse = rate(Select::Partial, true, partial_wanted);
        let sort = rate(
            Select::Sort,
            false,
            a.select != Select::Partial && (rule.selects() || *rule == Rule::Mean),
        );
        let show = |r: &Option<Result<f64>>| match r {
            None => "-".into(),
            Some(Ok(v)) => format!("{v:.1}"),
            Some(Err(e)) => format!("error: {e:#}"),
        };
        let ratio = match (&partial, &sort) {
            (Some(Ok(p)), Some(Ok(s))) => format!("{:.3}x", s / p),
            _ => "-".into(),
        };
        print!(
            "{}",
            table_row(&[
                &rule.to_string(),
                &show(&partial),
                &show(&sparse),
                &show(&sort),
                &ratio,
            ])
        );
    }
    Ok(())
}

/// The one markdown table writer of `winsor bench`: a header row and its rule.
fn table_head(cells: &[&str]) -> String {
    table_row(cells) + &table_row(&vec!["---"; cells.len()]).replace(" --- ", "---")
}

/// One markdown row, `| a | b |`; an empty cell is written `| |`.
fn table_row(cells: &[&str]) -> String {
    let mut row = String::from("|");
    for c in cells {
        if c.is_empty() {
            row.push_str(" |");
        } else {
            row.push_str(&format!(" {c} |"));
        }
    }
    row + "\n"
}

/// The widest hidden layer of the suite's networks, which the kernel plan is fitted to.
pub fn suite_widest() -> Result<usize> {
    let mut widest = 0;
    for case in suite() {
        let arch: Arch = case.arch.parse().map_err(|e: String| anyhow::anyhow!(e))?;
        widest = widest.max(arch.widest_hidden());
    }
    Ok(widest)
}

/// A measured suite case: run-steps per second (median and every window).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SuiteRow {
    #[serde(flatten)]
    pub case: SuiteCase,
    pub steps_per_s: f64,
    pub windows: Vec<f64>,
}

/// The suite's results with where and when they were measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SuiteReport {
    pub device: String,
    pub driver: String,
    pub date: String,
    pub commit: String,
    /// The kernel plan every case ran with.
    pub kernels: crate::gpu::KernelPlan,
    pub batch: usize,
    pub warmup: usize,
    pub window: usize,
    pub windows: usize,
    pub rows: Vec<SuiteRow>,
}

impl SuiteReport {
    /// The markdown table, one row per case, each with the device, date and commit.
    pub fn markdown(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        writeln!(s, "{}\n", self.kernels.describe()).unwrap();
        s.push_str(&table_head(&[
            "arch",
            "rule",
            "runs",
            "run-steps/s (median)",
            "windows",
            "device",
            "date",
            "commit",
        ]));
        for r in &self.rows {
            let ws: Vec<String> = r.windows.iter().map(|w| format!("{w:.1}")).collect();
            s.push_str(&table_row(&[
                &r.case.arch,
                &r.case.rule,
                &r.case.runs.to_string(),
                &format!("{:.1}", r.steps_per_s),
                &ws.join(" "),
                &self.device,
                &self.date,
                &self.commit,
            ]));
        }
        s
    }
}

/// The commit the binary was built from, recorded at build time by build.rs (`git
/// describe`, with -dirty for uncommitted changes; "unknown" outside a git checkout), so it
/// is right on a machine that has only the binary.
pub fn commit() -> String {
    env!("WINSOR_BUILD_COMMIT").to_string()
}

/// Today's date (UTC) as YYYY-MM-DD, from the system clock.
pub fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86400)
        .unwrap_or(0) as i64;
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Throughput of the selection kernel alone, in million coordinates per second: the first
/// layer of `widths` (its inputs the first `rows` MNIST training images, its errors uniform
/// in [-1, 1) with half of them zero), `reps` dispatches in one submission after one untimed warm-up dispatch.
/// Returns the median over `windows` timed submissions and the path that ran.
#[allow(clippy::too_many_arguments)]
pub fn aggregation(
    gpu: &Gpu,
    plan: &crate::gpu::KernelPlan,
    data: &DataSet,
    rule: &Rule,
    select: Select,
    rows: usize,
    fan_out: usize,
    sparse_inputs: bool,
    reps: usize,
    windows: usize,
) -> Result<(f64, Select)> {
    use crate::gpu::kernels::Slice;
    use crate::gpu::select::{LayerOperands, Selection};
    let fan_in = data.input_dim();
    anyhow::ensure!(
        rows <= data.train.n,
        "--batch {rows} exceeds the training set"
    );
    let a: Vec<f32> = data.train.pixels[..rows * fan_in]
        .iter()
        .map(|&p| p as f32 / 255.0)
        .collect();
    let mut r = crate::rng::Rng::new(0, crate::rng::Stream::Test);
    // half the errors zero, as behind ReLU's inactive units
    let d: Vec<f32> = (0..rows * fan_out)
        .map(|_| {
            let x = (2.0 * r.uniform() - 1.0) as f32;
            if r.below(2) == 0 {
                0.0
            } else {
                x
            }
        })
        .collect();
    let kernel = Selection::new(gpu, plan, rule, rows, select)?;
    let db = gpu.storage_init("d", bytemuck::cast_slice(&d));
    let ab = gpu.storage_init("a", bytemuck::cast_slice(&a));
    let gb = gpu.storage("g", (fan_out * (fan_in + 1) * 4) as u64);
    let disp = kernel.bind(
        gpu,
        LayerOperands {
            d: Slice::all(&db),
            a: Slice::all(&ab),
            g: Slice::all(&gb),
            fan_out: fan_out as u32,
            fan_in: fan_in as u32,
            sparse_inputs,
            runs: 1,
            update: None,
        },
    );
    crate::gpu::run(gpu, &disp.iter().collect::<Vec<_>>())?;
    let coords = (fan_out * (fan_in + 1)) as f64;
    let mut rates = Vec::new();
    for _ in 0..windows.max(1) {
        let list: Vec<&crate::gpu::Dispatch> = (0..reps.max(1)).flat_map(|_| disp.iter()).collect();
        let t = Instant::now();
        crate::gpu::run(gpu, &list)?;
        rates.push(coords * list.len() as f64 / t.elapsed().as_secs_f64() / 1e6);
    }
    rates.sort_by(|a, b| a.total_cmp(b));
    Ok((rates[rates.len() / 2], kernel.path()))
}

/// `winsor bench`: the data, the device fitted to the widest network measured, then the
/// tables ([`print`]).
pub fn command(a: &BenchArgs, device: &crate::gpu::args::DeviceArgs) -> Result<()> {
    let data = crate::data::load(a.data.as_deref())?;
    let widest = if a.suite {
        suite_widest()?
    } else {
        a.arch.widest_hidden()
    };
    let (gpu, kernels) = device.open(widest)?;
    print(a, &gpu, &kernels, &data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer gives the rows the tables had when each wrote its own (and
    /// scripts/device-bench.sh parses).
    #[test]
    fn the_table_writer_keeps_the_rows_as_they_were() {
        assert_eq!(
            table_head(&["rule", "runs", "vs mean x1"]),
            "| rule | runs | vs mean x1 |\n|---|---|---|\n"
        );
        assert_eq!(
            table_row(&["winsor:1", "8", "12.3", "12.0 12.5", "0.50x"]),
            "| winsor:1 | 8 | 12.3 | 12.0 12.5 | 0.50x |\n"
        );
        assert_eq!(
            table_row(&["  step: gather", "", "0.125 ms", "", ""]),
            "|   step: gather | | 0.125 ms | | |\n"
        );
    }

    #[test]
    fn the_plan_is_fitted_to_the_suites_widest_layer() {
        assert_eq!(suite_widest().unwrap(), 2048);
    }

    #[test]
    fn suite_covers_the_documented_cases() {
        let s = suite();
        for c in [1, 2, 4, 8] {
            assert!(s
                .iter()
                .any(|x| x.arch == "3x256" && x.rule == format!("winsor:{c}") && x.runs == 1));
        }
        assert!(s.iter().any(|x| x.arch == "1x2048"));
        assert!(s.iter().any(|x| x.runs > 1));
        for x in &s {
            x.rule.parse::<Rule>().unwrap();
            x.arch.parse::<crate::model::Arch>().unwrap();
        }
    }

    #[test]
    fn the_build_commit_is_recorded() {
        // built from a git checkout, build.rs finds the commit; otherwise it says "unknown"
        let c = commit();
        let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".git");
        assert!(!c.is_empty(), "{c}");
        assert_eq!(c == "unknown", !checkout.exists(), "{c}");
    }

    #[test]
    fn today_is_a_date() {
        let d = today();
        assert_eq!(d.len(), 10, "{d}");
        assert!(d.starts_with("20"), "{d}");
    }
}
