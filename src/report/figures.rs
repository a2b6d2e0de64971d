//! The sweep figures: fig1.png (Experiment 1: plain SGD at each noise level) and fig4.png
//! (Experiment 3: winsorization levels x noise levels), from the runs that have the data.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::plot::{self, Panel, Series};
use super::{Run, Table};

/// Of several runs of one setting, the one with the lowest seed (seeds are not averaged).
fn lowest_seed<'a>(runs: impl Iterator<Item = &'a Run>, key: impl Fn(&Run) -> f64) -> Vec<&'a Run> {
    let mut out: Vec<&Run> = Vec::new();
    for r in runs.filter(|r| r.metrics.is_some()) {
        match out.iter_mut().find(|o| key(o) == key(r)) {
            Some(o) if o.seed <= r.seed => {}
            Some(o) => *o = r,
            None => out.push(r),
        }
    }
    out.sort_by(|a, b| key(a).total_cmp(&key(b)));
    out
}

/// The architecture to draw: `preferred` if some candidate has it, else the most common.
fn pick_arch<'a>(runs: &[&'a Run], preferred: &str) -> Option<&'a str> {
    if runs.iter().any(|r| r.arch == preferred) {
        return runs
            .iter()
            .find(|r| r.arch == preferred)
            .map(|r| r.arch.as_str());
    }
    runs.iter()
        .max_by_key(|r| runs.iter().filter(|o| o.arch == r.arch).count())
        .map(|r| r.arch.as_str())
}

/// Experiment 1's runs: plain SGD (`mean`), one per noise level, on 1x2048 if present.
pub fn fig1_runs(runs: &[Run]) -> Vec<&Run> {
    let mean: Vec<&Run> = runs.iter().filter(|r| r.rule == "mean").collect();
    let Some(arch) = pick_arch(&mean, "1x2048") else {
        return Vec::new();
    };
    lowest_seed(mean.into_iter().filter(|r| r.arch == arch), |r| r.noise)
}

/// One training example's row of examples.csv, as the report uses it.
pub struct Learnt {
    pub index: usize,
    pub corrupt: bool,
    /// The first logged step at which it was predicted as its training label (None: never).
    pub first: Option<f64>,
}

/// The rows of a run's examples.csv; None if the file is missing or lacks the columns.
pub fn read_learnt(run: &Run) -> Option<Vec<Learnt>> {
    let t = Table::read(&run.dir.join("examples.csv")).ok()?;
    let col = |n: &str| t.header.iter().position(|h| h == n);
    let (ci, cc, cf) = (col("index")?, col("corrupt")?, col("learnt_first")?);
    Some(
        t.rows
            .iter()
            .map(|r| Learnt {
                index: r[ci] as usize,
                corrupt: r[cc] == 1.0,
                first: r[cf].is_finite().then_some(r[cf]),
            })
            .collect(),
    )
}

/// Fraction of the pristine and of the corrupt examples learnt (predicted as their training
/// label at some logged step) by each of `steps`; NaN where a group is empty.
pub fn learnt_fractions(examples: &[Learnt], steps: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let frac = |corrupt: bool| -> Vec<f64> {
        let group: Vec<Option<f64>> = examples
            .iter()
            .filter(|e| e.corrupt == corrupt)
            .map(|e| e.first)
            .collect();
        steps
            .iter()
            .map(|&s| {
                let learnt = group.iter().filter(|f| f.is_some_and(|x| x <= s)).count();
                learnt as f64 / group.len() as f64
            })
            .collect()
    };
    (frac(false), frac(true))
}

/// fig1.png like the paper's Figure 1: (a) train accuracy, (b) test accuracy, (c) train loss,
/// (d) fraction of pristine (solid) and corrupt (dashed) examples learnt; one line per noise
/// level, steps on a log scale.
pub fn fig1(runs: &[Run], out: &Path) -> Result<Option<PathBuf>> {
    let chosen = fig1_runs(runs);
    if chosen.is_empty() {
        return Ok(None);
    }
    let mut panels = Vec::new();
    for (title, col, y, range) in [
        (
            "(a) train accuracy (noisy labels)",
            "train_acc",
            "accuracy",
            Some((0.0, 1.0)),
        ),
        (
            "(b) test accuracy",
            "test_acc",
            "accuracy",
            Some((0.0, 1.0)),
        ),
        ("(c) train loss", "train_loss", "cross-entropy", None),
    ] {
        let series = chosen
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                Some(Series {
                    name: format!("{}% noise", r.noise),
                    color: i,
                    dashed: false,
                    points: r.metrics.as_ref()?.series(col)?,
                })
            })
            .collect();
        panels.push(Panel {
            title: title.into(),
            x_label: "step (log scale)".into(),
            y_label: y.into(),
            log_x: true,
            y_range: range,
            series,
        });
    }
    let mut learnt = Vec::new();
    for (i, r) in chosen.iter().enumerate() {
        let Some(steps) = r.metrics.as_ref().and_then(|m| m.series("step")) else {
            continue;
        };
        let steps: Vec<f64> = steps.iter().map(|p| p.0).collect();
        if let Some(examples) = read_learnt(r) {
            let (p, c) = learnt_fractions(&examples, &steps);
            for (name, dashed, v) in [("pristine", false, p), ("corrupt", true, c)] {
                if v.iter().any(|x| x.is_finite()) {
                    learnt.push(Series {
                        name: format!("{}% {name}", r.noise),
                        color: i,
                        dashed,
                        points: steps.iter().copied().zip(v).collect(),
                    });
                }
            }
        }
    }
    panels.push(Panel {
        title: "(d) examples learnt: pristine solid, corrupt dashed".into(),
        x_label: "step (log scale)".into(),
        y_label: "fraction learnt".into(),
        log_x: true,
        y_range: Some((0.0, 1.0)),
        series: learnt,
    });
    let path = out.join("fig1.png");
    plot::grid(
        &path,
        &format!(
            "Figure 1: {} with plain SGD at each noise level",
            chosen[0].arch
        ),
        &panels,
        2,
    )?;
    Ok(Some(path))
}

