//! Aggregation rules and the numpy "nearest" percentile convention they use.

use serde::{Deserialize, Serialize};

/// The sign rules' default constant (the author's code).
pub const SIGN_SCALE: f64 = 0.001;

/// How the B per-example gradients of a minibatch become one update, coordinate by coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Rule {
    /// Plain SGD: the mean.
    Mean,
    /// Clip at the C-th and (100-C)-th percentile (numpy "nearest"), then the mean.
    Winsor(f64),
    /// Drop the values winsor:C would clip, then the mean of the rest.
    Trim(f64),
    /// The median (even B: the mean of the two middle values).
    Median,
    /// scale * sign(sum of the per-example gradients).
    SignSum(f64),
    /// scale * (sum of the per-example gradients' signs).
    SumSign(f64),
    /// Temporal: the coordinate-wise median of the last 3 minibatch mean gradients.
    Temporal(Temporal),
}

/// The temporal rules of "Weak and Strong Gradient Directions": they keep the last three
/// minibatch mean gradients, and take no step until three exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Temporal {
    /// rm3: the running median of 3, applied every step.
    Rm3,
    /// m3: the median of 3, applied every third step (the three gradients are then taken at
    /// the same weights).
    M3,
    /// ra3: the running mean of 3, applied every step (the control for rm3).
    Ra3,
}

impl Temporal {
    /// Whether the step with 0-based index `t` updates the weights.
    pub fn applies(self, t: u64) -> bool {
        t >= 2 && (self != Temporal::M3 || t % 3 == 2)
    }

    /// The update from three values in chronological order.
    pub fn combine(self, x: [f64; 3]) -> f64 {
        match self {
            Temporal::Rm3 | Temporal::M3 => x[0].min(x[1]).max(x[0].max(x[1]).min(x[2])),
            Temporal::Ra3 => (x[0] + x[1] + x[2]) / 3.0,
        }
    }
}

/// How a rule turns a coordinate's per-example values into its update (the selection
/// kernels' FINISH constant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Mean of the values clipped to [lo, hi] (mean and winsor; the sum of signs for
    /// sum-sign, whose values are signs).
    ClippedMean = 0,
    /// Mean of the values between the clipped ones.
    TrimmedMean = 1,
    /// (lo + hi) / 2.
    Midpoint = 2,
    /// scale * sign(sum).
    SignOfSum = 3,
}

/// Which selection kernel computes the order statistics (`--select`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Select {
    /// A bitonic sorting network per coordinate: any clip count.
    Sort,
    /// The partial selection network: keeps the k+1 extremes per side; fast for small k.
    Partial,
    /// Partial for small clip counts, sort otherwise: the kernel plan decides
    /// (`KernelPlan::select_path`).
    #[default]
    Auto,
}

impl std::str::FromStr for Select {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sort" => Ok(Select::Sort),
            "partial" => Ok(Select::Partial),
            "auto" => Ok(Select::Auto),
            _ => Err(format!("--select {s:?}: expected sort, partial or auto")),
        }
    }
}

impl std::fmt::Display for Select {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Select::Sort => "sort",
            Select::Partial => "partial",
            Select::Auto => "auto",
        })
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scaled = |f: &mut std::fmt::Formatter<'_>, name: &str, c: f64| {
            if c == SIGN_SCALE {
                write!(f, "{name}")
            } else {
                write!(f, "{name}:{c}")
            }
        };
        match self {
            Rule::Mean => write!(f, "mean"),
            Rule::Winsor(c) => write!(f, "winsor:{c}"),
            Rule::Trim(c) => write!(f, "trim:{c}"),
            Rule::Median => write!(f, "median"),
            Rule::SignSum(c) => scaled(f, "sign-sum", *c),
            Rule::SumSign(c) => scaled(f, "sum-sign", *c),
            Rule::Temporal(Temporal::Rm3) => write!(f, "rm3"),
            Rule::Temporal(Temporal::M3) => write!(f, "m3"),
            Rule::Temporal(Temporal::Ra3) => write!(f, "ra3"),
        }
    }
}

