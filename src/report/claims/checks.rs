//! What every claim is built from: a check on one seed and its verdict, the table of
//! verdicts per seed, and the small measurements several claims share.

use std::fmt::Write;

use crate::report::figures::Learnt;
use crate::report::Run;

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

pub(super) fn check(claim: impl Into<String>, ok: bool, detail: String) -> Check {
    Check {
        claim: claim.into(),
        verdict: if ok { Verdict::Pass } else { Verdict::Fail },
        detail,
    }
}

pub(super) fn untestable(claim: impl Into<String>, why: &str) -> Check {
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
pub(super) fn seeds(runs: &[&Run]) -> Vec<u64> {
    let mut s: Vec<u64> = runs.iter().map(|r| r.seed).collect();
    s.sort_unstable();
    s.dedup();
    s
}

/// Runs `checks` on each seed's runs and writes every claim once, with its verdict over
/// the seeds and one line per seed.
pub(super) fn per_seed(runs: &[&Run], checks: impl Fn(&[&Run]) -> Vec<Check>) -> String {
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
            // the runs lack the cells the claim needs (a reduced protocol that runs part of
            // the grid, or a sweep of other settings): not a FAIL
            "not testable at this scale".to_string()
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
pub(super) fn runs_line(groups: &[(f64, Vec<&Run>)], what: &str) -> String {
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
pub(super) fn step_to_reach(run: &Run, col: &str, frac: f64) -> Option<f64> {
    let s = run.metrics.as_ref()?.series(col)?;
    let last = s.last()?.1;
    s.iter().find(|p| p.1 >= frac * last).map(|p| p.0)
}

/// The area under column `col` divided by its last value, over log(step) from step 1 to the
/// last logged step, as a fraction of that span (trapezoids between logged steps): 1 for a
/// curve at its final value from step 1 on, smaller the later it gets there.
pub(super) fn log_step_area(run: &Run, col: &str) -> Option<f64> {
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
pub(super) fn median_with_inf(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median first-learnt step of the pristine and of the corrupt examples.
pub(super) fn learnt_first_medians(examples: &[Learnt]) -> (f64, f64) {
    let group = |corrupt: bool| {
        examples
            .iter()
            .filter(|e| e.corrupt == corrupt)
            .map(|e| e.first.unwrap_or(f64::INFINITY))
            .collect::<Vec<_>>()
    };
    (median_with_inf(group(false)), median_with_inf(group(true)))
}

pub(super) fn show_step(x: f64) -> String {
    if x.is_finite() {
        x.to_string()
    } else {
        "never".into()
    }
}

/// Experiment 1's runs of one seed, one per noise level.
pub(super) fn one_per_level(groups: Vec<(f64, Vec<&Run>)>) -> Vec<&Run> {
    groups.into_iter().map(|g| g.1[0]).collect()
}

/// "Testable here: ...; not testable at this scale: ..." for one experiment's claims, from
/// the checks of its first seed (every seed has the same cells), so that a reduced protocol
/// says up front which claims it can test.
pub(super) fn testable_line(checks: &[Check]) -> String {
    let short = |c: &Check| {
        let text = c.claim.split(" (").next().unwrap_or(&c.claim);
        format!("\"{text}\"")
    };
    let pick = |testable: bool| -> Vec<String> {
        checks
            .iter()
            .filter(|c| c.verdict != Verdict::Reported)
            .filter(|c| (c.verdict != Verdict::NotTestable) == testable)
            .map(short)
            .collect()
    };
    let (yes, no) = (pick(true), pick(false));
    if no.is_empty() {
        return String::new();
    }
    format!(
        "Testable with these runs: {}. Not testable at this scale: {} (these runs lack the cells it needs: a reduced protocol that runs part of the grid, or a sweep of a few cells).\n\n",
        if yes.is_empty() { "none".to_string() } else { yes.join(", ") },
        no.join(", ")
    )
}
