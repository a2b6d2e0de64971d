//! PAPER.md's Experiment 3: winsorization against memorisation.

use super::checks::*;
use crate::report::figures::fig4_runs;
use crate::report::Run;

/// The proper accuracy at `noise` percent label noise: the pristine share plus the corrupt
/// examples whose random label lands on the true one by chance, (1 - n) + n/10.
pub(super) fn proper_accuracy(noise: f64) -> f64 {
    let n = noise / 100.0;
    (1.0 - n) + n / 10.0
}

/// Experiment 3 (Figure 4): winsor:C for C in 0, 1, 2, 4, 8 x noise levels.
pub fn experiment3(runs: &[&Run]) -> String {
    let mut s = String::from("## Experiment 3 (Figure 4): winsorized SGD\n\n");
    let chosen = fig4_runs(runs);
    if chosen.is_empty() {
        s.push_str("Not testable: no `winsor:C` runs.\n");
        return s;
    }
    s.push_str(&runs_line(&chosen, "settings (C x noise)"));
    let first_seed: Vec<&Run> = {
        let seed = seeds(runs)[0];
        let mine: Vec<&Run> = runs.iter().copied().filter(|r| r.seed == seed).collect();
        fig4_runs(&mine).into_iter().map(|g| g.1[0]).collect()
    };
    s.push_str(&testable_line(&experiment3_checks(&first_seed)));
    s.push_str(&per_seed(runs, |mine| {
        let chosen: Vec<&Run> = fig4_runs(mine).into_iter().map(|g| g.1[0]).collect();
        experiment3_checks(&chosen)
    }));
    s
}

pub(super) fn experiment3_checks(chosen: &[&Run]) -> Vec<Check> {
    let mut out = Vec::new();
    let claim = "for c > 0 train accuracy stays at or below the proper accuracy (1 - n) + n/10 (largest logged train accuracy; PASS allows 0.01 above)";
    let mut cells = Vec::new();
    let mut ok = true;
    let mut worst = f64::NEG_INFINITY;
    for r in chosen
        .iter()
        .filter(|r| r.winsor_c().unwrap_or(0.0) > 0.0 && r.noise > 0.0)
    {
        let proper = proper_accuracy(r.noise);
        let Some(max) = r
            .metrics
            .as_ref()
            .and_then(|m| m.series("train_acc"))
            .map(|v| v.iter().fold(f64::MIN, |a, p| a.max(p.1)))
        else {
            continue;
        };
        let below = max <= proper + 0.01;
        ok &= below;
        worst = worst.max(max - proper);
        cells.push(format!(
            "C={} {}%: max {max:.3} vs {proper:.3}{}",
            r.winsor_c().unwrap_or(0.0),
            r.noise,
            if below {
                String::new()
            } else {
                format!(" (+{:.3})", max - proper)
            }
        ));
    }
    out.push(if cells.is_empty() {
        untestable(claim, "no run with C > 0 and noise > 0")
    } else {
        check(
            claim,
            ok,
            format!("largest excess {worst:+.3}; {}", cells.join("; ")),
        )
    });
    let claim = "overfit grows more slowly as c grows (final overfit non-increasing in C within 0.01 at each noise level)";
    let mut noises: Vec<f64> = chosen
        .iter()
        .map(|r| r.noise)
        .filter(|&n| n > 0.0)
        .collect();
    noises.sort_by(f64::total_cmp);
    noises.dedup();
    let mut parts = Vec::new();
    let mut ok = true;
    let mut tested = false;
    for n in &noises {
        let mut by_c: Vec<(f64, f64)> = chosen
            .iter()
            .filter(|r| r.noise == *n)
            .filter_map(|r| Some((r.winsor_c()?, r.last("overfit")?)))
            .collect();
        by_c.sort_by(|a, b| a.0.total_cmp(&b.0));
        if by_c.len() < 2 {
            continue;
        }
        tested = true;
        let rise = by_c
            .windows(2)
            .map(|w| w[1].1 - w[0].1)
            .fold(f64::NEG_INFINITY, f64::max);
        let slower = rise <= 0.01;
        ok &= slower;
        parts.push(format!(
            "{n}%: {}{}",
            by_c.iter()
                .map(|(c, o)| format!("C={c} {o:.3}"))
                .collect::<Vec<_>>()
                .join(", "),
            if slower {
                String::new()
            } else {
                format!(" (rises by {rise:.3})")
            }
        ));
    }
    out.push(if tested {
        check(claim, ok, parts.join("; "))
    } else {
        untestable(claim, "no noise level with two values of C")
    });
    let claim = "large c also makes fitting harder (final train accuracy at 0% noise lower at the largest C than at C = 0)";
    let mut clean: Vec<(f64, f64)> = chosen
        .iter()
        .filter(|r| r.noise == 0.0)
        .filter_map(|r| Some((r.winsor_c()?, r.last("train_acc")?)))
        .collect();
    clean.sort_by(|a, b| a.0.total_cmp(&b.0));
    out.push(if clean.len() < 2 {
        untestable(claim, "needs two values of C at 0% noise")
    } else {
        check(
            claim,
            clean.last().map(|l| l.1) < clean.first().map(|f| f.1),
            clean
                .iter()
                .map(|(c, a)| format!("C={c} {a:.4}"))
                .collect::<Vec<_>>()
                .join(", "),
        )
    });
    // The precondition of the claims above, as the paper's own scale shows it (PAPER.md,
    // Experiment 3): plain SGD memorises part of the noise, its train accuracy climbing
    // above the proper accuracy (to about 0.94 at 50% noise in 100 epochs), so that there is
    // something for winsorization to hold back. It is not a 100% memorisation threshold:
    // at the paper's scale plain SGD does not reach one in 100 epochs.
    let claim = "regime: at c = 0 train accuracy rises above the proper accuracy at every noise level > 0 (final train accuracy > proper + 0.01; the paper's scale: about 0.94 against 0.55 at 50% noise)";
    let plain: Vec<(f64, f64)> = chosen
        .iter()
        .filter(|r| r.winsor_c() == Some(0.0) && r.noise > 0.0)
        .filter_map(|r| Some((r.noise, r.last("train_acc")?)))
        .collect();
    let proper = proper_accuracy;
    out.push(if plain.is_empty() {
        untestable(claim, "no run with C = 0 and noise > 0")
    } else {
        check(
            claim,
            plain.iter().all(|&(n, a)| a > proper(n) + 0.01),
            plain
                .iter()
                .map(|&(n, a)| format!("{n}%: {a:.4} vs {:.3}", proper(n)))
                .collect::<Vec<_>>()
                .join(", "),
        )
    });
    let peaked: Vec<String> = chosen
        .iter()
        .filter_map(|r| {
            let v = r.metrics.as_ref()?.series("test_acc")?;
            let max = v.iter().fold(f64::MIN, |a, p| a.max(p.1));
            let last = v.last()?.1;
            (max - last > 0.01).then(|| {
                format!(
                    "C={} {}%: peak {max:.3}, final {last:.3}",
                    r.winsor_c().unwrap_or(0.0),
                    r.noise
                )
            })
        })
        .collect();
    out.push(Check {
        claim: "accuracies may peak then fall".into(),
        verdict: Verdict::Reported,
        detail: format!(
            "test accuracy fell more than 0.01 below its peak in {} of {} runs{}",
            peaked.len(),
            chosen.len(),
            if peaked.is_empty() {
                String::new()
            } else {
                format!(" ({})", peaked.join("; "))
            }
        ),
    });
    out
}
