//! The factor both selection paths multiply the selected sum by.

use crate::rule::Rule;

/// The factor the summed values are multiplied by.
pub fn scale(rule: &Rule, rows: usize, k_lo: usize, k_hi: usize) -> f32 {
    match *rule {
        Rule::SignSum(s) | Rule::SumSign(s) => s as f32,
        Rule::Trim(_) => 1.0 / (rows - k_lo - k_hi) as f32,
        _ => 1.0 / rows as f32,
    }
}