const RULES_HELP: &str = "expected mean, winsor:C, trim:C (C a percentile in [0, 50)), median, sign-sum[:S], sum-sign[:S] (S the step constant, default 0.001), rm3, m3 or ra3";

impl std::str::FromStr for Rule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mean" => return Ok(Rule::Mean),
            "median" => return Ok(Rule::Median),
            "sign-sum" => return Ok(Rule::SignSum(SIGN_SCALE)),
            "sum-sign" => return Ok(Rule::SumSign(SIGN_SCALE)),
            "rm3" => return Ok(Rule::Temporal(Temporal::Rm3)),
            "m3" => return Ok(Rule::Temporal(Temporal::M3)),
            "ra3" => return Ok(Rule::Temporal(Temporal::Ra3)),
            _ => {}
        }
        for (prefix, make) in [
            ("winsor:", Rule::winsor as fn(f64) -> Result<Rule, String>),
            ("trim:", Rule::trim),
            ("sign-sum:", Rule::sign_sum),
            ("sum-sign:", Rule::sum_sign),
        ] {
            if let Some(c) = s.strip_prefix(prefix) {
                let c: f64 = c.parse().map_err(|_| {
                    format!("--rule {s:?}: the part after ':' must be a number, e.g. {prefix}4")
                })?;
                return make(c);
            }
        }
        Err(format!("--rule {s:?}: unknown rule; {RULES_HELP}"))
    }
}

impl Rule {
    /// A winsorization rule, checked: the percentile C must be in [0, 50).
    pub fn winsor(c: f64) -> Result<Rule, String> {
        check_percentile("winsor", c)?;
        Ok(Rule::Winsor(c))
    }

    /// A trimmed-mean rule, checked like [`Rule::winsor`].
    pub fn trim(c: f64) -> Result<Rule, String> {
        check_percentile("trim", c)?;
        Ok(Rule::Trim(c))
    }

    /// sign-sum with step constant `s` (positive and finite).
    pub fn sign_sum(s: f64) -> Result<Rule, String> {
        check_scale("sign-sum", s)?;
        Ok(Rule::SignSum(s))
    }

    /// sum-sign with step constant `s` (positive and finite).
    pub fn sum_sign(s: f64) -> Result<Rule, String> {
        check_scale("sum-sign", s)?;
        Ok(Rule::SumSign(s))
    }

    /// Whether the rule needs the per-example gradients (a selection kernel); the others
    /// need only the minibatch mean gradient.
    pub fn per_example(&self) -> bool {
        !matches!(self, Rule::Mean | Rule::Temporal(_))
    }

    /// Whether the rule picks order statistics (so `--select` matters).
    pub fn selects(&self) -> bool {
        matches!(self, Rule::Winsor(_) | Rule::Trim(_) | Rule::Median)
    }

    /// How the kept order statistics become the update.
    pub fn finish(&self) -> Finish {
        match self {
            Rule::Mean | Rule::Winsor(_) | Rule::SumSign(_) | Rule::Temporal(_) => {
                Finish::ClippedMean
            }
            Rule::Trim(_) => Finish::TrimmedMean,
            Rule::Median => Finish::Midpoint,
            Rule::SignSum(_) => Finish::SignOfSum,
        }
    }

    /// (k_lo, k_hi): how many values are raised to the lower percentile and lowered to the
    /// upper one, for a minibatch of `b` examples. Rules that select nothing give (0, 0).
    pub fn clip_counts(&self, b: usize) -> (usize, usize) {
        match *self {
            Rule::Winsor(c) | Rule::Trim(c) => {
                let lo = nearest_rank(c, b);
                let hi = nearest_rank(100.0 - c, b);
                (lo, b - 1 - hi)
            }
            // sorted indices (b-1)/2 and b/2: the middle one, or the two middle ones
            Rule::Median => ((b - 1) / 2, (b - 1) / 2),
            _ => (0, 0),
        }
    }
}

