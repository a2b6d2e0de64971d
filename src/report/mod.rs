//! `winsor report DIR...`: reads run directories and writes figures and checked claims.
//!
//! It writes runs.csv (every run x logged step, with every setting as a column), the paper's
//! figures from the runs that have their data (fig1.png: plain SGD at each noise level;
//! fig2.png and fig3.png: the coherence statistics of section 2.4; fig4.png: winsorization
//! levels x noise levels), similarity.png (`--similarity`: which examples the network treats
//! as alike) and claims.md, each "Expected" claim of PAPER.md checked on the runs
//! at hand. Run directories may come from several folders (a sweep's shards): they are
//! merged.

pub mod claims;
pub mod figures;
pub mod plot;
pub mod runs_csv;
pub mod similarity;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::output::write_atomic;
use figures::banded;
use plot::{Legend, Panel};

/// A CSV table of numbers with named columns (empty cells are NaN).
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Table {
    pub fn read(path: &Path) -> Result<Table> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut lines = text.lines();
        let header: Vec<String> = lines
            .next()
            .with_context(|| format!("{} is empty", path.display()))?
            .split(',')
            .map(str::to_string)
            .collect();
        let rows = lines
            .enumerate()
            .map(|(i, l)| {
                let row: Vec<f64> = l
                    .split(',')
                    .map(|c| {
                        if c.is_empty() {
                            Ok(f64::NAN)
                        } else {
                            c.parse()
                        }
                    })
                    .collect::<Result<_, _>>()
                    .with_context(|| format!("{} line {}: not a number", path.display(), i + 2))?;
                if row.len() != header.len() {
                    bail!(
                        "{} line {}: {} cells for {} columns",
                        path.display(),
                        i + 2,
                        row.len(),
                        header.len()
                    );
                }
                Ok(row)
            })
            .collect::<Result<_>>()?;
        Ok(Table { header, rows })
    }

    /// The (step, value) points of a column, if it exists.
    pub fn series(&self, name: &str) -> Option<Vec<(f64, f64)>> {
        let c = self.header.iter().position(|h| h == name)?;
        Some(self.rows.iter().map(|r| (r[0], r[c])).collect())
    }
}

/// A run directory and what the report reads from it.
pub struct Run {
    pub dir: PathBuf,
    pub noise: f64,
    pub rule: String,
    pub arch: String,
    pub seed: u64,
    /// Every setting of config.toml.
    pub config: toml::Table,
    /// metrics.csv, if the run got as far as its first logged step.
    pub metrics: Option<Table>,
    /// Whether summary.json exists (the run finished).
    pub finished: bool,
    pub coherence: Option<Table>,
    /// similarity.csv (`--similarity`).
    pub similarity: Option<Table>,
}

impl Run {
    /// The clip level C of a winsorized run (mean counts as C = 0); None for other rules.
    pub fn winsor_c(&self) -> Option<f64> {
        match self.rule.as_str() {
            "mean" => Some(0.0),
            r => r.strip_prefix("winsor:")?.parse().ok(),
        }
    }

    /// The protocol in a researcher's terms, from config.toml: "3x36: 31294 parameters, 6000
    /// training examples (5.2 per example), 100 epochs". None for runs whose config.toml
    /// lacks the widths or sizes (made before they were recorded).
    pub fn protocol(&self) -> Option<String> {
        let int = |k: &str| self.config.get(k)?.as_integer();
        let widths: Vec<i64> = self
            .config
            .get("widths")?
            .as_array()?
            .iter()
            .map(|w| w.as_integer())
            .collect::<Option<_>>()?;
        let params: i64 = widths.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
        let n = int("n-train")?;
        let epochs = (int("steps")? * int("batch")?) as f64 / n.max(1) as f64;
        Some(format!(
            "{}: {params} parameters, {n} training examples ({:.1} per example), {epochs:.0} epochs",
            self.arch,
            params as f64 / n.max(1) as f64
        ))
    }

    /// The last logged value of a metrics column.
    pub fn last(&self, column: &str) -> Option<f64> {
        self.metrics.as_ref()?.series(column)?.last().map(|p| p.1)
    }
}

