//! Which cells of a sweep train together: groups of cells that can share dispatches, split
//! into batches of near-equal sizes.

use std::path::Path;

use super::Prepared;
use crate::train::checkpoint;

/// Cells that share every setting but noise, rule and seed, and go on from the same step
/// (the start, or their checkpoints' step in the sweep folder `out`), train together, `concurrent`
/// at a time; within such a group, cells with the same rule sit side by side, since
/// they share the aggregation dispatches.
pub(super) fn groups<'p>(todo: &'p [Prepared], out: &Path) -> Vec<Vec<&'p Prepared>> {
    let key = |p: &Prepared| {
        let step = checkpoint::step_of(&out.join(&p.cell.name));
        (p.data.clone(), p.config.concurrency_key(), step)
    };
    let mut groups: Vec<(_, Vec<&Prepared>)> = Vec::new();
    for p in todo {
        let k = key(p);
        match groups.iter_mut().find(|g| k.1.is_some() && g.0 == k) {
            Some(g) => g.1.push(p),
            None => groups.push((k, vec![p])),
        }
    }
    let mut groups: Vec<Vec<&Prepared>> = groups.into_iter().map(|g| g.1).collect();
    for g in &mut groups {
        g.sort_by_key(|p| p.config.rule.to_string());
    }
    groups
}

/// `group` in as few batches as `per_batch` allows, of near-equal sizes (25 cells at most 8
/// at a time: 7, 6, 6, 6 rather than 8, 8, 8, 1).
pub(super) fn split<T>(group: &[T], per_batch: usize) -> Vec<&[T]> {
    let n_batches = group.len().div_ceil(per_batch);
    let (base, extra) = (group.len() / n_batches, group.len() % n_batches);
    let mut rest = group;
    let mut batches = Vec::with_capacity(n_batches);
    for k in 0..n_batches {
        let (batch, tail) = rest.split_at(base + usize::from(k < extra));
        rest = tail;
        batches.push(batch);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::split;

    fn sizes(n: usize, per_batch: usize) -> Vec<usize> {
        let v: Vec<usize> = (0..n).collect();
        let batches = split(&v, per_batch);
        assert_eq!(batches.concat(), v, "every cell once, in order");
        batches.iter().map(|b| b.len()).collect()
    }

    #[test]
    fn near_equal_batches() {
        assert_eq!(sizes(25, 8), [7, 6, 6, 6]);
        assert_eq!(sizes(4, 8), [4]);
        assert_eq!(sizes(4, 1), [1, 1, 1, 1]);
        assert_eq!(sizes(4, 3), [2, 2]);
        assert_eq!(sizes(16, 8), [8, 8]);
    }
}
