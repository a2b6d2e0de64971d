//! The "Expected" claims of PAPER.md, each checked on the runs at hand separately for every
//! seed. A claim is PASS only when every seed passes; otherwise FAIL names the seeds that
//! fail, with their numbers. "Not testable" when the runs are absent.

use std::fmt::Write;

use super::figures::{fig1_runs, fig4_runs, learnt_fractions, read_learnt, Learnt};
use super::{coherence_runs, Run};

/// The outcome of one claim on one seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    Pass,
    Fail,
    NotTestable,
    /// Reported with its numbers, not a pass/fail claim.
    Reported,
}

/// One claim on one seed: the claim's text, the verdict and the numbers behind it.
pub struct Check {
    pub claim: String,
    pub verdict: Verdict,
    pub detail: String,
}

fn check(claim: impl Into<String>, ok: bool, detail: String) -> Check {
    Check {
        claim: claim.into(),
        verdict: if ok { Verdict::Pass } else { Verdict::Fail },
        detail,
    }
}

fn untestable(claim: impl Into<String>, why: &str) -> Check {
    Check {
        claim: claim.into(),
        verdict: Verdict::NotTestable,
        detail: why.into(),
    }
}

/// The corrupt definition a run used: config.toml's `corrupt`, or "selected" for runs made
/// before the setting existed (they used the selection mask).
pub fn definition_of(run: &Run) -> &str {
    run.config
        .get("corrupt")
        .and_then(|v| v.as_str())
        .unwrap_or("selected")
}

/// The line of claims.md that states which examples count as corrupt.
pub fn definition_line(runs: &[&Run]) -> String {
    let mut defs: Vec<&str> = runs.iter().map(|r| definition_of(r)).collect();
    defs.sort_unstable();
    defs.dedup();
    let text = |d: &str| {
        match d {
        "changed" => "corrupt = label changed, pristine = label unchanged (the paper's definition, section 2.1; `--corrupt changed`, the default)".to_string(),
        "selected" => "corrupt = selected for the label permutation, including the ~1/10 whose label stayed put (`--corrupt selected`; runs made before that option existed also used it)".to_string(),
        other => format!("corrupt = {other}"),
    }
    };
    match defs.as_slice() {
        [] => String::new(),
        [one] => format!("Pristine and corrupt: {}.\n", text(one)),
        many => format!(
            "Pristine and corrupt: **these runs mix definitions** ({}); compare runs of one definition.\n",
            many.iter().map(|d| text(d)).collect::<Vec<_>>().join("; ")
        ),
    }
}

/// The seeds present, ascending.
fn seeds(runs: &[&Run]) -> Vec<u64> {
    let mut s: Vec<u64> = runs.iter().map(|r| r.seed).collect();
    s.sort_unstable();
    s.dedup();
    s
}

/// Runs `checks` on each seed's runs and writes every claim once, with its verdict over
/// the seeds and one line per seed.
fn per_seed(runs: &[&Run], checks: impl Fn(&[&Run]) -> Vec<Check>) -> String {
    let seeds = seeds(runs);
    let mut claims: Vec<(String, Vec<(u64, Check)>)> = Vec::new();
    for &seed in &seeds {
        let mine: Vec<&Run> = runs.iter().copied().filter(|r| r.seed == seed).collect();
        for c in checks(&mine) {
            match claims.iter_mut().find(|(name, _)| *name == c.claim) {
                Some((_, v)) => v.push((seed, c)),
                None => claims.push((c.claim.clone(), vec![(seed, c)])),
            }
        }
    }
    let mut s = String::new();
    for (claim, results) in claims {
        let n = seeds.len();
        let count = |v: Verdict| results.iter().filter(|r| r.1.verdict == v).count();
        let (pass, fail) = (count(Verdict::Pass), count(Verdict::Fail));
        let head = if results.iter().any(|r| r.1.verdict == Verdict::Reported) {
            "reported, not a pass/fail claim".to_string()
        } else if pass + fail == 0 {
            "not testable".to_string()
        } else if pass == n {
            if n == 1 {
                "**PASS** (one seed)".to_string()
            } else {
                format!("**PASS** on all {n} seeds")
            }
        } else {
            let failing: Vec<String> = results
                .iter()
                .filter(|r| r.1.verdict != Verdict::Pass)
                .map(|r| r.0.to_string())
                .collect();
            format!(
                "**FAIL**: {pass} of {n} seeds pass; seed{} {} do{} not",
                if failing.len() == 1 { "" } else { "s" },
                failing.join(", "),
                if failing.len() == 1 { "es" } else { "" }
            )
        };
        let _ = writeln!(s, "- {claim}: {head}");
        for (seed, c) in &results {
            let v = match c.verdict {
                Verdict::Pass => "PASS: ",
                Verdict::Fail => "FAIL: ",
                Verdict::NotTestable => "not testable: ",
                Verdict::Reported => "",
            };
            let _ = writeln!(s, "  - seed {seed}: {v}{}", c.detail);
        }
    }
    s
}

