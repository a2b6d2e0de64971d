//! PAPER.md's Experiment 1: pristine and corrupt learning at every noise level.

use super::checks::*;
use crate::report::figures::{fig1_runs, learnt_fractions, read_learnt};
use crate::report::Run;

/// Experiment 1 (Figure 1): plain SGD at noise 0, 25, 50, 75, 100%.
pub fn experiment1(runs: &[&Run]) -> String {
    let mut s = String::from("## Experiment 1 (Figure 1): label noise with plain SGD\n\n");
    let chosen = fig1_runs(runs);
    if chosen.is_empty() {
        s.push_str("Not testable: no run with `--rule mean` (without `--coherence`).\n");
        return s;
    }
    s.push_str(&runs_line(&chosen, "noise levels"));
    s.push_str(&per_seed(runs, |mine| {
        let chosen = one_per_level(fig1_runs(mine));
        experiment1_checks(&chosen)
    }));
    s
}

pub(super) fn experiment1_checks(chosen: &[&Run]) -> Vec<Check> {
    let mut out = Vec::new();
    let accs: Vec<(f64, f64)> = chosen
        .iter()
        .filter_map(|r| Some((r.noise, r.last("train_acc")?)))
        .collect();
    let worst = accs.iter().map(|a| a.1).fold(f64::INFINITY, f64::min);
    out.push(check(
        "100% train accuracy for all noise levels (PASS needs final train accuracy >= 0.99 each)",
        accs.iter().all(|a| a.1 >= 0.99),
        format!(
            "final train accuracy {}; lowest {worst:.4}",
            accs.iter()
                .map(|(n, a)| format!("{n}%: {a:.4}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));
    let tests: Vec<(f64, f64)> = chosen
        .iter()
        .filter_map(|r| Some((r.noise, r.last("test_acc")?)))
        .collect();
    let claim = "test accuracy falls with noise";
    out.push(if tests.len() < 2 {
        untestable(claim, "fewer than two noise levels")
    } else {
        check(
            claim,
            tests.windows(2).all(|w| w[1].1 <= w[0].1),
            format!(
                "final test accuracy {}",
                tests
                    .iter()
                    .map(|(n, a)| format!("{n}%: {a:.4}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    });
    let reach: Vec<(f64, Option<f64>)> = chosen
        .iter()
        .map(|r| (r.noise, step_to_reach(r, "train_acc", 0.9)))
        .collect();
    let claim = "learning is slower with more noise (first logged step with train accuracy >= 90% of its final value, non-decreasing in noise)";
    out.push(if reach.len() < 2 {
        untestable(claim, "fewer than two noise levels")
    } else {
        let steps: Vec<f64> = reach.iter().map(|r| r.1.unwrap_or(f64::INFINITY)).collect();
        check(
            claim,
            steps.windows(2).all(|w| w[1] >= w[0]),
            reach
                .iter()
                .map(|(n, st)| format!("{n}%: {}", st.map_or("never".into(), show_step)))
                .collect::<Vec<_>>()
                .join(", "),
        )
    });
    // One crossing step is fragile: one noisy evaluation can reorder two noise levels. The
    // area under the whole curve over log-step weighs every logged point.
    let areas: Vec<(f64, Option<f64>)> = chosen
        .iter()
        .map(|r| (r.noise, log_step_area(r, "train_acc")))
        .collect();
    let claim = "learning is slower with more noise (area under train accuracy / its final value over log-step from step 1, non-increasing in noise)";
    out.push(if areas.len() < 2 {
        untestable(claim, "fewer than two noise levels")
    } else {
        let a: Vec<f64> = areas.iter().map(|x| x.1.unwrap_or(f64::NAN)).collect();
        check(
            claim,
            a.iter().all(|x| x.is_finite()) && a.windows(2).all(|w| w[1] <= w[0]),
            areas
                .iter()
                .map(|(n, x)| match x {
                    Some(x) => format!("{n}%: {x:.4}"),
                    None => format!("{n}%: no curve"),
                })
                .collect::<Vec<_>>()
                .join(", "),
        )
    });
    let claim =
        "pristine examples are learned much faster than corrupt ones (median first step learnt)";
    let noisy: Vec<&&Run> = chosen
        .iter()
        .filter(|r| r.noise > 0.0 && r.noise < 100.0)
        .collect();
    if noisy.is_empty() {
        out.push(untestable(claim, "no run with 0 < noise < 100"));
        return out;
    }
    let mut ok = true;
    let mut parts = Vec::new();
    let mut fractions = Vec::new();
    for r in noisy {
        match read_learnt(r) {
            Some(e) => {
                let (p, c) = learnt_first_medians(&e);
                ok &= p < c;
                parts.push(format!(
                    "{}%: pristine {}, corrupt {}",
                    r.noise,
                    show_step(p),
                    show_step(c)
                ));
                if let Some(last) = r.last("step") {
                    let (p, c) = learnt_fractions(&e, &[last]);
                    fractions.push(format!(
                        "{}%: {:.3} of pristine and {:.3} of corrupt",
                        r.noise, p[0], c[0]
                    ));
                }
            }
            None => {
                ok = false;
                parts.push(format!("{}%: examples.csv missing", r.noise));
            }
        }
    }
    out.push(check(claim, ok, parts.join("; ")));
    out.push(Check {
        claim: "examples learnt by the last logged step".into(),
        verdict: Verdict::Reported,
        detail: fractions.join("; "),
    });
    out
}
