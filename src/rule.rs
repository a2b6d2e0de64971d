//! Aggregation rules and the numpy "nearest" percentile convention they use.

use serde::{Deserialize, Serialize};

/// How the B per-example gradients of a minibatch become one update, coordinate by coordinate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Rule {
    /// Plain SGD: the mean.
    Mean,
    /// Clip at the C-th and (100-C)-th percentile (numpy "nearest"), then the mean.
    Winsor(f64),
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rule::Mean => write!(f, "mean"),
            Rule::Winsor(c) => write!(f, "winsor:{c}"),
        }
    }
}

impl std::str::FromStr for Rule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "mean" {
            return Ok(Rule::Mean);
        }
        if let Some(c) = s.strip_prefix("winsor:") {
            let c: f64 = c
                .parse()
                .map_err(|_| format!("--rule {s:?}: C must be a number, e.g. winsor:4"))?;
            return Rule::winsor(c);
        }
        Err(format!(
            "--rule {s:?}: unknown rule; expected mean or winsor:C (C a percentile in [0, 50))"
        ))
    }
}

impl Rule {
    /// A winsorization rule, checked: the percentile C must be in [0, 50).
    pub fn winsor(c: f64) -> Result<Rule, String> {
        if !(0.0..50.0).contains(&c) {
            return Err(format!(
                "winsor C = {c}: C is the percentile clipped on each side and must be in [0, 50); C >= 50 would clip past the median"
            ));
        }
        Ok(Rule::Winsor(c))
    }

    /// (k_lo, k_hi): how many values are raised to the lower percentile and lowered to the
    /// upper one, for a minibatch of `b` examples. Mean is (0, 0).
    pub fn clip_counts(&self, b: usize) -> (usize, usize) {
        match *self {
            Rule::Mean => (0, 0),
            Rule::Winsor(c) => {
                let lo = nearest_rank(c, b);
                let hi = nearest_rank(100.0 - c, b);
                (lo, b - 1 - hi)
            }
        }
    }
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
        for bad in [
            "winsor:50",
            "winsor:-1",
            "winsor:x",
            "median?",
            "winsor:",
            "winsor:NaN",
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
    }
}