/// "Runs: N <what> on ARCH, seeds [..]." for a figure's groups of runs.
fn runs_line(groups: &[(f64, Vec<&Run>)], what: &str) -> String {
    let all: Vec<&Run> = groups.iter().flat_map(|g| g.1.iter().copied()).collect();
    let first = groups[0].1[0];
    format!(
        "Runs: {} {what} on {}, seeds {:?}.\n\n",
        groups.len(),
        first.protocol().unwrap_or_else(|| first.arch.clone()),
        seeds(&all)
    )
}

/// The first logged step at which column `col` reaches `frac` of its last value.
fn step_to_reach(run: &Run, col: &str, frac: f64) -> Option<f64> {
    let s = run.metrics.as_ref()?.series(col)?;
    let last = s.last()?.1;
    s.iter().find(|p| p.1 >= frac * last).map(|p| p.0)
}

/// The area under column `col` divided by its last value, over log(step) from step 1 to the
/// last logged step, as a fraction of that span (trapezoids between logged steps): 1 for a
/// curve at its final value from step 1 on, smaller the later it gets there.
fn log_step_area(run: &Run, col: &str) -> Option<f64> {
    let s: Vec<(f64, f64)> = run
        .metrics
        .as_ref()?
        .series(col)?
        .into_iter()
        .filter(|p| p.0 >= 1.0)
        .collect();
    let (first, last) = (s.first()?, s.last()?);
    if s.len() < 2 || last.1 <= 0.0 || last.0 <= first.0 {
        return None;
    }
    let area: f64 = s
        .windows(2)
        .map(|w| (w[1].0.ln() - w[0].0.ln()) * (w[0].1 + w[1].1) / 2.0)
        .sum();
    Some(area / (last.0.ln() - first.0.ln()) / last.1)
}

