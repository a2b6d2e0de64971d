//! `--similarity N`: which examples the network treats as alike (PAPER.md's open question,
//! section 5), from the exact inner products K[i, j] = g_i . g_j of the per-example
//! gradients of a fixed probe set of N training examples ([`crate::gpu::GpuTrainer::similarity`]).
//!
//! Every statistic is a mean over pairs i != j of the cosine matrix
//! C[i, j] = K[i, j] / sqrt(K[i, i] K[j, j]) (0 where an example's gradient is 0), except
//! m-coherence and f_p, which use K itself:
//! - block means: within pristine examples (split by same and different true class), within
//!   corrupt ones, and between the two;
//! - stiffness (Fort et al. 2019): the mean sign and the mean cosine of pairs of the same
//!   class and of different classes, by noisy label and by true label, and the class-by-class
//!   matrix (a separate long-format file);
//! - gradient confusion (Sankararaman et al. 2019): the most negative cosine and the
//!   fraction of pairs below zero;
//! - m-coherence = sum(K) / trace(K) and f_p = sum of the pristine rows of K / sum(K), the
//!   probe's own f_p (over the whole training set it is `--coherence`'s exact f_p);
//! - the block means and f_p again in null worlds, where the pristine/corrupt designation is
//!   permuted among the probe examples, to show what chance gives.

use anyhow::{bail, Result};

use crate::data::CLASSES;
use crate::rng::{Rng, Stream};

/// What `--similarity` measures.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarityConfig {
    /// Probe examples.
    pub n: usize,
    /// Null worlds: permutations of the designation among the probe.
    pub null_worlds: usize,
    /// `--similarity-save`: write each measured cosine matrix to
    /// `similarity/step-S.safetensors`.
    pub save: bool,
}

/// The probe set: training-set indices and what is known of each, in display order (by
/// true class, then pristine before corrupt, then index).
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub index: Vec<usize>,
    pub true_label: Vec<u8>,
    pub noisy_label: Vec<u8>,
    pub corrupt: Vec<bool>,
}

impl Probe {
    /// `n` training examples drawn with the run's `seed`, stratified by true class and by
    /// pristine/corrupt: each of the 2 x 10 strata gets its share of `n` in proportion to
    /// its size (largest remainders, ties to the first stratum), drawn uniformly within it.
    pub fn draw(
        n: usize,
        true_labels: &[u8],
        noisy_labels: &[u8],
        corrupt: &[bool],
        seed: u64,
    ) -> Result<Probe> {
        let total = true_labels.len();
        if n == 0 {
            bail!("--similarity 0: give the number of probe examples, at least 1");
        }
        if n > total {
            bail!("--similarity {n}: the training set has only {total} examples; use --similarity {total} or less");
        }
        // strata: (true class, corrupt), in that order
        let mut strata: Vec<Vec<usize>> = vec![Vec::new(); CLASSES * 2];
        for e in 0..total {
            strata[true_labels[e] as usize * 2 + corrupt[e] as usize].push(e);
        }
        let exact: Vec<f64> = strata
            .iter()
            .map(|s| n as f64 * s.len() as f64 / total as f64)
            .collect();
        let mut take: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
        let mut left = n - take.iter().sum::<usize>();
        let mut order: Vec<usize> = (0..strata.len()).collect();
        // largest remainder first; a stable sort keeps ties in stratum order
        order.sort_by(|&a, &b| {
            let (ra, rb) = (exact[a] - take[a] as f64, exact[b] - take[b] as f64);
            rb.partial_cmp(&ra).expect("finite")
        });
        for s in order {
            if left == 0 {
                break;
            }
            if take[s] < strata[s].len() {
                take[s] += 1;
                left -= 1;
            }
        }
        let mut r = Rng::new(seed, Stream::Similarity);
        let mut index = Vec::with_capacity(n);
        for (s, members) in strata.iter_mut().enumerate() {
            r.shuffle(members);
            let mut chosen = members[..take[s]].to_vec();
            chosen.sort_unstable();
            index.extend(chosen);
        }
        Ok(Probe {
            true_label: index.iter().map(|&e| true_labels[e]).collect(),
            noisy_label: index.iter().map(|&e| noisy_labels[e]).collect(),
            corrupt: index.iter().map(|&e| corrupt[e]).collect(),
            index,
        })
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// similarity_probe.csv: one row per probe example, in the matrix's order.
    pub fn csv(&self) -> String {
        let mut out = String::from("row,index,true_label,noisy_label,corrupt\n");
        for i in 0..self.len() {
            out.push_str(&format!(
                "{i},{},{},{},{}\n",
                self.index[i], self.true_label[i], self.noisy_label[i], self.corrupt[i] as u8
            ));
        }
        out
    }
}

/// Means over pairs, accumulated in a fixed order.
#[derive(Default, Clone, Copy)]
struct Mean {
    sum: f64,
    count: u64,
}

impl Mean {
    fn add(&mut self, v: f64) {
        self.sum += v;
        self.count += 1;
    }
    fn get(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.sum / self.count as f64
        }
    }
}