/// Experiment 3's runs: `mean` (C = 0) and `winsor:C`, one per (C, noise), on 3x256 if
/// present; empty unless some run is winsorized.
pub fn fig4_runs(runs: &[Run]) -> Vec<&Run> {
    let w: Vec<&Run> = runs.iter().filter(|r| r.winsor_c().is_some()).collect();
    if !w
        .iter()
        .any(|r| r.winsor_c() != Some(0.0) || r.rule.starts_with("winsor"))
    {
        return Vec::new();
    }
    let Some(arch) = pick_arch(&w, "3x256") else {
        return Vec::new();
    };
    lowest_seed(w.into_iter().filter(|r| r.arch == arch), |r| {
        r.winsor_c().unwrap_or(0.0) * 1000.0 + r.noise
    })
}

/// fig4.png like the paper's Figure 4: a row per clip level C, a column per noise level, each
/// panel with train accuracy, test accuracy and overfit over the steps.
pub fn fig4(runs: &[Run], out: &Path) -> Result<Option<PathBuf>> {
    let chosen = fig4_runs(runs);
    if chosen.is_empty() {
        return Ok(None);
    }
    let mut cs: Vec<f64> = chosen.iter().filter_map(|r| r.winsor_c()).collect();
    cs.sort_by(f64::total_cmp);
    cs.dedup();
    let mut noises: Vec<f64> = chosen.iter().map(|r| r.noise).collect();
    noises.sort_by(f64::total_cmp);
    noises.dedup();
    let mut panels = Vec::new();
    for &c in &cs {
        for &n in &noises {
            let run = chosen
                .iter()
                .find(|r| r.winsor_c() == Some(c) && r.noise == n);
            let series = run
                .and_then(|r| r.metrics.as_ref())
                .map(|m| {
                    [
                        ("train acc", "train_acc"),
                        ("test acc", "test_acc"),
                        ("overfit", "overfit"),
                    ]
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, (name, col))| {
                        Some(Series {
                            name: name.into(),
                            color: i,
                            dashed: false,
                            points: m.series(col)?,
                        })
                    })
                    .collect()
                })
                .unwrap_or_default();
            panels.push(Panel {
                title: format!(
                    "C = {c}, {n}% noise{}",
                    if run.is_some() { "" } else { " (no run)" }
                ),
                x_label: "step (log scale)".into(),
                y_label: "fraction".into(),
                log_x: true,
                y_range: Some((0.0, 1.0)),
                series,
            });
        }
    }
    let path = out.join("fig4.png");
    plot::grid(
        &path,
        &format!(
            "Figure 4: winsorized SGD on {} (rows: C; columns: label noise)",
            chosen[0].arch
        ),
        &panels,
        noises.len(),
    )?;
    Ok(Some(path))
}

/// examples.png: training examples of the Experiment 1 run with the noise level nearest 50%
/// (0 < noise < 100): the first two rows are the 20 learnt earliest (first logged step at
/// which they were predicted as their training label; ties by index), and after an empty row
/// the last two rows are 20 never learnt (by index). Images come from the run's data (the
/// built-in MNIST, or the folder config.toml names).
pub fn examples_png(runs: &[Run], out: &Path) -> Result<Option<PathBuf>> {
    let chosen = fig1_runs(runs);
    let Some(run) = chosen
        .iter()
        .filter(|r| r.noise > 0.0 && r.noise < 100.0)
        .min_by(|a, b| (a.noise - 50.0).abs().total_cmp(&(b.noise - 50.0).abs()))
    else {
        return Ok(None);
    };
    let Some(examples) = read_learnt(run) else {
        return Ok(None);
    };
    // the data: config.toml's `data` is "mnist (built-in)..." or a folder, maybe followed by
    // " (first N training examples)"
    let source = run
        .config
        .get("data")
        .and_then(|v| v.as_str())
        .unwrap_or("mnist (built-in)");
    let data = if source.starts_with("mnist (built-in)") {
        crate::data::builtin_mnist()?
    } else {
        let dir = source.split(" (first ").next().unwrap_or(source);
        match crate::data::load_dir(Path::new(dir)) {
            Ok(d) => d,
            Err(_) => return Ok(None),
        }
    };
    let mut learnt: Vec<(f64, usize)> = examples
        .iter()
        .filter_map(|e| Some((e.first?, e.index)))
        .collect();
    learnt.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let never: Vec<usize> = examples
        .iter()
        .filter(|e| e.first.is_none())
        .map(|e| e.index)
        .collect();
    let mut picks: Vec<Option<usize>> = Vec::new();
    let block = |list: Vec<usize>, picks: &mut Vec<Option<usize>>| {
        for k in 0..20 {
            picks.push(list.get(k).copied());
        }
    };
    block(learnt.iter().map(|x| x.1).collect(), &mut picks);
    picks.extend([None; 10]);
    block(never, &mut picks);
    let path = out.join("examples.png");
    crate::data::preview::write_picks(&data.train, &picks, 10, 3, &path)?;
    Ok(Some(path))
}
