//! Label noise exactly as the author's code does it: each training example is selected
//! independently with probability n, and the labels of the selected examples are randomly
//! permuted among themselves. About 1/10 of the selected examples keep their label by chance,
//! so both the selection mask and the label-changed mask are kept.
//!
//! The paper (section 2.1) calls an example pristine when its label is unchanged and corrupt
//! otherwise: [`Corrupt::Changed`], the default everywhere. [`Corrupt::Selected`] is the
//! author's selection view, offered for comparison.

use serde::{Deserialize, Serialize};

use crate::rng::{Rng, Stream};

/// Which training examples count as corrupt (and so which are pristine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Corrupt {
    /// The paper's definition: the training label differs from the original one.
    #[default]
    Changed,
    /// Selected for the permutation, whether or not the label moved (about 1/10 of the
    /// selected keep their label by chance).
    Selected,
}

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Corrupt::Changed => "changed",
            Corrupt::Selected => "selected",
        })
    }
}

#[derive(Debug, Clone)]
pub struct LabelNoise {
    /// Selected for the permutation.
    pub selected: Vec<bool>,
    /// The training label differs from the original (a subset of `selected`).
    pub changed: Vec<bool>,
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
        let changed = labels.iter().zip(original).map(|(a, b)| a != b).collect();
        Self {
            selected,
            changed,
            labels,
        }
    }

    /// The corrupt mask under `definition` (true = corrupt, false = pristine).
    pub fn corrupt(&self, definition: Corrupt) -> &[bool] {
        match definition {
            Corrupt::Changed => &self.changed,
            Corrupt::Selected => &self.selected,
        }
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
        let changed = n.changed.iter().filter(|&&c| c).count();
        let kept = sel - changed;
        assert!(kept > sel / 20 && kept < sel / 6, "kept {kept} of {sel}");
        // seeded
        assert_eq!(LabelNoise::new(&orig, 0.5, 42).labels, n.labels);
        assert_ne!(LabelNoise::new(&orig, 0.5, 43).labels, n.labels);
    }

    /// A hand-made set where the permutation must leave some selected labels in place: the
    /// selected examples hold only two distinct labels, so a random permutation of them
    /// keeps many where they were.
    #[test]
    fn changed_mask_leaves_selected_but_unmoved_labels_pristine() {
        let orig: Vec<u8> = (0..40).map(|i| (i % 2) as u8).collect();
        let n = LabelNoise::new(&orig, 0.6, 7);
        let mut kept_by_chance = 0;
        for i in 0..orig.len() {
            assert_eq!(n.changed[i], n.labels[i] != orig[i], "example {i}");
            assert!(
                !n.changed[i] || n.selected[i],
                "changed but not selected: {i}"
            );
            if n.selected[i] && !n.changed[i] {
                kept_by_chance += 1;
                // pristine under the paper's definition, corrupt under the selection view
                assert!(!n.corrupt(Corrupt::Changed)[i]);
                assert!(n.corrupt(Corrupt::Selected)[i]);
            }
        }
        assert!(
            kept_by_chance > 0,
            "the seed should keep some selected labels"
        );
        assert_eq!(n.corrupt(Corrupt::Selected), &n.selected[..]);
        assert_eq!(n.corrupt(Corrupt::Changed), &n.changed[..]);
    }

    /// At 100% noise every example is selected, yet about 1/10 keep their label: the
    /// paper's pristine set is that tenth, not empty.
    #[test]
    fn full_noise_keeps_a_tenth_pristine() {
        let orig: Vec<u8> = (0..20000).map(|i| (i * 3 % 10) as u8).collect();
        let n = LabelNoise::new(&orig, 1.0, 5);
        assert!(n.corrupt(Corrupt::Selected).iter().all(|&c| c));
        let pristine = n.corrupt(Corrupt::Changed).iter().filter(|&&c| !c).count();
        assert!(
            (1700..2300).contains(&pristine),
            "{pristine} of 20000 pristine at 100% noise"
        );
    }
}
