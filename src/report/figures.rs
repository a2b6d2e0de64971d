//! The sweep figures: fig1.png (Experiment 1: plain SGD at each noise level) and fig4.png
//! (Experiment 3: winsorization levels x noise levels), from the runs that have the data.
//! Several seeds of a setting are drawn as their mean with a min-max band.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::plot::{self, Legend, Panel, Series};
use super::{Run, Table};

/// Runs grouped by one setting (`key`), every seed of a setting in its group, in key
/// order; runs without metrics are left out.
pub fn groups<'a>(
    runs: impl Iterator<Item = &'a Run>,
    key: impl Fn(&Run) -> f64,
) -> Vec<(f64, Vec<&'a Run>)> {
    let mut out: Vec<(f64, Vec<&Run>)> = Vec::new();
    for r in runs.filter(|r| r.metrics.is_some()) {
        let k = key(r);
        match out.iter_mut().find(|(o, _)| *o == k) {
            Some((_, g)) => g.push(r),
            None => out.push((k, vec![r])),
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (_, g) in &mut out {
        g.sort_by_key(|r| r.seed);
    }
    out
}

/// A curve's points (x, y) and its band (x, low, high).
pub type Curve = (Vec<(f64, f64)>, Vec<(f64, f64, f64)>);

/// The mean over seeds of one curve per seed, with the (x, min, max) band, at the x values
/// every seed has (runs of one setting share their log grid).
pub fn spread(per_seed: &[Vec<(f64, f64)>]) -> Curve {
    let Some(first) = per_seed.first() else {
        return (Vec::new(), Vec::new());
    };
    let mut mean = Vec::new();
    let mut band = Vec::new();
    for &(x, _) in first {
        let ys: Option<Vec<f64>> = per_seed
            .iter()
            .map(|s| s.iter().find(|p| p.0 == x).map(|p| p.1))
            .collect();
        let Some(ys) = ys else { continue };
        let m = ys.iter().sum::<f64>() / ys.len() as f64;
        let lo = ys.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        mean.push((x, m));
        band.push((x, lo, hi));
    }
    (mean, band)
}

/// A curve that is the mean over seeds, with the min-max band when there are two or more.
pub fn banded(
    name: String,
    color: usize,
    dashed: bool,
    per_seed: &[Vec<(f64, f64)>],
) -> Option<Series> {
    if per_seed.is_empty() {
        return None;
    }
    let (points, band) = spread(per_seed);
    Some(Series {
        name,
        color,
        dashed,
        points,
        band: if per_seed.len() > 1 { band } else { Vec::new() },
    })
}

/// " (mean of N seeds, band: min-max)" for titles, or "" for one seed.
fn seeds_note(n: usize) -> String {
    if n > 1 {
        format!(" (mean of {n} seeds; band: min to max)")
    } else {
        String::new()
    }
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

/// Experiment 1's runs: plain SGD (`mean`) on 1x2048 if present, grouped by noise level
/// (every seed of a level in its group).
pub fn fig1_runs<'a>(runs: &[&'a Run]) -> Vec<(f64, Vec<&'a Run>)> {
    // coherence runs (the fig2 preset) follow another protocol
    let mean: Vec<&Run> = runs
        .iter()
        .copied()
        .filter(|r| r.rule == "mean" && r.coherence.is_none())
        .collect();
    let Some(arch) = pick_arch(&mean, "1x2048") else {
        return Vec::new();
    };
    groups(mean.into_iter().filter(|r| r.arch == arch), |r| r.noise)
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
/// level (the mean over seeds, with the min-max band), steps on a log scale.
pub fn fig1(runs: &[&Run], out: &Path) -> Result<Option<PathBuf>> {
    let chosen = fig1_runs(runs);
    if chosen.is_empty() {
        return Ok(None);
    }
    let seeds = chosen.iter().map(|g| g.1.len()).max().unwrap_or(1);
    let mut panels = Vec::new();
    for (title, col, y, range, legend) in [
        (
            "(a) train accuracy (noisy labels)",
            "train_acc",
            "accuracy",
            Some((0.0, 1.0)),
            // every curve ends near 1: the lower right is free
            Legend::LowerRight,
        ),
        (
            "(b) test accuracy",
            "test_acc",
            "accuracy",
            Some((0.0, 1.0)),
            Legend::UpperLeft,
        ),
        (
            "(c) train loss",
            "train_loss",
            "cross-entropy",
            None,
            Legend::UpperRight,
        ),
    ] {
        let series = chosen
            .iter()
            .enumerate()
            .filter_map(|(i, (noise, g))| {
                let per: Vec<Vec<(f64, f64)>> = g
                    .iter()
                    .filter_map(|r| r.metrics.as_ref()?.series(col))
                    .collect();
                banded(format!("{noise}% noise"), i, false, &per)
            })
            .collect();
        panels.push(Panel {
            title: title.into(),
            x_label: "step (log scale)".into(),
            y_label: y.into(),
            log_x: true,
            y_range: range,
            legend,
            series,
        });
    }
    let mut learnt = Vec::new();
    for (i, (noise, g)) in chosen.iter().enumerate() {
        let (mut p_all, mut c_all) = (Vec::new(), Vec::new());
        for r in g {
            let Some(steps) = r.metrics.as_ref().and_then(|m| m.series("step")) else {
                continue;
            };
            let steps: Vec<f64> = steps.iter().map(|p| p.0).collect();
            if let Some(examples) = read_learnt(r) {
                let (p, c) = learnt_fractions(&examples, &steps);
                p_all.push(steps.iter().copied().zip(p).collect::<Vec<_>>());
                c_all.push(steps.iter().copied().zip(c).collect::<Vec<_>>());
            }
        }
        for (name, dashed, v) in [("pristine", false, p_all), ("corrupt", true, c_all)] {
            if v.iter().any(|s| s.iter().any(|p| p.1.is_finite())) {
                learnt.extend(banded(format!("{noise}% {name}"), i, dashed, &v));
            }
        }
    }
    panels.push(Panel {
        title: "(d) examples learnt: pristine solid, corrupt dashed".into(),
        x_label: "step (log scale)".into(),
        y_label: "fraction learnt".into(),
        log_x: true,
        y_range: Some((0.0, 1.0)),
        legend: Legend::LowerRight,
        series: learnt,
    });
    let path = out.join("fig1.png");
    plot::grid(
        &path,
        &format!(
            "Figure 1: {} with plain SGD at each noise level{}",
            chosen[0].1[0].arch,
            seeds_note(seeds)
        ),
        &panels,
        2,
    )?;
    Ok(Some(path))
}

/// Experiment 3's runs: `mean` (C = 0) and `winsor:C` on 3x256 if present, grouped by
/// (C, noise) with the key C * 1000 + noise; empty unless some run is winsorized.
pub fn fig4_runs<'a>(runs: &[&'a Run]) -> Vec<(f64, Vec<&'a Run>)> {
    let w: Vec<&Run> = runs
        .iter()
        .copied()
        .filter(|r| r.winsor_c().is_some())
        .collect();
    if !w
        .iter()
        .any(|r| r.winsor_c() != Some(0.0) || r.rule.starts_with("winsor"))
    {
        return Vec::new();
    }
    let Some(arch) = pick_arch(&w, "3x256") else {
        return Vec::new();
    };
    groups(w.into_iter().filter(|r| r.arch == arch), |r| {
        r.winsor_c().unwrap_or(0.0) * 1000.0 + r.noise
    })
}