/// The run directories in `dirs`: each one that holds config.toml, or else its
/// subdirectories that do (a sweep's output folder), in name order. A run that cannot be
/// read (a corrupt config.toml or table) is skipped and named, so that one bad run does not
/// stop the report of the others.
pub fn find_runs(dirs: &[PathBuf]) -> Result<Found> {
    let mut found = Vec::new();
    for d in dirs {
        if d.join("config.toml").exists() {
            found.push(d.clone());
            continue;
        }
        let mut subs: Vec<PathBuf> = std::fs::read_dir(d)
            .with_context(|| {
                format!(
                    "reading {}: not a run directory or a folder of runs",
                    d.display()
                )
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("config.toml").exists())
            .collect();
        subs.sort();
        if subs.is_empty() {
            bail!("{}: no run directory (with config.toml) in it", d.display());
        }
        found.extend(subs);
    }
    let mut runs = Found::default();
    for dir in found {
        match read_run(&dir) {
            Ok(run) => runs.runs.push(run),
            Err(e) => runs.skipped.push((dir, format!("{e:#}"))),
        }
    }
    if runs.runs.is_empty() {
        if let Some((dir, e)) = runs.skipped.first() {
            bail!("no run could be read (the first, {}: {e})", dir.display());
        }
    }
    Ok(runs)
}

/// What [`find_runs`] found: the runs it read, and those it could not, each with why.
#[derive(Default)]
pub struct Found {
    pub runs: Vec<Run>,
    pub skipped: Vec<(PathBuf, String)>,
}

/// A config.toml as one table of settings under the names the report reads: a current one's
/// [train] settings, then its [run] record (`data-source` as `data`), then `kernels`; an
/// older one's top-level fields, `noise_percent` as `noise`.
fn flat_config(v: toml::Table) -> toml::Table {
    let mut flat = toml::Table::new();
    match (v.get("train"), v.get("run")) {
        (Some(toml::Value::Table(train)), run) => {
            flat.extend(train.clone());
            if let Some(toml::Value::Table(run)) = run {
                for (k, x) in run {
                    let k = if k == "data-source" {
                        "data".to_string()
                    } else {
                        k.clone()
                    };
                    flat.entry(k).or_insert_with(|| x.clone());
                }
            }
            if let Some(k) = v.get("kernels") {
                flat.insert("kernels".into(), k.clone());
            }
        }
        _ => {
            for (k, x) in v {
                let k = if k == "noise_percent" {
                    "noise".to_string()
                } else {
                    k
                };
                flat.insert(k, x);
            }
        }
    }
    flat
}

/// One run directory's config.toml and tables.
fn read_run(dir: &Path) -> Result<Run> {
    let dir = dir.to_path_buf();
    let path = dir.join("config.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let v: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let v = flat_config(v);
    let get = |k: &str| {
        v.get(k)
            .with_context(|| format!("{}: field {k} is missing", path.display()))
    };
    let table = |name: &str| -> Result<Option<Table>> {
        let p = dir.join(name);
        Ok(if p.exists() {
            Some(Table::read(&p)?)
        } else {
            None
        })
    };
    Ok(Run {
        noise: get("noise")?.as_float().unwrap_or(f64::NAN),
        rule: get("rule")?.as_str().unwrap_or("?").to_string(),
        arch: get("arch")?.as_str().unwrap_or("?").to_string(),
        seed: get("seed")?.as_integer().unwrap_or(0) as u64,
        metrics: table("metrics.csv")?,
        coherence: table("coherence.csv")?,
        similarity: table("similarity.csv")?,
        finished: crate::train::is_finished(&dir),
        config: v,
        dir,
    })
}

/// Writes the report for `dirs` into `out` (default: the first of `dirs`) and returns the
/// files written.
pub fn report(dirs: &[PathBuf], out: Option<&Path>) -> Result<Written> {
    let Found { runs, skipped } = find_runs(dirs)?;
    let all: Vec<&Run> = runs.iter().collect();
    let out = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dirs[0].clone());
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut written = Vec::new();
    let csv = out.join("runs.csv");
    write_atomic(&csv, runs_csv::runs_csv(&runs).as_bytes())?;
    written.push(csv);
    if let Some(path) = figures::fig1(&all, &out)? {
        written.push(path);
    }
    if let Some(path) = figures::fig4(&all, &out)? {
        written.push(path);
    }
    if let Some(path) = figures::examples_png(&all, &out)? {
        written.push(path);
    }
    let coh = coherence_runs(&all);
    if !coh.is_empty() {
        for (file, what, p, c, max_step) in [
            (
                "fig2.png",
                "Figure 2: f_p and f_c",
                "f_p",
                "f_c",
                f64::INFINITY,
            ),
            (
                "fig3.png",
                "Figure 3: cumulative i_p and i_c",
                "i_p",
                "i_c",
                // the steps measured one by one (--coherence-first), where the sums are exact
                coh.iter()
                    .flat_map(|g| g.1.iter())
                    .filter_map(|r| {
                        // `coherence-first` now; a `[coherence]` table's `first` before
                        r.config
                            .get("coherence-first")
                            .or_else(|| r.config.get("coherence")?.get("first"))?
                            .as_integer()
                    })
                    .min()
                    .unwrap_or(10) as f64,
            ),
        ] {
            let path = out.join(file);
            coherence_figure(&path, what, &coh, p, c, max_step)?;
            written.push(path);
        }
    }
    if let Some(path) = similarity::figure(&all, &out)? {
        written.push(path);
    }
    let claims = out.join("claims.md");
    write_atomic(&claims, claims_md(&runs).as_bytes())?;
    written.push(claims);
    Ok(Written {
        files: written,
        skipped,
    })
}

/// What [`report`] wrote, and the run directories it skipped (each with why).
pub struct Written {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<(PathBuf, String)>,
}

/// The runs with coherence.csv at noise levels strictly between 0 and 100, grouped by noise
/// level (every seed in its group).
pub fn coherence_runs<'a>(runs: &[&'a Run]) -> Vec<(f64, Vec<&'a Run>)> {
    by_noise(runs, |r| {
        r.coherence.is_some() && r.noise > 0.0 && r.noise < 100.0
    })
}

