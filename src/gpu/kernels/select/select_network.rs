//! The compare-exchange networks of the partial selection's chunked path: instead of
//! bubbling each new value through a coordinate's kept extremes (2 KL - 1 + 2 KH - 1 min/max
//! per value), a chunk of m values is sorted once (Batcher's odd-even merge sort) and merged
//! into both sides' kept values (Batcher's odd-even merge, keeping only the KL smallest and
//! the KH largest outputs). Every comparator whose result no kept output needs, and every
//! one against a padding infinity, is removed here, so the shader gets a straight-line
//! program: 13.2 min/max per value instead of 34 at winsor:8 (KL = KH = 9, m = 8), 8.8
//! instead of 18 at winsor:4.
//!
//! The program is exact as a multiset, ties included (min and max only move values), so its
//! kept values are those of the insertion; only where +0 and -0 tie may a kept zero's sign
//! differ. The tests below check the networks by the 0-1 principle (a comparator network
//! that handles every 0-1 input handles every input) and on random values against a sort.

/// A value of the program: input i (the chunk's values, then the kept smallest, then the
/// kept largest: see [`ChunkMerge::inputs`]), the result of op i, or a padding infinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Val {
    Input(usize),
    Op(usize),
    NegInf,
    PosInf,
}

/// One operation: the minimum or maximum of two earlier values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    pub max: bool,
    pub a: Val,
    pub b: Val,
}

/// The chunk update of one coordinate: inputs are the m new values (any order), then
/// lo_0 <= .. <= lo_{KL-1} and hi_0 >= .. >= hi_{KH-1}; outputs are the new lo and hi in the
/// same order. `ops` are in an order where each reads only earlier ones.
#[derive(Clone, Debug)]
pub struct ChunkMerge {
    pub m: usize,
    pub kl: usize,
    pub kh: usize,
    pub ops: Vec<Op>,
    pub lo: Vec<Val>,
    pub hi: Vec<Val>,
}

/// Batcher's odd-even merge of the sorted halves of wires lo..=hi (a power of two of
/// them), comparators at distance r and its multiples: (i, j) puts the minimum on i.
fn odd_even_merge(lo: usize, hi: usize, r: usize, out: &mut Vec<(usize, usize)>) {
    let step = 2 * r;
    if step < hi - lo {
        odd_even_merge(lo, hi, step, out);
        odd_even_merge(lo + r, hi, step, out);
        out.extend((lo + r..hi - r).step_by(step).map(|i| (i, i + r)));
    } else {
        out.push((lo, lo + r));
    }
}

/// Batcher's odd-even merge sort of wires lo..=hi (a power of two of them).
fn odd_even_sort(lo: usize, hi: usize, out: &mut Vec<(usize, usize)>) {
    if hi > lo {
        let mid = lo + (hi - lo) / 2;
        odd_even_sort(lo, mid, out);
        odd_even_sort(mid + 1, hi, out);
        odd_even_merge(lo, hi, 1, out);
    }
}

/// Builds the program while the network runs on symbolic wires.
struct Builder {
    ops: Vec<Op>,
}

impl Builder {
    /// Compare-exchange of wires i < j: the minimum to i. Against an infinity the result is
    /// known, so no operation is emitted.
    fn exchange(&mut self, w: &mut [Val], i: usize, j: usize) {
        let (x, y) = (w[i], w[j]);
        if x == Val::NegInf || y == Val::PosInf {
            return;
        }
        if x == Val::PosInf || y == Val::NegInf {
            w.swap(i, j);
            return;
        }
        self.ops.push(Op {
            max: false,
            a: x,
            b: y,
        });
        w[i] = Val::Op(self.ops.len() - 1);
        self.ops.push(Op {
            max: true,
            a: x,
            b: y,
        });
        w[j] = Val::Op(self.ops.len() - 1);
    }

    fn run(&mut self, w: &mut [Val], network: &[(usize, usize)]) {
        for &(i, j) in network {
            self.exchange(w, i, j);
        }
    }
}

impl ChunkMerge {
    /// The update of KL smallest and KH largest kept values (either may be 0) by a chunk of
    /// m values (a power of two).
    pub fn new(m: usize, kl: usize, kh: usize) -> Self {
        assert!(m.is_power_of_two(), "chunk size {m} is not a power of two");
        let mut b = Builder { ops: Vec::new() };
        let mut chunk: Vec<Val> = (0..m).map(Val::Input).collect();
        let mut sort = Vec::new();
        odd_even_sort(0, m - 1, &mut sort);
        b.run(&mut chunk, &sort);
        let lo_in = |i: usize| Val::Input(m + i);
        let hi_in = |i: usize| Val::Input(m + kl + i);
        let mut lo = Vec::new();
        if kl > 0 {
            // both ascending, padded at the top with +inf; the kl smallest come first
            let p = kl.max(m).next_power_of_two();
            let mut w: Vec<Val> = (0..kl).map(lo_in).collect();
            w.resize(p, Val::PosInf);
            w.extend(&chunk);
            w.resize(2 * p, Val::PosInf);
            let mut merge = Vec::new();
            odd_even_merge(0, 2 * p - 1, 1, &mut merge);
            b.run(&mut w, &merge);
            lo = w[..kl].to_vec();
        }
        let mut hi = Vec::new();
        if kh > 0 {
            // both ascending, padded at the bottom with -inf; the kh largest come last
            let p = kh.max(m).next_power_of_two();
            let mut w = vec![Val::NegInf; p - kh];
            w.extend((0..kh).rev().map(hi_in));
            w.extend(std::iter::repeat_n(Val::NegInf, p - m));
            w.extend(&chunk);
            let mut merge = Vec::new();
            odd_even_merge(0, 2 * p - 1, 1, &mut merge);
            b.run(&mut w, &merge);
            hi = (0..kh).map(|i| w[2 * p - 1 - i]).collect();
        }
        ChunkMerge {
            m,
            kl,
            kh,
            ops: b.ops,
            lo,
            hi,
        }
        .pruned()
    }