/// The cosine matrix C[i, j] = K[i, j] / sqrt(K[i, i] K[j, j]) of K (n x n, row-major), in
/// f64, 0 where either example's gradient is 0: what the statistics use and, rounded to f32,
/// what `--similarity-save` writes.
pub fn cosine_matrix(k: &[f32], n: usize) -> Vec<f64> {
    let norm: Vec<f64> = (0..n)
        .map(|i| (k[i * n + i] as f64).max(0.0).sqrt())
        .collect();
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let d = norm[i] * norm[j];
            if d > 0.0 {
                c[i * n + j] = k[i * n + j] as f64 / d;
            }
        }
    }
    c
}

/// The measurement across a run: the probe, the null worlds' designations, and the rows.
pub struct Similarity {
    pub probe: Probe,
    /// The null worlds' designations (true = corrupt) of the probe examples.
    worlds: Vec<Vec<bool>>,
    rows: Vec<Vec<f64>>,
    /// similarity_classes.csv's rows: step, labels (0 noisy, 1 true), class a, class b,
    /// pairs, mean cosine, mean sign.
    class_rows: Vec<Vec<f64>>,
}

/// The statistics of one measurement before the null worlds.
pub const COLUMNS: [&str; 20] = [
    "step",
    "n",
    "m_coherence",
    "f_p",
    "f_c",
    "cos_pp",
    "cos_pp_same",
    "cos_pp_diff",
    "cos_cc",
    "cos_pc",
    "stiff_sign_same_noisy",
    "stiff_sign_diff_noisy",
    "stiff_cos_same_noisy",
    "stiff_cos_diff_noisy",
    "stiff_sign_same_true",
    "stiff_sign_diff_true",
    "stiff_cos_same_true",
    "stiff_cos_diff_true",
    "confusion_min_cos",
    "confusion_neg_frac",
];

/// What each null world adds, after `null{w}_`.
pub const NULL_COLUMNS: [&str; 4] = ["cos_pp", "cos_cc", "cos_pc", "f_p"];

impl Similarity {
    pub fn new(cfg: &SimilarityConfig, probe: Probe, seed: u64) -> Self {
        // after the probe's draw, from a stream of its own so the probe does not move
        let mut r = Rng::new(seed ^ 0x5157_4f52_4c44, Stream::Similarity);
        let worlds = (0..cfg.null_worlds)
            .map(|_| {
                let mut w = probe.corrupt.clone();
                r.shuffle(&mut w);
                w
            })
            .collect();
        Similarity {
            probe,
            worlds,
            rows: Vec::new(),
            class_rows: Vec::new(),
        }
    }

    pub fn header(&self) -> Vec<String> {
        let mut h: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
        for w in 1..=self.worlds.len() {
            h.extend(NULL_COLUMNS.iter().map(|c| format!("null{w}_{c}")));
        }
        h
    }

    /// The rows a checkpoint keeps.
    pub fn state(&self) -> (&[Vec<f64>], &[Vec<f64>]) {
        (&self.rows, &self.class_rows)
    }

    /// Puts back the rows of a checkpoint.
    pub fn restore(&mut self, rows: Vec<Vec<f64>>, class_rows: Vec<Vec<f64>>) -> Result<()> {
        let cols = self.header().len();
        if rows.iter().any(|r| r.len() != cols) {
            bail!("the checkpoint's similarity rows have another width than --similarity's");
        }
        self.rows = rows;
        self.class_rows = class_rows;
        Ok(())
    }

