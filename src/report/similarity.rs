//! similarity.png: which examples the network treats as alike (`--similarity`). Per noise
//! level, the cosine matrix of one seed's probe at three steps (the start, the step where
//! the probe's f_p and f_c cross, or a quarter of training if they do not, and the end),
//! examples sorted by true class and pristine before corrupt, from the matrices
//! `--similarity-save` wrote; below, the block means over steps (within pristine, within
//! corrupt, between), mean over seeds with min-max bands, and the null worlds' band.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::figures::banded;
use super::plot::{self, Heatmap, Legend, Panel, Series};
use super::Run;
use crate::analysis::similarity_matrix::{self, SavedMatrix};

/// The runs with similarity.csv, grouped by noise level (every seed in its group, in seed
/// order), noise levels in order.
pub fn similarity_runs<'a>(runs: &[&'a Run]) -> Vec<(f64, Vec<&'a Run>)> {
    super::by_noise(runs, |r| r.similarity.is_some())
}

/// A column of a run's similarity.csv as (step, value) points.
pub fn column(r: &Run, name: &str) -> Option<Vec<(f64, f64)>> {
    r.similarity.as_ref()?.series(name)
}

/// The first step after the start at which f_p - f_c has changed sign, if it does.
pub fn crossing(r: &Run) -> Option<f64> {
    let (p, c) = (column(r, "f_p")?, column(r, "f_c")?);
    let gap: Vec<(f64, f64)> = p.iter().zip(&c).map(|(a, b)| (a.0, a.1 - b.1)).collect();
    let first = gap.first()?.1;
    gap.iter()
        .skip(1)
        .find(|(_, d)| d.signum() != first.signum() && *d != 0.0)
        .map(|p| p.0)
}

/// The three steps to draw for `r` among its saved ones, each with what it is.
fn picture_steps(r: &Run, saved: &[(u64, PathBuf)]) -> Vec<(String, u64, PathBuf)> {
    let nearest = |target: f64| {
        saved
            .iter()
            .min_by(|a, b| {
                (a.0 as f64 - target)
                    .abs()
                    .total_cmp(&(b.0 as f64 - target).abs())
            })
            .cloned()
    };
    let steps = r
        .config
        .get("steps")
        .and_then(|v| v.as_integer())
        .unwrap_or(0) as f64;
    let middle = match crossing(r) {
        Some(s) => ("f_p and f_c cross".to_string(), s),
        None => ("a quarter of training".to_string(), steps / 4.0),
    };
    let mut out = Vec::new();
    for (what, target) in [
        ("start".to_string(), 0.0),
        middle,
        ("end".to_string(), f64::INFINITY),
    ] {
        let pick = if target.is_infinite() {
            saved.last().cloned()
        } else {
            nearest(target)
        };
        if let Some((s, p)) = pick {
            if !out.iter().any(|(_, o, _)| *o == s) {
                out.push((what, s, p));
            }
        }
    }
    out
}

/// The heatmap of a saved matrix, with lines where each true class starts and ticks where
/// its corrupt examples start.
fn heatmap(m: &SavedMatrix, title: String, range: f64) -> Heatmap {
    let mut lines = Vec::new();
    let mut ticks = Vec::new();
    for i in 1..m.n {
        if m.true_label[i] != m.true_label[i - 1] {
            lines.push(i);
        } else if m.corrupt[i] && !m.corrupt[i - 1] {
            ticks.push(i);
        }
    }
    if m.n > 0 && m.corrupt[0] {
        ticks.push(0);
    }
    Heatmap {
        title,
        values: m.cosine.clone(),
        n: m.n,
        range,
        lines,
        ticks,
    }
}

/// The colour range shared by every matrix drawn: the 98th percentile of |cosine| off the
/// diagonal (the diagonal, 1, would wash everything else out), at least 0.05.
fn shared_range(ms: &[SavedMatrix]) -> f64 {
    let mut v: Vec<f32> = Vec::new();
    for m in ms {
        for i in 0..m.n {
            // every 7th pair keeps this cheap at N = 1000
            for j in (i + 1..m.n).step_by(7) {
                v.push(m.cosine[i * m.n + j].abs());
            }
        }
    }
    if v.is_empty() {
        return 1.0;
    }
    let k = ((v.len() - 1) as f64 * 0.98) as usize;
    let (_, x, _) = v.select_nth_unstable_by(k, f32::total_cmp);
    (*x as f64).max(0.05)
}

