//! `winsor report DIR...`: reads run directories and writes figures and checked claims.
//!
//! It writes runs.csv (every run x logged step, with every setting as a column), the paper's
//! figures from the runs that have their data (fig1.png: plain SGD at each noise level;
//! fig2.png and fig3.png: the coherence statistics of section 2.4; fig4.png: winsorization
//! levels x noise levels) and claims.md, each "Expected" claim of PAPER.md checked on the runs
//! at hand. Run directories may come from several folders (a sweep's shards): they are
//! merged.

pub mod claims;
pub mod figures;
pub mod plot;
pub mod runs_csv;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::output::write_atomic;
use plot::{Panel, Series};

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
}

impl Run {
    /// The clip level C of a winsorized run (mean counts as C = 0); None for other rules.
    pub fn winsor_c(&self) -> Option<f64> {
        match self.rule.as_str() {
            "mean" => Some(0.0),
            r => r.strip_prefix("winsor:")?.parse().ok(),
        }
    }

    /// The last logged value of a metrics column.
    pub fn last(&self, column: &str) -> Option<f64> {
        self.metrics.as_ref()?.series(column)?.last().map(|p| p.1)
    }
}

/// The run directories in `dirs`: each one that holds config.toml, or else its
/// subdirectories that do (a sweep's output folder), in name order.
pub fn find_runs(dirs: &[PathBuf]) -> Result<Vec<Run>> {
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
    found
        .into_iter()
        .map(|dir| {
            let path = dir.join("config.toml");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let v: toml::Table =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
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
                noise: get("noise_percent")?.as_float().unwrap_or(f64::NAN),
                rule: get("rule")?.as_str().unwrap_or("?").to_string(),
                arch: get("arch")?.as_str().unwrap_or("?").to_string(),
                seed: get("seed")?.as_integer().unwrap_or(0) as u64,
                metrics: table("metrics.csv")?,
                coherence: table("coherence.csv")?,
                finished: dir.join(crate::train::DONE_MARKER).exists(),
                config: v,
                dir,
            })
        })
        .collect()
}

/// Writes the report for `dirs` into `out` (default: the first of `dirs`) and returns the
/// files written.
pub fn report(dirs: &[PathBuf], out: Option<&Path>) -> Result<Vec<PathBuf>> {
    let runs = find_runs(dirs)?;
    let out = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dirs[0].clone());
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut written = Vec::new();
    let csv = out.join("runs.csv");
    write_atomic(&csv, runs_csv::runs_csv(&runs).as_bytes())?;
    written.push(csv);
    if let Some(path) = figures::fig1(&runs, &out)? {
        written.push(path);
    }
    if let Some(path) = figures::fig4(&runs, &out)? {
        written.push(path);
    }
    if let Some(path) = figures::examples_png(&runs, &out)? {
        written.push(path);
    }
    // one coherence run per noise level (the lowest seed), noisy levels only
    let mut coh: Vec<&Run> = Vec::new();
    for r in runs
        .iter()
        .filter(|r| r.coherence.is_some() && r.noise > 0.0 && r.noise < 100.0)
    {
        match coh.iter_mut().find(|c| c.noise == r.noise) {
            Some(c) if c.seed <= r.seed => {}
            Some(c) => *c = r,
            None => coh.push(r),
        }
    }
    coh.sort_by(|a, b| a.noise.total_cmp(&b.noise));
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
                10.0,
            ),
        ] {
            let path = out.join(file);
            coherence_figure(&path, what, &coh, p, c, max_step)?;
            written.push(path);
        }
    }
    let claims = out.join("claims.md");
    write_atomic(&claims, claims_md(&runs).as_bytes())?;
    written.push(claims);
    Ok(written)
}