    /// Takes in K (n x n, row-major) measured at `step` and returns its row.
    pub fn measure(&mut self, step: u64, k: &[f32]) -> &[f64] {
        let n = self.probe.len();
        assert_eq!(k.len(), n * n, "K is n x n");
        let p = &self.probe;
        let kk = |i: usize, j: usize| k[i * n + j] as f64;
        let c = cosine_matrix(k, n);
        let cos = |i: usize, j: usize| c[i * n + j];
        let sign = |c: f64| {
            if c > 0.0 {
                1.0
            } else if c < 0.0 {
                -1.0
            } else {
                0.0
            }
        };
        // K's sums
        let row_sum: Vec<f64> = (0..n).map(|i| (0..n).map(|j| kk(i, j)).sum()).collect();
        let total: f64 = row_sum.iter().sum();
        let trace: f64 = (0..n).map(|i| kk(i, i)).sum();
        let f_p_of = |corrupt: &[bool]| -> f64 {
            let pristine: f64 = (0..n).filter(|&i| !corrupt[i]).map(|i| row_sum[i]).sum();
            pristine / total
        };
        let [mut pp, mut pp_same, mut pp_diff, mut cc, mut pc] = [Mean::default(); 5];
        // [noisy, true][sign same, sign diff, cos same, cos diff]
        let mut stiff = [[Mean::default(); 4]; 2];
        // [labels][a][b]: [cos, sign]
        let mut classes = vec![[Mean::default(); 2]; 2 * CLASSES * CLASSES];
        let mut min_cos = f64::INFINITY;
        let mut neg = Mean::default();
        let mut null = vec![[Mean::default(); 3]; self.worlds.len()];
        for i in 0..n {
            for j in 0..n {
                if i == j {
                    continue;
                }
                let c = cos(i, j);
                let s = sign(c);
                let (ci, cj) = (p.corrupt[i], p.corrupt[j]);
                match (ci, cj) {
                    (false, false) => {
                        pp.add(c);
                        if p.true_label[i] == p.true_label[j] {
                            pp_same.add(c);
                        } else {
                            pp_diff.add(c);
                        }
                    }
                    (true, true) => cc.add(c),
                    _ => pc.add(c),
                }
                for (kind, labels) in [&p.noisy_label, &p.true_label].into_iter().enumerate() {
                    let same = labels[i] == labels[j];
                    stiff[kind][if same { 0 } else { 1 }].add(s);
                    stiff[kind][if same { 2 } else { 3 }].add(c);
                    let cell = &mut classes
                        [(kind * CLASSES + labels[i] as usize) * CLASSES + labels[j] as usize];
                    cell[0].add(c);
                    cell[1].add(s);
                }
                min_cos = min_cos.min(c);
                neg.add((c < 0.0) as u8 as f64);
                for (w, world) in self.worlds.iter().enumerate() {
                    match (world[i], world[j]) {
                        (false, false) => null[w][0].add(c),
                        (true, true) => null[w][1].add(c),
                        _ => null[w][2].add(c),
                    }
                }
            }
        }
        let f_p = f_p_of(&p.corrupt);
        let mut row = vec![
            step as f64,
            n as f64,
            total / trace,
            f_p,
            1.0 - f_p,
            pp.get(),
            pp_same.get(),
            pp_diff.get(),
            cc.get(),
            pc.get(),
        ];
        for kind in stiff {
            row.extend(kind.iter().map(Mean::get));
        }
        row.push(if min_cos.is_finite() {
            min_cos
        } else {
            f64::NAN
        });
        row.push(neg.get());
        for (w, world) in self.worlds.iter().enumerate() {
            row.extend(null[w].iter().map(Mean::get));
            row.push(f_p_of(world));
        }
        for kind in 0..2 {
            for a in 0..CLASSES {
                for b in 0..CLASSES {
                    let cell = classes[(kind * CLASSES + a) * CLASSES + b];
                    self.class_rows.push(vec![
                        step as f64,
                        kind as f64,
                        a as f64,
                        b as f64,
                        cell[0].count as f64,
                        cell[0].get(),
                        cell[1].get(),
                    ]);
                }
            }
        }
        self.rows.push(row);
        self.rows.last().expect("just pushed")
    }

    /// similarity.csv with every row so far (an empty cell where a block has no pairs).
    pub fn csv(&self) -> String {
        super::csv_table(&self.header(), &self.rows, 2)
    }

