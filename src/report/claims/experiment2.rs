//! PAPER.md's Experiment 2: f_p and f_c with null worlds.

use std::fmt::Write;

use super::checks::*;
use crate::report::figures::read_learnt;
use crate::report::{coherence_runs, Run};

/// Section 2.4 (Figure 2): for 25% and 50% noise f_p starts above f_c and they cross after a
/// few steps; null worlds do not cross. 75% is reported.
pub fn experiment2(runs: &[&Run]) -> String {
    let mut s = String::from(
        "## Experiment 2 (section 2.4, Figure 2): f_p starts above f_c and they cross after a few steps; null worlds do not cross\n\n",
    );
    let groups = coherence_runs(runs);
    if groups.is_empty() {
        s.push_str("Not testable: no run with `--coherence` at 0 < noise < 100.\n");
        return s;
    }
    s.push_str(&runs_line(&groups, "noise levels with --coherence"));
    let coh: Vec<&Run> = groups.iter().flat_map(|g| g.1.iter().copied()).collect();
    s.push_str(&per_seed(&coh, |mine| {
        let mut out = Vec::new();
        for noise in [25.0, 50.0, 75.0] {
            let claim = if noise < 75.0 {
                format!(
                    "{noise}% noise: f_p starts above f_c, they cross, and no null world crosses"
                )
            } else {
                format!("{noise}% noise (the paper makes no claim here): where f_p and f_c cross")
            };
            let Some(r) = mine.iter().find(|r| r.noise == noise) else {
                out.push(untestable(
                    claim,
                    "no run with --coherence at this noise level",
                ));
                continue;
            };
            let (sign, test) = crossing(r, claim, noise < 75.0);
            out.push(sign);
            out.push(test);
        }
        out
    }));
    s
}

/// The crossing check of one coherence run, in the paper's words (f_p starts above f_c,
/// they cross, no null world crosses), and the permutation test beside it.
pub(super) fn crossing(r: &Run, claim: String, is_claim: bool) -> (Check, Check) {
    let test_claim = format!(
        "{}% noise: f_p departs from the pristine share further than in the null worlds (permutation test of max_t |f_p - |P|/N|)",
        r.noise
    );
    let t = r.coherence.as_ref().expect("a coherence run");
    let (Some(fp), Some(fc)) = (t.series("f_p"), t.series("f_c")) else {
        let why = "coherence.csv lacks f_p or f_c";
        return (untestable(claim.clone(), why), untestable(test_claim, why));
    };
    let last = fp.last().map_or(0.0, |x| x.0);
    let (s0, p0, c0) = (fp[0].0, fp[0].1, fc[0].1);
    let starts_above = p0 > c0;
    // the first measured step with f_p below f_c, and the one before it
    let cross = fp
        .iter()
        .zip(&fc)
        .position(|(p, c)| p.1 < c.1)
        .filter(|&i| i > 0);
    let mut detail = format!("step {s0}: f_p {p0:.4}, f_c {c0:.4}; ");
    // a null world's f_p sits at the pristine share, give or take sampling spread
    let share = read_learnt(r)
        .map(|e| e.iter().filter(|x| !x.corrupt).count() as f64 / e.len().max(1) as f64);
    if let Some(share) = share {
        let _ = write!(detail, "pristine share |P|/N {share:.3}; ");
    }
    match cross {
        Some(i) => {
            let _ = write!(
                detail,
                "they cross between steps {} and {} (f_p {:.4} -> {:.4})",
                fp[i - 1].0,
                fp[i].0,
                fp[i - 1].1,
                fp[i].1
            );
        }
        None => {
            let _ = write!(
                detail,
                "no crossing up to step {last} (there f_p {:.4}, f_c {:.4})",
                fp.last().map_or(f64::NAN, |x| x.1),
                fc.last().map_or(f64::NAN, |x| x.1)
            );
        }
    }
    let nulls: Vec<Vec<(f64, f64)>> = (1..)
        .map_while(|k| t.series(&format!("f_p_null{k}")))
        .collect();
    // f_c = 1 - f_p, so a world crosses when its f_p changes side of one half
    let crosses = |fp: &[(f64, f64)]| fp.iter().any(|p| (p.1 > 0.5) != (fp[0].1 > 0.5));
    let crossing_nulls = nulls.iter().filter(|np| crosses(np)).count();
    if !nulls.is_empty() {
        let (lo, hi) = nulls
            .iter()
            .flatten()
            .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x.1), b.max(x.1)));
        let mean = nulls.iter().flatten().map(|x| x.1).sum::<f64>()
            / nulls.iter().map(Vec::len).sum::<usize>().max(1) as f64;
        let _ = write!(
            detail,
            "; {crossing_nulls} of {} null worlds cross (their f_p in [{lo:.4}, {hi:.4}], mean {mean:.4})",
            nulls.len()
        );
    }
    let verdict = |ok: bool| if ok { Verdict::Pass } else { Verdict::Fail };
    let sign = Check {
        claim: claim.clone(),
        verdict: if is_claim {
            verdict(starts_above && cross.is_some() && crossing_nulls == 0)
        } else {
            Verdict::Reported
        },
        detail,
    };
    let claim = test_claim;
    let test = match (share, permutation_test(&fp, &nulls, share.unwrap_or(0.0))) {
        (None, _) => untestable(claim, "examples.csv missing: no pristine share"),
        (_, None) => untestable(claim, "no null worlds in coherence.csv"),
        (Some(_), Some(p)) => Check {
            claim,
            verdict: if is_claim {
                verdict(p.p_value <= 0.05)
            } else {
                Verdict::Reported
            },
            detail: p.describe(),
        },
    };
    (sign, test)
}

/// The permutation test Experiment 2's argument needs: a null world's f_p sits at the
/// pristine share |P|/N give or take sampling spread, so the question is whether the real
/// f_p departs from the share further than the null worlds do. The statistic is the largest
/// departure over the measured steps, max_t |f_p(t) - |P|/N|; the p-value counts the null
/// worlds at least as far out, (1 + #{null >= real}) / (1 + K).
pub struct Permutation {
    pub real: f64,
    pub nulls: usize,
    pub at_least_as_far: usize,
    pub largest_null: f64,
    pub p_value: f64,
}

impl Permutation {
    fn describe(&self) -> String {
        format!(
            "largest departure of f_p from the pristine share {:.4}; null worlds' largest {:.4}; {} of {} null worlds at least as far; p = {:.4} (PASS needs p <= 0.05)",
            self.real, self.largest_null, self.at_least_as_far, self.nulls, self.p_value
        )
    }
}

pub fn permutation_test(
    real: &[(f64, f64)],
    nulls: &[Vec<(f64, f64)>],
    share: f64,
) -> Option<Permutation> {
    if nulls.is_empty() {
        return None;
    }
    let departure = |fp: &[(f64, f64)]| fp.iter().map(|p| (p.1 - share).abs()).fold(0.0, f64::max);
    let d = departure(real);
    let null_d: Vec<f64> = nulls.iter().map(|n| departure(n)).collect();
    let at_least_as_far = null_d.iter().filter(|&&x| x >= d).count();
    Some(Permutation {
        real: d,
        nulls: nulls.len(),
        at_least_as_far,
        largest_null: null_d.iter().copied().fold(0.0, f64::max),
        p_value: (1 + at_least_as_far) as f64 / (1 + nulls.len()) as f64,
    })
}
