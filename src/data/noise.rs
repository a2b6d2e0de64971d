//! Label noise exactly as the author's code does it: each training example is selected
//! independently with probability n, and the labels of the selected examples are randomly
//! permuted among themselves. About 1/10 of the selected examples keep their label by chance,
//! so both the selection mask and the label-changed mask are kept.

use crate::rng::{Rng, Stream};

#[derive(Debug, Clone)]
pub struct LabelNoise {
    /// Selected for corruption ("corrupt" in the paper's figures).
    pub selected: Vec<bool>,
    /// The training labels after the permutation.
    pub labels: Vec<u8>,
}

impl LabelNoise {
    /// `fraction` in [0, 1].
    pub fn new(original: &[u8], fraction: f64, seed: u64) -> Self {
        let mut rng = Rng::new(seed, Stream::LabelNoise);
        let selected: Vec<bool> = original.iter().map(|_| rng.uniform() < fraction).collect();
        let idx: Vec<usize> = (0..original.len()).filter(|&i| selected[i]).collect();
        let mut permuted: Vec<u8> = idx.iter().map(|&i| original[i]).collect();
        rng.shuffle(&mut permuted);
        let mut labels = original.to_vec();
        for (&i, &l) in idx.iter().zip(&permuted) {
            labels[i] = l;
        }
        Self { selected, labels }
    }

    pub fn changed(&self, original: &[u8]) -> Vec<bool> {
        self.labels
            .iter()
            .zip(original)
            .map(|(a, b)| a != b)
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;

    #[test]
    fn zero_noise_changes_nothing_and_full_noise_selects_all() {
        let orig: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
        let n0 = LabelNoise::new(&orig, 0.0, 1);
        assert_eq!(n0.labels, orig);
        assert!(n0.selected.iter().all(|s| !s));
        let n1 = LabelNoise::new(&orig, 1.0, 1);
        assert!(n1.selected.iter().all(|&s| s));
    }

    #[test]
    fn half_noise_permutes_selected_labels_only() {
        let orig: Vec<u8> = (0..10000).map(|i| (i * 7 % 10) as u8).collect();
        let n = LabelNoise::new(&orig, 0.5, 42);
        let sel = n.selected.iter().filter(|&&s| s).count();
        assert!((4700..5300).contains(&sel), "{sel}");
        // unselected labels untouched
        for i in 0..orig.len() {
            if !n.selected[i] {
                assert_eq!(n.labels[i], orig[i]);
            }
        }
        // selected labels are a permutation of the originals (same histogram)
        let mut h0 = [0usize; 10];
        let mut h1 = [0usize; 10];
        for i in 0..orig.len() {
            if n.selected[i] {
                h0[orig[i] as usize] += 1;
                h1[n.labels[i] as usize] += 1;
            }
        }
        assert_eq!(h0, h1);
        // about 1/10 of the selected keep their label by chance
        let changed = n.changed(&orig).iter().filter(|&&c| c).count();
        let kept = sel - changed;
        assert!(kept > sel / 20 && kept < sel / 6, "kept {kept} of {sel}");
        // seeded
        assert_eq!(LabelNoise::new(&orig, 0.5, 42).labels, n.labels);
        assert_ne!(LabelNoise::new(&orig, 0.5, 43).labels, n.labels);
    }
}