    /// similarity_classes.csv: the class-by-class means, long format.
    pub fn classes_csv(&self) -> String {
        let header: Vec<String> = [
            "step",
            "labels",
            "class_a",
            "class_b",
            "pairs",
            "mean_cos",
            "mean_sign",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut out = header.join(",");
        out.push('\n');
        for r in &self.class_rows {
            let labels = if r[1] == 0.0 { "noisy" } else { "true" };
            let cell = |v: f64| {
                if v.is_finite() {
                    format!("{v}")
                } else {
                    String::new()
                }
            };
            out.push_str(&format!(
                "{},{labels},{},{},{},{},{}\n",
                r[0] as u64,
                r[2] as u64,
                r[3] as u64,
                r[4] as u64,
                cell(r[5]),
                cell(r[6])
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> (Vec<u8>, Vec<u8>, Vec<bool>) {
        let t: Vec<u8> = (0..n).map(|i| (i % CLASSES) as u8).collect();
        let corrupt: Vec<bool> = (0..n).map(|i| i % 4 == 1).collect();
        let noisy: Vec<u8> = (0..n)
            .map(|i| {
                if corrupt[i] {
                    ((i + 3) % CLASSES) as u8
                } else {
                    t[i]
                }
            })
            .collect();
        (t, noisy, corrupt)
    }

    /// The probe is stratified: each (class, pristine/corrupt) stratum in proportion, drawn
    /// from the seed (the same seed gives the same probe), sorted for display.
    #[test]
    fn the_probe_is_stratified_and_seeded() {
        let (t, noisy, corrupt) = labels(1000);
        let a = Probe::draw(100, &t, &noisy, &corrupt, 7).unwrap();
        let b = Probe::draw(100, &t, &noisy, &corrupt, 7).unwrap();
        let c = Probe::draw(100, &t, &noisy, &corrupt, 8).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.index, c.index);
        assert_eq!(a.len(), 100);
        for class in 0..CLASSES as u8 {
            let here: Vec<usize> = (0..100).filter(|&i| a.true_label[i] == class).collect();
            assert_eq!(here.len(), 10, "class {class}");
        }
        assert_eq!(a.corrupt.iter().filter(|&&c| c).count(), 25);
        let mut sorted = a.index.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), 100, "no example twice");
        assert!(Probe::draw(1001, &t, &noisy, &corrupt, 7).is_err());
        assert!(Probe::draw(0, &t, &noisy, &corrupt, 7).is_err());
    }

    /// On a K made of known gradients: two pristine examples with equal gradients, a
    /// corrupt one opposite them, and one orthogonal.
    #[test]
    fn statistics_of_a_known_matrix() {
        // gradients in 2-d: g0 = g1 = (1, 0) pristine class 0, g2 = (-2, 0) corrupt, g3 = (0, 3)
        let g = [[1.0, 0.0], [1.0, 0.0], [-2.0, 0.0], [0.0, 3.0]];
        let n = 4;
        let mut k = vec![0.0f32; n * n];
        for i in 0..n {
            for j in 0..n {
                k[i * n + j] = (g[i][0] * g[j][0] + g[i][1] * g[j][1]) as f32;
            }
        }
        let probe = Probe {
            index: vec![0, 1, 2, 3],
            true_label: vec![0, 0, 0, 1],
            noisy_label: vec![0, 0, 5, 1],
            corrupt: vec![false, false, true, false],
        };
        let cfg = SimilarityConfig {
            n,
            null_worlds: 1,
            save: false,
        };
        let mut s = Similarity::new(&cfg, probe, 1);
        let row = s.measure(3, &k).to_vec();
        let col = |name: &str| row[COLUMNS.iter().position(|c| *c == name).unwrap()];
        assert_eq!(col("step"), 3.0);
        // sum(K): g = (0, 3), |g|^2 = 9; trace = 1 + 1 + 4 + 9 = 15
        assert!((col("m_coherence") - 9.0 / 15.0).abs() < 1e-12);
        // pristine rows of K sum to g_p . g with g_p = (2, 3): 9 - (-2 * 0 + 0) ... = (2,3).(0,3) = 9
        assert!((col("f_p") - 1.0).abs() < 1e-12);
        assert!((col("f_c") - 0.0).abs() < 1e-12);
        // pristine pairs (ordered): (0,1) (1,0) cos 1; (0,3) (3,0) (1,3) (3,1) cos 0
        assert!((col("cos_pp") - 2.0 / 6.0).abs() < 1e-12);
        assert!((col("cos_pp_same") - 1.0).abs() < 1e-12);
        assert!((col("cos_pp_diff") - 0.0).abs() < 1e-12);
        assert!(col("cos_cc").is_nan(), "one corrupt example: no pair");
        // pristine-corrupt: (0,2) (2,0) (1,2) (2,1) cos -1; (3,2) (2,3) cos 0
        assert!((col("cos_pc") - (-4.0 / 6.0)).abs() < 1e-12);
        assert_eq!(col("confusion_min_cos"), -1.0);
        assert!((col("confusion_neg_frac") - 4.0 / 12.0).abs() < 1e-12);
        // by true label, same class: (0,1) (1,0) cos 1, (0,2) (2,0) (1,2) (2,1) cos -1
        assert!((col("stiff_cos_same_true") - (2.0 - 4.0) / 6.0).abs() < 1e-12);
        assert!((col("stiff_sign_same_true") - (2.0 - 4.0) / 6.0).abs() < 1e-12);
        // by noisy label, same class: only (0,1) (1,0)
        assert!((col("stiff_sign_same_noisy") - 1.0).abs() < 1e-12);
        assert_eq!(s.header().len(), row.len());
        let csv = s.csv();
        assert!(csv.starts_with("step,n,m_coherence,f_p,"));
        assert!(csv.contains("\n3,4,"), "{csv}");
        // the class file: 2 x 10 x 10 rows per step
        assert_eq!(s.classes_csv().lines().count(), 1 + 200);
        // the state round-trips
        let (rows, classes) = s.state();
        let (rows, classes) = (rows.to_vec(), classes.to_vec());
        let mut again = Similarity::new(&cfg, s.probe.clone(), 1);
        again.restore(rows, classes).unwrap();
        assert_eq!(again.csv(), s.csv());
        assert_eq!(again.classes_csv(), s.classes_csv());
    }
}