/// One noise level's row of matrices: the noise level, the seed drawn, and each matrix
/// with what its step is.
type Shown = (f64, u64, Vec<(String, SavedMatrix)>);

/// Writes similarity.png into `out` if any run measured similarity; returns its path.
pub fn figure(runs: &[&Run], out: &Path) -> Result<Option<PathBuf>> {
    let groups = similarity_runs(runs);
    if groups.is_empty() {
        return Ok(None);
    }
    // the matrices: the first seed of each noise level that saved any
    let mut shown: Vec<Shown> = Vec::new();
    for (noise, g) in &groups {
        for r in g {
            let saved = similarity_matrix::list(&r.dir)?;
            if saved.is_empty() {
                continue;
            }
            let mut ms = Vec::new();
            for (what, _, path) in picture_steps(r, &saved) {
                let m = similarity_matrix::read(&path)
                    .with_context(|| format!("drawing similarity.png from {}", r.dir.display()))?;
                ms.push((what, m));
            }
            shown.push((*noise, r.seed, ms));
            break;
        }
    }
    let all: Vec<SavedMatrix> = shown
        .iter()
        .flat_map(|s| s.2.iter().map(|m| m.1.clone()))
        .collect();
    let range = shared_range(&all);
    let cols = 3.max(groups.len());
    let mut maps = Vec::new();
    for (noise, seed, ms) in &shown {
        for (what, m) in ms {
            maps.push(heatmap(
                m,
                format!("{noise}% noise, seed {seed}: step {} ({what})", m.step),
                range,
            ));
        }
        // a row per noise level
        while maps.len() % cols != 0 {
            maps.push(Heatmap {
                title: String::new(),
                values: Vec::new(),
                n: 0,
                range,
                lines: Vec::new(),
                ticks: Vec::new(),
            });
        }
    }
    let mut panels = Vec::new();
    for (noise, g) in &groups {
        let per = |name: &str| -> Vec<Vec<(f64, f64)>> {
            g.iter().filter_map(|r| column(r, name)).collect()
        };
        let mut series: Vec<Series> = Vec::new();
        for (i, (name, label)) in [
            ("cos_pp", "within pristine"),
            ("cos_cc", "within corrupt"),
            ("cos_pc", "between"),
        ]
        .into_iter()
        .enumerate()
        {
            series.extend(banded(label.to_string(), i, false, &per(name)));
        }
        // the null worlds: every world of every seed, within both halves, pooled
        let mut nulls = Vec::new();
        for r in g {
            for w in 1.. {
                let (Some(p), Some(c)) = (
                    column(r, &format!("null{w}_cos_pp")),
                    column(r, &format!("null{w}_cos_cc")),
                ) else {
                    break;
                };
                nulls.push(p);
                nulls.push(c);
            }
        }
        series.extend(banded(
            "null worlds (within either half)".into(),
            5,
            true,
            &nulls,
        ));
        panels.push(Panel {
            title: format!("{noise}% noise: mean cosine by block"),
            x_label: "step (log scale)".into(),
            y_label: "mean cosine".into(),
            log_x: true,
            y_range: None,
            legend: Legend::UpperRight,
            series,
        });
    }
    let path = out.join("similarity.png");
    let arch = groups[0].1[0].arch.as_str();
    let seeds = groups.iter().map(|g| g.1.len()).max().unwrap_or(1);
    let n = groups[0].1[0]
        .similarity
        .as_ref()
        .and_then(|t| t.series("n"))
        .and_then(|s| s.first().map(|p| p.1))
        .unwrap_or(f64::NAN);
    plot::grid_with_heatmaps(
        &path,
        &format!(
            "Per-example gradient cosines of {n} probe examples on {arch} (sorted by true class, pristine before corrupt; colour range +-{range:.2}){}",
            if seeds > 1 {
                format!("; curves: mean of {seeds} seeds, band min to max")
            } else {
                String::new()
            }
        ),
        &maps,
        &panels,
        cols,
    )?;
    Ok(Some(path))
}