    /// Only the operations an output depends on, renumbered in their order.
    fn pruned(self) -> Self {
        let mut live = vec![false; self.ops.len()];
        let mut stack: Vec<Val> = self.lo.iter().chain(&self.hi).copied().collect();
        while let Some(v) = stack.pop() {
            if let Val::Op(i) = v {
                if !live[i] {
                    live[i] = true;
                    stack.extend([self.ops[i].a, self.ops[i].b]);
                }
            }
        }
        let mut index = vec![usize::MAX; self.ops.len()];
        let mut ops = Vec::new();
        let map = |v: Val, index: &[usize]| match v {
            Val::Op(i) => Val::Op(index[i]),
            v => v,
        };
        for (i, op) in self.ops.iter().enumerate() {
            if live[i] {
                index[i] = ops.len();
                ops.push(Op {
                    max: op.max,
                    a: map(op.a, &index),
                    b: map(op.b, &index),
                });
            }
        }
        ChunkMerge {
            lo: self.lo.iter().map(|&v| map(v, &index)).collect(),
            hi: self.hi.iter().map(|&v| map(v, &index)).collect(),
            ops,
            ..self
        }
    }

    /// Inputs: the chunk, then the kept smallest, then the kept largest.
    pub fn inputs(&self) -> usize {
        self.m + self.kl + self.kh
    }

    /// Min/max operations per value of the chunk.
    pub fn ops_per_value(&self) -> f64 {
        self.ops.len() as f64 / self.m as f64
    }

    /// Runs the program on numbers (the tests' twin of the generated shader code):
    /// (new lo, new hi).
    pub fn eval<T: PartialOrd + Copy + Bounded>(&self, inputs: &[T]) -> (Vec<T>, Vec<T>) {
        assert_eq!(inputs.len(), self.inputs());
        let mut vals: Vec<T> = Vec::with_capacity(self.ops.len());
        let get = |v: Val, vals: &[T]| match v {
            Val::Input(i) => inputs[i],
            Val::Op(i) => vals[i],
            Val::NegInf => T::lowest(),
            Val::PosInf => T::highest(),
        };
        for op in &self.ops {
            let (a, b) = (get(op.a, &vals), get(op.b, &vals));
            let lt = a < b;
            vals.push(if op.max == lt { b } else { a });
        }
        (
            self.lo.iter().map(|&v| get(v, &vals)).collect(),
            self.hi.iter().map(|&v| get(v, &vals)).collect(),
        )
    }
}

/// The most values kept per side that chunk merges are generated for. Beyond it lavapipe's
/// compile time grows faster than the work saved: a winsor:16 run (KL = KH = 17) took 18 s
/// to start against 2 s inserting (and ran 1.4x faster), winsor:25 36 s (and ran slower);
/// winsor:8 starts in 1.2 s either way.
pub const CHUNK_MAX_KEPT: usize = 9;

/// The chunk size for KL and KH kept values: the one with the fewest operations per value
/// among chunks of 2, 4 and 8 of a minibatch of `rows` (at least two chunks, so that the
/// kept values come from a merge at least once), or None where the insertion needs no more
/// (one value passes 2 KL - 1 + 2 KH - 1 of them) or more than [`CHUNK_MAX_KEPT`] are kept.
/// 16 would save more operations from KL = 9 on, but holds twice the values per unit, and
/// the first layer's column kernel lists only about 28 examples per group: at winsor:8 on
/// lavapipe chunks of 8 gave 38-40 ms per step, of 16 42-45 ms.
pub fn chunk_size(kl: usize, kh: usize, rows: usize) -> Option<usize> {
    if kl.max(kh) > CHUNK_MAX_KEPT {
        return None;
    }
    let insertion = |k: usize| if k == 0 { 0.0 } else { (2 * k - 1) as f64 };
    let insert = insertion(kl) + insertion(kh);
    [2, 4, 8]
        .into_iter()
        .filter(|&m| 2 * m <= rows)
        .map(|m| (m, ChunkMerge::new(m, kl, kh).ops_per_value()))
        .filter(|&(_, ops)| ops < insert)
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map(|(m, _)| m)
}