/// Median (never learnt counts as +infinity); NaN for an empty group.
fn median_with_inf(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median first-learnt step of the pristine and of the corrupt examples.
fn learnt_first_medians(examples: &[Learnt]) -> (f64, f64) {
    let group = |corrupt: bool| {
        examples
            .iter()
            .filter(|e| e.corrupt == corrupt)
            .map(|e| e.first.unwrap_or(f64::INFINITY))
            .collect::<Vec<_>>()
    };
    (median_with_inf(group(false)), median_with_inf(group(true)))
}

fn show_step(x: f64) -> String {
    if x.is_finite() {
        x.to_string()
    } else {
        "never".into()
    }
}

/// Experiment 1's runs of one seed, one per noise level.
fn one_per_level(groups: Vec<(f64, Vec<&Run>)>) -> Vec<&Run> {
    groups.into_iter().map(|g| g.1[0]).collect()
}

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

fn experiment1_checks(chosen: &[&Run]) -> Vec<Check> {
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
fn crossing(r: &Run, claim: String, is_claim: bool) -> (Check, Check) {
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

/// The proper accuracy at `noise` percent label noise: the pristine share plus the corrupt
/// examples whose random label lands on the true one by chance, (1 - n) + n/10.
fn proper_accuracy(noise: f64) -> f64 {
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
    s.push_str(&per_seed(runs, |mine| {
        let chosen: Vec<&Run> = fig4_runs(mine).into_iter().map(|g| g.1[0]).collect();
        experiment3_checks(&chosen)
    }));
    s
}

fn experiment3_checks(chosen: &[&Run]) -> Vec<Check> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Table;

    /// A fig4-like run: C, noise, seed and its train accuracy and overfit at steps 0 and 10.
    fn run(c: f64, noise: f64, seed: u64, train: [f64; 2], overfit: f64) -> Run {
        let rule = if c == 0.0 {
            "mean".to_string()
        } else {
            format!("winsor:{c}")
        };
        let mut config = toml::Table::new();
        config.insert("corrupt".into(), toml::Value::String("changed".into()));
        Run {
            dir: format!("c{c}-n{noise}-s{seed}").into(),
            noise,
            rule,
            arch: "3x256".into(),
            seed,
            config,
            metrics: Some(Table {
                header: ["step", "train_acc", "test_acc", "overfit"]
                    .map(String::from)
                    .to_vec(),
                rows: vec![
                    vec![0.0, train[0], 0.1, 0.0],
                    vec![10.0, train[1], 0.5, overfit],
                ],
            }),
            finished: true,
            coherence: None,
        }
    }

    /// PASS needs every seed; a failing seed is named with its excess.
    #[test]
    fn a_claim_passes_only_when_every_seed_does() {
        // seed 0: C=1 at 50% noise peaks at 0.54 (proper 0.55); seed 1 at 0.60
        let runs = [
            run(0.0, 0.0, 0, [0.1, 0.99], 0.1),
            run(1.0, 0.0, 0, [0.1, 0.95], 0.05),
            run(0.0, 50.0, 0, [0.1, 0.9], 0.4),
            run(1.0, 50.0, 0, [0.1, 0.54], 0.1),
            run(0.0, 0.0, 1, [0.1, 0.99], 0.1),
            run(1.0, 0.0, 1, [0.1, 0.96], 0.05),
            run(0.0, 50.0, 1, [0.1, 0.9], 0.4),
            run(1.0, 50.0, 1, [0.1, 0.60], 0.1),
        ];
        let refs: Vec<&Run> = runs.iter().collect();
        let md = experiment3(&refs);
        let line = |start: &str| {
            md.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no line {start:?} in\n{md}"))
                .to_string()
        };
        assert!(
            line("- for c > 0 train accuracy")
                .ends_with("**FAIL**: 1 of 2 seeds pass; seed 1 does not"),
            "{md}"
        );
        assert!(
            md.contains("  - seed 0: PASS: largest excess -0.010"),
            "{md}"
        );
        assert!(
            md.contains(
                "  - seed 1: FAIL: largest excess +0.050; C=1 50%: max 0.600 vs 0.550 (+0.050)"
            ),
            "{md}"
        );
        assert!(
            line("- overfit grows more slowly").ends_with("**PASS** on all 2 seeds"),
            "{md}"
        );
        assert!(line("- large c also makes fitting harder").contains("**PASS** on all 2 seeds"));
        assert!(line("- accuracies may peak then fall").contains("reported"));
        assert_eq!(
            definition_line(&refs),
            "Pristine and corrupt: corrupt = label changed, pristine = label unchanged (the paper's definition, section 2.1; `--corrupt changed`, the default).\n"
        );
    }

    /// The permutation p-value counts the null worlds at least as far from the share as the
    /// real curve, plus one, over K + 1.
    #[test]
    fn permutation_p_value_counts_null_worlds_as_far_out() {
        let curve = |v: &[f64]| -> Vec<(f64, f64)> {
            v.iter().enumerate().map(|(i, &x)| (i as f64, x)).collect()
        };
        let real = curve(&[0.70, 0.60, 0.45]); // departs 0.15 from 0.55
        let nulls: Vec<Vec<(f64, f64)>> = [0.56, 0.50, 0.58, 0.71, 0.54]
            .iter()
            .map(|&x| curve(&[0.55, x, 0.55]))
            .collect();
        let p = permutation_test(&real, &nulls, 0.55).unwrap();
        assert!((p.real - 0.15).abs() < 1e-12);
        // only the null world reaching 0.71 (0.16 out) is at least as far
        assert_eq!(p.at_least_as_far, 1);
        assert!((p.p_value - 2.0 / 6.0).abs() < 1e-12);
        assert!((p.largest_null - 0.16).abs() < 1e-12);
        // ties count against the real curve
        let tie = vec![curve(&[0.55, 0.40, 0.55])];
        assert_eq!(permutation_test(&real, &tie, 0.55).unwrap().p_value, 1.0);
        assert!(permutation_test(&real, &[], 0.55).is_none());
    }

    /// The log-step area is 1 for a curve at its final value from step 1 on, and smaller for
    /// a later rise; step 0 is left out (its log is -infinity).
    #[test]
    fn log_step_area_weighs_the_whole_curve() {
        let mut r = run(0.0, 0.0, 0, [0.1, 0.9], 0.0);
        let set = |r: &mut Run, rows: Vec<Vec<f64>>| {
            r.metrics.as_mut().unwrap().rows = rows;
        };
        set(
            &mut r,
            vec![
                vec![0.0, 0.1, 0.0, 0.0],
                vec![1.0, 0.8, 0.0, 0.0],
                vec![100.0, 0.8, 0.0, 0.0],
            ],
        );
        assert!((log_step_area(&r, "train_acc").unwrap() - 1.0).abs() < 1e-12);
        // 0.4 at steps 1 and 10, then 0.8 from step 100: (0.4 + 0.6) / 2 of the span / 0.8
        set(
            &mut r,
            vec![
                vec![1.0, 0.4, 0.0, 0.0],
                vec![10.0, 0.4, 0.0, 0.0],
                vec![100.0, 0.8, 0.0, 0.0],
            ],
        );
        let want = (0.4 + 0.6) / 2.0 / 0.8;
        assert!((log_step_area(&r, "train_acc").unwrap() - want).abs() < 1e-12);
        set(&mut r, vec![vec![1.0, 0.4, 0.0, 0.0]]);
        assert!(log_step_area(&r, "train_acc").is_none());
    }
}