/// The runs that `keep` accepts, grouped by noise level (every seed in its group, in seed
/// order), noise levels in order.
pub(crate) fn by_noise<'a>(
    runs: &[&'a Run],
    keep: impl Fn(&Run) -> bool,
) -> Vec<(f64, Vec<&'a Run>)> {
    let mut g: Vec<(f64, Vec<&Run>)> = Vec::new();
    for r in runs.iter().copied().filter(|r| keep(r)) {
        match g.iter_mut().find(|x| x.0 == r.noise) {
            Some((_, v)) => v.push(r),
            None => g.push((r.noise, vec![r])),
        }
    }
    g.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (_, v) in &mut g {
        v.sort_by_key(|r| r.seed);
    }
    g
}

/// fig2.png / fig3.png: per noise level, a panel with the real designation (p and c, the
/// mean over seeds with min-max bands) and a panel with the null worlds (every null world
/// of every seed pooled into one mean and band per quantity).
fn coherence_figure(
    path: &Path,
    title: &str,
    groups: &[(f64, Vec<&Run>)],
    p: &str,
    c: &str,
    max_step: f64,
) -> Result<()> {
    let cut = |v: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
        v.into_iter().filter(|&(s, _)| s <= max_step).collect()
    };
    let col = |r: &Run, name: &str| r.coherence.as_ref().and_then(|t| t.series(name)).map(cut);
    let seeds = groups.iter().map(|g| g.1.len()).max().unwrap_or(1);
    let mut panels = Vec::new();
    for null in [false, true] {
        for (noise, g) in groups {
            let mut series = Vec::new();
            let mut worlds = 0;
            for (i, name) in [p, c].into_iter().enumerate() {
                let per: Vec<Vec<(f64, f64)>> = if null {
                    let mut v = Vec::new();
                    for r in g {
                        for k in 1.. {
                            let Some(s) = col(r, &format!("{name}_null{k}")) else {
                                break;
                            };
                            v.push(s);
                        }
                    }
                    worlds = v.len();
                    v
                } else {
                    g.iter().filter_map(|r| col(r, name)).collect()
                };
                let label = if null {
                    format!("{name}, null worlds")
                } else {
                    name.to_string()
                };
                series.extend(banded(label, i, null, &per));
            }
            // the curves cross, so no corner is free for a legend: the title names them
            let names = format!("{p} blue, {c} red");
            panels.push(Panel {
                title: if null {
                    format!("null worlds ({worlds} pooled), {noise}% noise: {names}, dashed")
                } else {
                    format!("real designation, {noise}% noise: {names}")
                },
                // Figure 2 spans steps 1..thousands on a log scale (step 0, where the claim
                // starts, is in claims.md); Figure 3's first steps are linear
                x_label: if p == "f_p" {
                    "step (log scale)"
                } else {
                    "step"
                }
                .into(),
                log_x: p == "f_p",
                y_range: None,
                legend: Legend::InTitle,
                y_label: if p == "f_p" {
                    "fraction of ||g||^2"
                } else {
                    "cumulative, per example"
                }
                .into(),
                series,
            });
        }
    }
    let definition = groups
        .first()
        .map(|g| claims::definition_of(g.1[0]))
        .unwrap_or("changed");
    plot::grid(
        path,
        &format!(
            "{title} on {} (corrupt = {}){}",
            groups.first().map_or("?", |g| g.1[0].arch.as_str()),
            if definition == "changed" {
                "label changed"
            } else {
                "selected for the permutation"
            },
            if seeds > 1 {
                format!("; mean of {seeds} seeds, band: min to max")
            } else {
                String::new()
            }
        ),
        &panels,
        groups.len(),
    )
}

