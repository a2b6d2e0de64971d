//! Aggregation rules and the numpy "nearest" percentile convention they use.

use serde::{Deserialize, Serialize};

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
}

/// How a rule turns a coordinate's kept order statistics into its update (the selection
/// kernel's FINISH constant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Mean of the values clipped to [lo, hi].
    ClippedMean = 0,
    /// Mean of the values between the clipped ones.
    TrimmedMean = 1,
    /// (lo + hi) / 2.
    Midpoint = 2,
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rule::Mean => write!(f, "mean"),
            Rule::Winsor(c) => write!(f, "winsor:{c}"),
            Rule::Trim(c) => write!(f, "trim:{c}"),
            Rule::Median => write!(f, "median"),
        }
    }
}

impl std::str::FromStr for Rule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "mean" {
            return Ok(Rule::Mean);
        }
        if s == "median" {
            return Ok(Rule::Median);
        }
        for (prefix, make) in [
            ("winsor:", Rule::winsor as fn(f64) -> Result<Rule, String>),
            ("trim:", Rule::trim),
        ] {
            if let Some(c) = s.strip_prefix(prefix) {
                let c: f64 = c
                    .parse()
                    .map_err(|_| format!("--rule {s:?}: C must be a number, e.g. {prefix}4"))?;
                return make(c);
            }
        }
        Err(format!(
            "--rule {s:?}: unknown rule; expected mean, winsor:C, trim:C (C a percentile in [0, 50)) or median"
        ))
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

    /// How the kept order statistics become the update.
    pub fn finish(&self) -> Finish {
        match self {
            Rule::Mean | Rule::Winsor(_) => Finish::ClippedMean,
            Rule::Trim(_) => Finish::TrimmedMean,
            Rule::Median => Finish::Midpoint,
        }
    }

    /// (k_lo, k_hi): how many values are raised to the lower percentile and lowered to the
    /// upper one, for a minibatch of `b` examples. Mean is (0, 0).
    pub fn clip_counts(&self, b: usize) -> (usize, usize) {
        match *self {
            Rule::Mean => (0, 0),
            Rule::Winsor(c) | Rule::Trim(c) => {
                let lo = nearest_rank(c, b);
                let hi = nearest_rank(100.0 - c, b);
                (lo, b - 1 - hi)
            }
            // sorted indices (b-1)/2 and b/2: the middle one, or the two middle ones
            Rule::Median => ((b - 1) / 2, (b - 1) / 2),
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
        for bad in [
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