/// The extremes a padding value stands for.
pub trait Bounded {
    fn lowest() -> Self;
    fn highest() -> Self;
}

impl Bounded for f64 {
    fn lowest() -> Self {
        f64::NEG_INFINITY
    }
    fn highest() -> Self {
        f64::INFINITY
    }
}

impl Bounded for u8 {
    fn lowest() -> Self {
        0
    }
    fn highest() -> Self {
        u8::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kept values after `values` pass through (lo, hi): the KL smallest of the chunk
    /// and lo, the KH largest of the chunk and hi, sorted (the two sides are independent).
    fn expected(values: &[f64], lo: &[f64], hi: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let mut smallest: Vec<f64> = values.iter().chain(lo).copied().collect();
        smallest.sort_by(f64::total_cmp);
        let mut largest: Vec<f64> = values.iter().chain(hi).copied().collect();
        largest.sort_by(|a, b| b.total_cmp(a));
        (smallest[..lo.len()].to_vec(), largest[..hi.len()].to_vec())
    }

    /// Every 0-1 input: any chunk, and sorted kept sides (the only kept states that occur).
    #[test]
    fn zero_one_principle() {
        for m in [2, 4, 8] {
            for (kl, kh) in [
                (1, 1),
                (2, 2),
                (3, 3),
                (5, 5),
                (9, 9),
                (0, 3),
                (4, 0),
                (2, 6),
            ] {
                let net = ChunkMerge::new(m, kl, kh);
                for bits in 0..1u32 << m {
                    let chunk: Vec<u8> = (0..m).map(|i| (bits >> i & 1) as u8).collect();
                    for ones_lo in 0..=kl {
                        for ones_hi in 0..=kh {
                            // lo ascending: zeros first; hi descending: ones first
                            let lo: Vec<u8> = (0..kl).map(|i| (i >= kl - ones_lo) as u8).collect();
                            let hi: Vec<u8> = (0..kh).map(|i| (i < ones_hi) as u8).collect();
                            let input: Vec<u8> =
                                chunk.iter().chain(&lo).chain(&hi).copied().collect();
                            let (got_lo, got_hi) = net.eval(&input);
                            let f = |v: &[u8]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
                            let (want_lo, want_hi) = expected(&f(&chunk), &f(&lo), &f(&hi));
                            assert_eq!(f(&got_lo), want_lo, "m {m} KL {kl} KH {kh} {input:?}");
                            assert_eq!(f(&got_hi), want_hi, "m {m} KL {kl} KH {kh} {input:?}");
                        }
                    }
                }
            }
        }
    }

    /// Random values with ties, several chunks in a row from the shader's starting state,
    /// against sorting everything; for every chunk size and the clip counts in use.
    #[test]
    fn chunks_in_a_row_keep_the_extremes() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for m in [2, 4, 8, 16] {
            for (kl, kh) in [
                (1, 1),
                (2, 2),
                (5, 5),
                (9, 9),
                (17, 17),
                (26, 26),
                (50, 50),
                (3, 1),
            ] {
                let net = ChunkMerge::new(m, kl, kh);
                for _ in 0..20 {
                    let mut lo = vec![f64::INFINITY; kl];
                    let mut hi = vec![f64::NEG_INFINITY; kh];
                    let mut seen = Vec::new();
                    for _ in 0..(100 / m).max(3) {
                        let chunk: Vec<f64> = (0..m).map(|_| (next() % 7) as f64 - 3.0).collect();
                        seen.extend(&chunk);
                        let input: Vec<f64> = chunk.iter().chain(&lo).chain(&hi).copied().collect();
                        (lo, hi) = net.eval(&input);
                        let mut sorted = seen.clone();
                        sorted.sort_by(f64::total_cmp);
                        let n = sorted.len();
                        for (i, &v) in lo.iter().enumerate() {
                            let want = if i < n { sorted[i] } else { f64::INFINITY };
                            assert_eq!(v, want, "m {m} KL {kl} lo_{i} after {n}");
                        }
                        for (i, &v) in hi.iter().enumerate() {
                            let want = if i < n {
                                sorted[n - 1 - i]
                            } else {
                                f64::NEG_INFINITY
                            };
                            assert_eq!(v, want, "m {m} KH {kh} hi_{i} after {n}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn fewer_operations_than_the_insertion() {
        // winsor:8 at B = 100: KL = KH = 9, 34 per value by insertion
        assert_eq!(chunk_size(9, 9, 100), Some(8));
        assert_eq!(chunk_size(10, 10, 100), None);
        assert!(ChunkMerge::new(8, 9, 9).ops_per_value() < 14.0);
        // winsor:1: 6 per value by insertion; chunks of 2 or 4 need 5
        assert!(chunk_size(2, 2, 100).is_some());
        // no kept values (the mean): nothing to merge
        assert_eq!(chunk_size(0, 0, 100), None);
        // too small a minibatch for two chunks
        assert_eq!(chunk_size(9, 9, 3), None);
    }
}