fn coherence_figure(
    path: &Path,
    title: &str,
    runs: &[&Run],
    p: &str,
    c: &str,
    max_step: f64,
) -> Result<()> {
    let cut = |v: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
        v.into_iter().filter(|&(s, _)| s <= max_step).collect()
    };
    let mut panels = Vec::new();
    for null in [false, true] {
        for r in runs {
            let t = r.coherence.as_ref().expect("coherence runs");
            let mut series = Vec::new();
            if !null {
                for (i, name) in [p, c].into_iter().enumerate() {
                    if let Some(v) = t.series(name) {
                        series.push(Series {
                            name: name.to_string(),
                            color: i,
                            dashed: false,
                            points: cut(v),
                        });
                    }
                }
            } else {
                for k in 1.. {
                    let (Some(vp), Some(vc)) = (
                        t.series(&format!("{p}_null{k}")),
                        t.series(&format!("{c}_null{k}")),
                    ) else {
                        break;
                    };
                    series.push(Series {
                        name: format!("{p} null {k}"),
                        color: 0,
                        dashed: k > 1,
                        points: cut(vp),
                    });
                    series.push(Series {
                        name: format!("{c} null {k}"),
                        color: 1,
                        dashed: k > 1,
                        points: cut(vc),
                    });
                }
            }
            panels.push(Panel {
                title: format!(
                    "{} world, {}% noise ({})",
                    if null { "null" } else { "real" },
                    r.noise,
                    r.arch
                ),
                x_label: "step".into(),
                log_x: false,
                y_range: None,
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
    plot::grid(path, title, &panels, runs.len())
}

/// claims.md: each "Expected" claim of PAPER.md that these runs can test, with PASS or FAIL
/// and the numbers, and the others marked as not testable.
pub fn claims_md(runs: &[Run]) -> String {
    let mut s = String::from(
        "# Claims checked on these runs\n\nEach claim is an \"Expected\" line of PAPER.md, checked on the runs at hand.\n\n",
    );
    s.push_str(&claims::experiment1(runs));
    s.push('\n');
    s.push_str(&claims::experiment3(runs));
    s.push('\n');
    s.push_str("## Section 2.4 (Figure 2): f_p starts above f_c and they cross after a few steps; null worlds do not cross\n\n");
    for noise in [25.0, 50.0] {
        let Some(r) = runs
            .iter()
            .filter(|r| r.noise == noise && r.coherence.is_some())
            .min_by_key(|r| r.seed)
        else {
            s.push_str(&format!(
                "- {noise}% noise: not testable (no run with --coherence at this noise level)\n"
            ));
            continue;
        };
        let t = r.coherence.as_ref().expect("filtered");
        let (Some(fp), Some(fc)) = (t.series("f_p"), t.series("f_c")) else {
            s.push_str(&format!(
                "- {noise}% noise: not testable ({} lacks f_p)\n",
                r.dir.display()
            ));
            continue;
        };
        let last = fp.last().map_or(0.0, |x| x.0);
        let (s0, p0, c0) = (fp[0].0, fp[0].1, fc[0].1);
        s.push_str(&format!(
            "- {noise}% noise ({}, steps {s0}..={last}):\n",
            r.dir.display()
        ));
        s.push_str(&format!(
            "  - f_p starts above f_c: **{}** (step {s0}: f_p {p0:.4}, f_c {c0:.4})\n",
            if p0 > c0 { "PASS" } else { "FAIL" }
        ));
        let cross = fp
            .iter()
            .zip(&fc)
            .find(|(p, c)| p.1 < c.1)
            .map(|(p, _)| p.0);
        s.push_str(&match cross {
            Some(st) => format!("  - they cross: **PASS** (f_p < f_c first at step {st})\n"),
            None => format!(
                "  - they cross: **FAIL** (f_p stays above f_c up to step {last}; at step {last}: f_p {:.4}, f_c {:.4})\n",
                fp.last().map_or(f64::NAN, |x| x.1),
                fc.last().map_or(f64::NAN, |x| x.1)
            ),
        });
        for k in 1.. {
            let (Some(np), Some(nc)) = (
                t.series(&format!("f_p_null{k}")),
                t.series(&format!("f_c_null{k}")),
            ) else {
                break;
            };
            let signs: Vec<bool> = np.iter().zip(&nc).map(|(p, c)| p.1 > c.1).collect();
            let steady = signs.iter().all(|&x| x == signs[0]);
            let (lo, hi) = np
                .iter()
                .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x.1), b.max(x.1)));
            s.push_str(&format!(
                "  - null world {k} does not cross: **{}** (f_p_null{k} in [{lo:.4}, {hi:.4}])\n",
                if steady { "PASS" } else { "FAIL" }
            ));
        }
    }
    s
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
    }
}
