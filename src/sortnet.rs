//! The bitonic sorting network the sort-path selection kernel runs (shaders/sort_select.wgsl).
//!
//! The host generates the network as a list of stages and uploads it; the shader applies
//! each stage with the same pair formula as [`Stage::pairs`]. So the network the GPU runs is
//! the one the tests below prove: by the 0-1 principle, a comparator network sorts every input
//! if it sorts every sequence of zeros and ones, which is checked exhaustively for every
//! power-of-two size up to 2^16 inputs.

/// One stage: `p / 2` disjoint compare-exchanges at distance `dist`, inside bitonic blocks of
/// `block` elements (ascending where `i & block == 0`, descending elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub block: u32,
    pub dist: u32,
}

impl Stage {
    /// The compare-exchange number `q` (0..p/2) of this stage as (index that receives the
    /// minimum, index that receives the maximum). Mirrors the shader.
    pub fn pair(&self, q: u32) -> (u32, u32) {
        // insert a zero bit at the position of `dist`: the lower element of the pair
        let i = ((q / self.dist) * 2 * self.dist) + (q % self.dist);
        let l = i + self.dist;
        if i & self.block == 0 {
            (i, l)
        } else {
            (l, i)
        }
    }

    /// Every compare-exchange of the stage for `p` elements.
    pub fn pairs(&self, p: u32) -> impl Iterator<Item = (u32, u32)> + '_ {
        (0..p / 2).map(|q| self.pair(q))
    }
}

/// The stages of the bitonic sorter for `p` elements (a power of two), in order:
/// log2(p) (log2(p) + 1) / 2 of them.
pub fn bitonic(p: u32) -> Vec<Stage> {
    assert!(
        p.is_power_of_two(),
        "bitonic network size {p} is not a power of two"
    );
    let mut stages = Vec::new();
    let mut block = 2;
    while block <= p {
        let mut dist = block / 2;
        while dist > 0 {
            stages.push(Stage { block, dist });
            dist /= 2;
        }
        block *= 2;
    }
    stages
}

/// Applies a network to `v` (its length the network's size), as the shader does.
pub fn apply<T: PartialOrd + Copy>(stages: &[Stage], v: &mut [T]) {
    for s in stages {
        for (lo, hi) in s.pairs(v.len() as u32) {
            let (x, y) = (v[lo as usize], v[hi as usize]);
            if y < x {
                v[lo as usize] = y;
                v[hi as usize] = x;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_touches_every_index_once() {
        for p in [2u32, 4, 8, 64, 256] {
            for s in bitonic(p) {
                let mut seen = vec![0; p as usize];
                for (a, b) in s.pairs(p) {
                    seen[a as usize] += 1;
                    seen[b as usize] += 1;
                }
                assert!(seen.iter().all(|&n| n == 1), "p {p} stage {s:?}");
            }
        }
        assert_eq!(bitonic(128).len(), 7 * 8 / 2);
    }

    #[test]
    fn zero_one_principle_exhaustive() {
        // every 0-1 input of every size up to 16 (65536 inputs at 16) comes out sorted
        for log in 0..=4u32 {
            let p = 1u32 << log;
            let net = bitonic(p);
            for bits in 0u32..(1 << p) {
                let mut v: Vec<u8> = (0..p).map(|i| ((bits >> i) & 1) as u8).collect();
                apply(&net, &mut v);
                assert!(
                    v.windows(2).all(|w| w[0] <= w[1]),
                    "p {p} input {bits:b}: {v:?}"
                );
            }
        }
    }

    #[test]
    fn sorts_padded_random_values() {
        // B values padded with +inf to the next power of two: the first B are B sorted
        let mut r = crate::rng::Rng::new(1, crate::rng::Stream::Test);
        for b in [1usize, 3, 37, 100, 128, 200] {
            let p = b.next_power_of_two();
            let mut v: Vec<f64> = (0..b).map(|_| (r.below(7) as f64) - 3.0).collect();
            let mut want = v.clone();
            want.sort_by(|x, y| x.partial_cmp(y).unwrap());
            v.resize(p, f64::INFINITY);
            apply(&bitonic(p as u32), &mut v);
            assert_eq!(&v[..b], &want[..], "b {b}");
        }
    }
}