fn check_percentile(name: &str, c: f64) -> Result<(), String> {
    if !(0.0..50.0).contains(&c) {
        return Err(format!(
            "{name} C = {c}: C is the percentile clipped on each side and must be in [0, 50); C >= 50 would clip past the median"
        ));
    }
    Ok(())
}

fn check_scale(name: &str, s: f64) -> Result<(), String> {
    if !(s.is_finite() && s > 0.0) {
        return Err(format!(
            "{name}:{s}: the step constant must be a positive number (default {SIGN_SCALE})"
        ));
    }
    Ok(())
}

/// Sorted index of the q-th percentile of `n` values under numpy's "nearest" method:
/// `around((n - 1) * (q / 100))`, with numpy's round-half-to-even.
pub fn nearest_rank(q: f64, n: usize) -> usize {
    let v = ((n - 1) as f64) * (q / 100.0);
    v.round_ties_even() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules() {
        assert_eq!("mean".parse::<Rule>().unwrap(), Rule::Mean);
        assert_eq!("winsor:4".parse::<Rule>().unwrap(), Rule::Winsor(4.0));
        assert_eq!("winsor:0.5".parse::<Rule>().unwrap(), Rule::Winsor(0.5));
        assert_eq!("trim:10".parse::<Rule>().unwrap(), Rule::Trim(10.0));
        assert_eq!("median".parse::<Rule>().unwrap(), Rule::Median);
        assert_eq!("sign-sum".parse::<Rule>().unwrap(), Rule::SignSum(0.001));
        assert_eq!(
            "sum-sign:0.01".parse::<Rule>().unwrap(),
            Rule::SumSign(0.01)
        );
        assert_eq!("m3".parse::<Rule>().unwrap(), Rule::Temporal(Temporal::M3));
        // Display round-trips (run directories and config.toml use it)
        for s in [
            "mean",
            "winsor:4",
            "trim:2.5",
            "median",
            "sign-sum",
            "sum-sign:0.01",
            "rm3",
            "m3",
            "ra3",
        ] {
            assert_eq!(s.parse::<Rule>().unwrap().to_string(), s);
        }
        for bad in [
            "sign-sum:0",
            "sum-sign:-1",
            "sign-sum:inf",
            "rm4",
            "winsor:50",
            "winsor:-1",
            "winsor:x",
            "median?",
            "winsor:",
            "winsor:NaN",
            "trim:50",
            "trim:",
        ] {
            assert!(bad.parse::<Rule>().is_err(), "{bad}");
        }
    }

    #[test]
    fn temporal_schedule_and_combination() {
        let applied = |r: Temporal| (0..9).filter(|&t| r.applies(t)).collect::<Vec<_>>();
        assert_eq!(applied(Temporal::Rm3), vec![2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(applied(Temporal::Ra3), vec![2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(applied(Temporal::M3), vec![2, 5, 8]);
        for (x, m) in [
            ([1.0, 2.0, 3.0], 2.0),
            ([3.0, 1.0, 2.0], 2.0),
            ([2.0, 3.0, 1.0], 2.0),
            ([5.0, 5.0, -1.0], 5.0),
            ([-1.0, 0.0, 0.0], 0.0),
        ] {
            assert_eq!(Temporal::Rm3.combine(x), m, "{x:?}");
        }
        assert_eq!(Temporal::Ra3.combine([1.0, 2.0, 6.0]), 3.0);
    }

    #[test]
    fn paper_b100_counts() {
        // PAPER.md: for B = 100 and c <= 8, the c smallest are raised to the (c+1)-th smallest.
        for c in [1, 2, 4, 8] {
            assert_eq!(Rule::Winsor(c as f64).clip_counts(100), (c, c));
        }
        assert_eq!(Rule::Winsor(0.0).clip_counts(100), (0, 0));
        assert_eq!(Rule::Mean.clip_counts(7), (0, 0));
        // median: indices 49 and 50 of 100, the middle one of 101
        assert_eq!(Rule::Median.clip_counts(100), (49, 49));
        assert_eq!(Rule::Median.clip_counts(101), (50, 50));
        assert_eq!(Rule::Median.clip_counts(1), (0, 0));
    }
}
