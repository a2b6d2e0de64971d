//! The paper's section 2.4 expectation about similarity, on `--similarity` runs: "we expect
//! the pristine examples to be more similar to each other and the corrupt ones to be less
//! similar".

use std::fmt::Write;

use super::checks::*;
use crate::report::similarity::{column, similarity_runs};
use crate::report::Run;

/// Early in training (the measured steps in the first 10% of the run), the mean cosine
/// within pristine examples exceeds that within corrupt examples, and exceeds every null
/// world's within-"pristine" mean (the band of what a random split of the probe gives), at
/// every noise level strictly between 0 and 100.
pub fn similarity(runs: &[&Run]) -> String {
    let mut s = String::from(
        "## Similarity (section 2.4): early in training, pristine examples' gradients are more alike than corrupt ones', and more than chance\n\n",
    );
    let groups: Vec<(f64, Vec<&Run>)> = similarity_runs(runs)
        .into_iter()
        .filter(|g| g.0 > 0.0 && g.0 < 100.0)
        .collect();
    if groups.is_empty() {
        s.push_str("Not testable: no run with `--similarity` at 0 < noise < 100.\n");
        return s;
    }
    s.push_str(&runs_line(&groups, "noise levels with --similarity"));
    let _ = writeln!(
        s,
        "Means over the measured steps in the first 10% of each run of the probe's mean cosine within pristine examples (cos_pp), within corrupt ones (cos_cc), and, in each null world (the designation permuted among the probe), within its \"pristine\" examples: the band is their min to max.\n"
    );
    let levels: Vec<f64> = groups.iter().map(|g| g.0).collect();
    let all: Vec<&Run> = groups.iter().flat_map(|g| g.1.iter().copied()).collect();
    s.push_str(&per_seed(&all, |mine| {
        levels
            .iter()
            .map(|&noise| {
                let claim = format!(
                    "{noise}% noise: early cos_pp > cos_cc and above the null worlds' band"
                );
                match mine.iter().find(|r| r.noise == noise) {
                    Some(r) => early_check(r, claim),
                    None => untestable(claim, "no run with --similarity at this noise level"),
                }
            })
            .collect()
    }));
    s
}

/// The mean of a column over the steps at or below `until`.
fn early_mean(r: &Run, name: &str, until: f64) -> Option<(f64, usize)> {
    let pts: Vec<f64> = column(r, name)?
        .into_iter()
        .filter(|p| p.0 <= until && p.1.is_finite())
        .map(|p| p.1)
        .collect();
    (!pts.is_empty()).then(|| (pts.iter().sum::<f64>() / pts.len() as f64, pts.len()))
}

fn early_check(r: &Run, claim: String) -> Check {
    let steps = r
        .config
        .get("steps")
        .and_then(|v| v.as_integer())
        .unwrap_or(0) as f64;
    let until = (0.1 * steps).floor();
    let (Some((pp, count)), Some((cc, _))) = (
        early_mean(r, "cos_pp", until),
        early_mean(r, "cos_cc", until),
    ) else {
        return untestable(
            claim,
            "similarity.csv has no cos_pp or cos_cc in the first 10% of the steps",
        );
    };
    let nulls: Vec<f64> = (1..)
        .map_while(|w| early_mean(r, &format!("null{w}_cos_pp"), until))
        .map(|m| m.0)
        .collect();
    if nulls.is_empty() {
        return untestable(claim, "no null world (--similarity-null-worlds 0)");
    }
    let lo = nulls.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = nulls.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let detail = format!(
        "steps 0-{until} ({count} measured): cos_pp {pp:.4}, cos_cc {cc:.4}, null worlds' cos_pp {lo:.4} to {hi:.4} ({} worlds)",
        nulls.len()
    );
    check(claim, pp > cc && pp > hi, detail)
}
