//! The twin of shaders/temporal.wgsl.

use crate::rule::Temporal;

/// Kernel `temporal` (shaders/temporal.wgsl): the update of step `t` (0-based) of a temporal
/// rule from the minibatch mean gradients of its latest steps, oldest first and ending with
/// step t's (the kernel keeps the last three in a ring): the coordinate-wise median (rm3,
/// m3) or mean (ra3) of the last three. None where the rule takes no step (before three
/// gradients exist; m3 except every third step), where the kernel writes 0 so that the SGD
/// step leaves the weights as they are.
pub fn temporal(rule: Temporal, t: u64, recent: &[&[f64]]) -> Option<Vec<f64>> {
    if !rule.applies(t) {
        return None;
    }
    let [x0, x1, x2] = recent[recent.len().checked_sub(3).expect("three gradients")..] else {
        unreachable!("a slice of three")
    };
    Some(
        (0..x2.len())
            .map(|i| rule.combine([x0[i], x1[i], x2[i]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporal_waits_for_three_gradients() {
        let g: Vec<Vec<f64>> = [[1.0, -1.0], [3.0, 0.0], [2.0, 5.0], [0.0, 0.0]]
            .iter()
            .map(|x| x.to_vec())
            .collect();
        let recent = |t: usize| -> Vec<&[f64]> {
            g[t.saturating_sub(2)..=t].iter().map(|x| &x[..]).collect()
        };
        for rule in [Temporal::Rm3, Temporal::M3, Temporal::Ra3] {
            assert_eq!(temporal(rule, 0, &recent(0)), None);
            assert_eq!(temporal(rule, 1, &recent(1)), None);
        }
        assert_eq!(temporal(Temporal::Rm3, 2, &recent(2)), Some(vec![2.0, 0.0]));
        assert_eq!(temporal(Temporal::M3, 2, &recent(2)), Some(vec![2.0, 0.0]));
        assert_eq!(
            temporal(Temporal::Ra3, 2, &recent(2)),
            Some(vec![2.0, 4.0 / 3.0])
        );
        assert_eq!(temporal(Temporal::Rm3, 3, &recent(3)), Some(vec![2.0, 0.0]));
        assert_eq!(temporal(Temporal::M3, 3, &recent(3)), None);
    }
}
