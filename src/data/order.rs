//! Minibatch order as in the author's code: each epoch is a fresh random permutation of the
//! training set, cut into consecutive minibatches, without replacement.

use crate::rng::{Rng, Stream};

pub struct BatchOrder {
    n: usize,
    batch: usize,
    rng: Rng,
    perm: Vec<u32>,
    next: usize,
}

impl BatchOrder {
    /// `batch` must divide `n` (checked by the configuration before we get here).
    pub fn new(n: usize, batch: usize, seed: u64) -> Self {
        assert!(
            batch > 0 && n.is_multiple_of(batch),
            "batch {batch} must divide {n}"
        );
        Self {
            n,
            batch,
            rng: Rng::new(seed, Stream::Batches),
            perm: Vec::new(),
            next: n, // forces a new epoch on the first call
        }
    }

    /// The indices of the next minibatch.
    pub fn next_batch(&mut self) -> &[u32] {
        if self.next >= self.n {
            self.perm = (0..self.n as u32).collect();
            self.rng.shuffle(&mut self.perm);
            self.next = 0;
        }
        let s = self.next;
        self.next += self.batch;
        &self.perm[s..s + self.batch]
    }

    /// Skips `batches` minibatches, as if they had been drawn (a resumed run replays its
    /// order to the checkpoint's step: the shuffles consume the random stream as before).
    pub fn skip(&mut self, batches: u64) {
        for _ in 0..batches {
            self.next_batch();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_epoch_covers_every_example_once() {
        let mut o = BatchOrder::new(60, 12, 9);
        for _epoch in 0..3 {
            let mut seen: Vec<u32> = (0..5).flat_map(|_| o.next_batch().to_vec()).collect();
            seen.sort();
            assert_eq!(seen, (0..60).collect::<Vec<_>>());
        }
    }

    #[test]
    fn skipping_lands_where_drawing_does() {
        let (mut a, mut b) = (BatchOrder::new(60, 12, 4), BatchOrder::new(60, 12, 4));
        for _ in 0..13 {
            a.next_batch();
        }
        b.skip(13);
        assert_eq!(a.next_batch(), b.next_batch());
    }
}
