//! The twin of the selection family (shaders/select/): every rule that looks at each
//! coordinate's per-example values, and the per-example gradients it looks at.

use crate::rule::Rule;

/// Aggregates the per-example gradients of one coordinate: `values` are g_e for e in the
/// minibatch. Sorting is the clearest statement of the numpy "nearest" percentiles. The
/// temporal rules aggregate a minibatch by its mean; [`temporal`] combines the steps.
pub fn aggregate_values(rule: &Rule, values: &[f64]) -> f64 {
    let b = values.len();
    let (k_lo, k_hi) = rule.clip_counts(b);
    let mut sorted = values.to_vec();
    sorted.sort_by(|x, y| x.partial_cmp(y).expect("no NaN"));
    let lo = sorted[k_lo];
    let hi = sorted[b - 1 - k_hi];
    match rule {
        Rule::Mean | Rule::Winsor(_) | Rule::Temporal(_) => {
            values.iter().map(|&v| v.clamp(lo, hi)).sum::<f64>() / b as f64
        }
        Rule::Trim(_) => {
            let kept = &sorted[k_lo..b - k_hi];
            kept.iter().sum::<f64>() / kept.len() as f64
        }
        Rule::Median => (lo + hi) / 2.0,
        Rule::SignSum(s) => s * sign(values.iter().sum()),
        Rule::SumSign(s) => s * values.iter().map(|&v| sign(v)).sum::<f64>(),
    }
}

/// numpy's sign: -1, 0 or 1 (and 0 for -0).
pub fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// The per-example gradients of coordinate `coord` of a layer's gradient segment (its
/// `fan_out x fan_in` weights row-major, then its `fan_out` biases), from the errors `d`
/// (rows x fan_out) and inputs `a` (rows x fan_in): d[e, j] * a[e, k] for weight (j, k) and
/// d[e, j] for bias j.
pub fn per_example_gradients(
    d: &[f64],
    a: &[f64],
    rows: usize,
    fan_out: usize,
    fan_in: usize,
    coord: usize,
) -> Vec<f64> {
    if coord < fan_out * fan_in {
        let (j, k) = (coord / fan_in, coord % fan_in);
        (0..rows)
            .map(|e| d[e * fan_out + j] * a[e * fan_in + k])
            .collect()
    } else {
        let j = coord - fan_out * fan_in;
        assert!(j < fan_out, "coordinate {coord} past the layer's segment");
        (0..rows).map(|e| d[e * fan_out + j]).collect()
    }
}

/// Kernels `select_partial`, `select_partial_cols` (shaders/select/select_partial.wgsl,
/// select_partial_cols.wgsl) and `select_sort` (shaders/select/select_sort.wgsl), the two selection
/// paths: the aggregated gradient of one layer under `rule` from its per-example errors `d`
/// (rows x fan_out) and inputs `a` (rows x fan_in). Returns (weights, biases); each
/// coordinate is [`aggregate_values`] of its [`per_example_gradients`]. (With an update the
/// kernels then apply [`sgd`] to the parameters in place.)
pub fn select(
    rule: &Rule,
    d: &[f64],
    a: &[f64],
    rows: usize,
    fan_out: usize,
    fan_in: usize,
) -> (Vec<f64>, Vec<f64>) {
    let coord =
        |c: usize| aggregate_values(rule, &per_example_gradients(d, a, rows, fan_out, fan_in, c));
    let weights = (0..fan_out * fan_in).map(coord).collect();
    let biases = (fan_out * fan_in..fan_out * (fan_in + 1))
        .map(coord)
        .collect();
    (weights, biases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winsor_on_known_values() {
        // 10 values, C = 10: index round(0.9) = 1 and round(8.1) = 8.
        let v: Vec<f64> = vec![5.0, -100.0, 1.0, 2.0, 3.0, 4.0, 6.0, 7.0, 8.0, 100.0];
        let got = aggregate_values(&Rule::Winsor(10.0), &v);
        // -100 -> 1, 100 -> 8: (1+1+2+3+4+5+6+7+8+8)/10
        assert_eq!(got, 4.5);
        assert_eq!(aggregate_values(&Rule::Mean, &v), 3.6);
        // trim:10 drops -100 and 100: (1+...+8)/8
        assert_eq!(aggregate_values(&Rule::Trim(10.0), &v), 4.5);
        // median of 10 values: (4 + 5) / 2
        assert_eq!(aggregate_values(&Rule::Median, &v), 4.5);
        assert_eq!(aggregate_values(&Rule::Median, &v[..9]), 4.0);
        // 9 positive values and 1 negative; the sum is 36
        assert_eq!(aggregate_values(&Rule::SignSum(0.5), &v), 0.5);
        assert_eq!(aggregate_values(&Rule::SumSign(0.5), &v), 4.0);
        assert_eq!(aggregate_values(&Rule::SignSum(0.5), &[-0.0, 0.0]), 0.0);
        assert_eq!(
            aggregate_values(&Rule::SumSign(0.5), &[-0.0, 2.0, -3.0]),
            0.0
        );
    }

    #[test]
    fn select_orders_weights_then_biases() {
        // two examples, one output, two inputs: weights d * a, bias d
        let d = [2.0, -1.0];
        let a = [1.0, 3.0, 4.0, 0.5];
        assert_eq!(per_example_gradients(&d, &a, 2, 1, 2, 0), [2.0, -4.0]);
        assert_eq!(per_example_gradients(&d, &a, 2, 1, 2, 1), [6.0, -0.5]);
        assert_eq!(per_example_gradients(&d, &a, 2, 1, 2, 2), [2.0, -1.0]);
        let (w, b) = select(&Rule::Mean, &d, &a, 2, 1, 2);
        assert_eq!((w, b), (vec![-1.0, 2.75], vec![0.5]));
    }
}