/// fig4.png like the paper's Figure 4: a row per clip level C, a column per noise level, each
/// panel with train accuracy, test accuracy and overfit over the steps (means over seeds
/// with min-max bands).
pub fn fig4(runs: &[&Run], out: &Path) -> Result<Option<PathBuf>> {
    let chosen = fig4_runs(runs);
    if chosen.is_empty() {
        return Ok(None);
    }
    let c_of = |g: &[&Run]| g[0].winsor_c().unwrap_or(0.0);
    let mut cs: Vec<f64> = chosen.iter().map(|g| c_of(&g.1)).collect();
    cs.sort_by(f64::total_cmp);
    cs.dedup();
    let mut noises: Vec<f64> = chosen.iter().map(|g| g.1[0].noise).collect();
    noises.sort_by(f64::total_cmp);
    noises.dedup();
    let seeds = chosen.iter().map(|g| g.1.len()).max().unwrap_or(1);
    let mut panels = Vec::new();
    for &c in &cs {
        for &n in &noises {
            let group = chosen
                .iter()
                .find(|g| c_of(&g.1) == c && g.1[0].noise == n)
                .map(|g| &g.1);
            let series = group
                .map(|g| {
                    [
                        ("train acc", "train_acc"),
                        ("test acc", "test_acc"),
                        ("overfit", "overfit"),
                    ]
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, (name, col))| {
                        let per: Vec<Vec<(f64, f64)>> = g
                            .iter()
                            .filter_map(|r| r.metrics.as_ref()?.series(col))
                            .collect();
                        banded(name.into(), i, false, &per)
                    })
                    .collect()
                })
                .unwrap_or_default();
            let mut series: Vec<Series> = series;
            // the paper's bound for c > 0: the proper accuracy (1 - n) + n/10, dashed grey
            let steps: Vec<f64> = series
                .first()
                .map(|s| s.points.iter().map(|p| p.0).filter(|&x| x > 0.0).collect())
                .unwrap_or_default();
            if let (Some(&first), Some(&last)) = (steps.first(), steps.last()) {
                let proper = (1.0 - n / 100.0) + n / 1000.0;
                series.push(Series {
                    name: "proper acc".into(),
                    color: 5,
                    dashed: true,
                    points: vec![(first, proper), (last, proper)],
                    band: Vec::new(),
                });
            }
            panels.push(Panel {
                title: format!(
                    "C = {c}, {n}% noise{}",
                    if group.is_some() { "" } else { " (no run)" }
                ),
                x_label: "step (log scale)".into(),
                y_label: "fraction".into(),
                log_x: true,
                y_range: Some((0.0, 1.0)),
                // 25 small panels and no corner free in all of them: one key in the title
                legend: Legend::InTitle,
                series,
            });
        }
    }
    let path = out.join("fig4.png");
    plot::grid(
        &path,
        &format!(
            "Figure 4: winsorized SGD on {} (rows: C; columns: label noise; train acc blue, test acc red, overfit green, proper acc grey dashed){}",
            chosen[0].1[0].arch,
            seeds_note(seeds)
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
pub fn examples_png(runs: &[&Run], out: &Path) -> Result<Option<PathBuf>> {
    let chosen = fig1_runs(runs);
    // the lowest seed of the noise level nearest 50%
    let Some(run) = chosen
        .iter()
        .filter(|g| g.0 > 0.0 && g.0 < 100.0)
        .min_by(|a, b| (a.0 - 50.0).abs().total_cmp(&(b.0 - 50.0).abs()))
        .map(|g| g.1[0])
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