/// claims.md: each "Expected" claim of PAPER.md that these runs can test, checked on every
/// seed, with PASS only when every seed passes, and the numbers.
pub fn claims_md(runs: &[Run]) -> String {
    let all: Vec<&Run> = runs.iter().collect();
    let mut s = String::from(
        "# Claims checked on these runs\n\nEach claim is an \"Expected\" line of PAPER.md, checked on the runs at hand, separately on every seed: **PASS** only when every seed passes, otherwise **FAIL** with the seeds that fail and their numbers.\n\n",
    );
    s.push_str(&claims::definition_line(&all));
    s.push('\n');
    s.push_str(&claims::experiment1(&all));
    s.push('\n');
    s.push_str(&claims::experiment2(&all));
    s.push('\n');
    s.push_str(&claims::experiment3(&all));
    s.push('\n');
    s.push_str(&claims::similarity(&all));
    s
}

#[derive(Args)]
pub struct ReportArgs {
    /// Run directories, or folders that hold run directories.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write the report. Default: the first DIR.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `winsor report`: writes the report and lists what it wrote and what it skipped.
pub fn command(a: &ReportArgs) -> Result<()> {
    let written = report(&a.dirs, a.out.as_deref())?;
    for (dir, why) in &written.skipped {
        eprintln!("skipped {}: {why}", dir.display());
    }
    for f in written.files {
        println!("wrote {}", f.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_tables_are_named_errors() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("coherence.csv");
        std::fs::write(&p, "step,f_p\n0,0.5\n1,\n2,x\n").unwrap();
        let e = format!("{:#}", Table::read(&p).err().unwrap());
        assert!(e.contains("coherence.csv line 4: not a number"), "{e}");
        std::fs::write(&p, "step,f_p\n0,0.5,7\n").unwrap();
        let e = format!("{:#}", Table::read(&p).err().unwrap());
        assert!(e.contains("line 2: 3 cells for 2 columns"), "{e}");
        // an empty cell is a missing value
        std::fs::write(&p, "step,f_p\n0,0.5\n1,\n").unwrap();
        let t = Table::read(&p).unwrap();
        assert!(t.series("f_p").unwrap()[1].1.is_nan());
        assert!(t.series("f_c").is_none());
        let e = format!("{:#}", find_runs(&[d.path().to_path_buf()]).err().unwrap());
        assert!(e.contains("no run directory"), "{e}");
        // one corrupt run among good ones is skipped and named; only corrupt runs fail
        let good = d.path().join("good");
        std::fs::create_dir(&good).unwrap();
        std::fs::write(
            good.join("config.toml"),
            "noise_percent = 0.0\nrule = \"mean\"\narch = \"1x8\"\nseed = 0\n",
        )
        .unwrap();
        let bad = d.path().join("bad");
        std::fs::create_dir(&bad).unwrap();
        std::fs::write(bad.join("config.toml"), "rule = [").unwrap();
        let f = find_runs(&[d.path().to_path_buf()]).unwrap();
        assert_eq!(f.runs.len(), 1);
        assert_eq!(f.skipped.len(), 1);
        assert!(f.skipped[0].1.contains("bad"), "{:?}", f.skipped);
        let e = format!("{:#}", find_runs(&[bad]).err().unwrap());
        assert!(e.contains("no run could be read"), "{e}");
    }
}
