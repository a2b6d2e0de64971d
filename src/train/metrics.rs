//! Logged metrics (metrics.csv), per-example learning times (examples.csv) and the summary.

use serde::Serialize;

pub const METRICS_HEADER: &str = "step,train_acc,train_loss,test_acc,test_loss,batch_acc,batch_loss,pristine_acc,corrupt_acc,overfit";
/// `corrupt` follows the run's `--corrupt` definition (default: label changed); `selected`
/// is the label-noise selection mask, whichever definition the run used.
pub const EXAMPLES_HEADER: &str =
    "index,label_orig,label_train,corrupt,selected,learnt_first,learnt_last";

/// One logged step. Options are written as empty fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub step: u64,
    pub train_acc: f64,
    pub train_loss: f64,
    pub test_acc: f64,
    pub test_loss: f64,
    /// The minibatch of update `step`, measured in that update's forward pass (before the
    /// update). None at step 0, where no minibatch has been used yet.
    pub batch_acc: Option<f64>,
    pub batch_loss: Option<f64>,
    /// Accuracy on the pristine training examples (by the run's `--corrupt` definition;
    /// None if there are none).
    pub pristine_acc: Option<f64>,
    /// Accuracy (against their noisy labels) on the corrupt examples (None if there are none).
    pub corrupt_acc: Option<f64>,
    /// a_train - [n/10 + (1 - n) a_test], the paper's Figure 4 measure.
    pub overfit: f64,
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

impl Row {
    pub fn csv(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{},{},{}",
            self.step,
            self.train_acc,
            self.train_loss,
            self.test_acc,
            self.test_loss,
            opt(self.batch_acc),
            opt(self.batch_loss),
            opt(self.pristine_acc),
            opt(self.corrupt_acc),
            self.overfit
        )
    }
}

pub fn metrics_csv(rows: &[Row]) -> String {
    let mut s = String::from(METRICS_HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&r.csv());
        s.push('\n');
    }
    s
}

/// Mean of f32 values summed in f64 in index order (deterministic).
pub fn mean_f32(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64).sum::<f64>() / v.len().max(1) as f64
}

/// Fraction of `correct` (0/1) over the indices where `mask` equals `want`; None if none.
pub fn masked_acc(correct: &[u32], mask: &[bool], want: bool) -> Option<f64> {
    let (mut n, mut c) = (0usize, 0usize);
    for (&k, &m) in correct.iter().zip(mask) {
        if m == want {
            n += 1;
            c += k as usize;
        }
    }
    (n > 0).then(|| c as f64 / n as f64)
}

/// Tracks, per training example, the first logged step at which it was predicted as its
/// training label, and the start of its current unbroken run of correct predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct Learnt {
    pub first: Vec<Option<u64>>,
    pub last: Vec<Option<u64>>,
}

impl Learnt {
    pub fn new(n: usize) -> Self {
        Learnt {
            first: vec![None; n],
            last: vec![None; n],
        }
    }

    pub fn update(&mut self, step: u64, correct: &[u32]) {
        for (i, &c) in correct.iter().enumerate() {
            if c != 0 {
                self.first[i].get_or_insert(step);
                self.last[i].get_or_insert(step);
            } else {
                self.last[i] = None;
            }
        }
    }

    pub fn csv(&self, orig: &[u8], train: &[u8], corrupt: &[bool], selected: &[bool]) -> String {
        let mut s = String::with_capacity(orig.len() * 24);
        s.push_str(EXAMPLES_HEADER);
        s.push('\n');
        let o = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
        for i in 0..orig.len() {
            s.push_str(&format!(
                "{i},{},{},{},{},{},{}\n",
                orig[i],
                train[i],
                corrupt[i] as u8,
                selected[i] as u8,
                o(self.first[i]),
                o(self.last[i])
            ));
        }
        s
    }
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub final_metrics: Row,
    pub steps: u64,
    pub wall_s: f64,
    /// Seconds in training steps only (evaluation excluded).
    pub train_s: f64,
    pub eval_s: f64,
    /// Seconds in the coherence measurements (0 without --coherence).
    pub coherence_s: f64,
    /// Training steps per second, evaluation excluded.
    pub steps_per_s: f64,
    /// Runs trained together in the same dispatches (`--concurrent`); `train_s` and
    /// `steps_per_s` are those of the whole group.
    pub concurrent: usize,
    pub adapter: String,
    /// The kernel plan the run was trained with, resolved.
    pub kernels: crate::gpu::KernelPlan,
    pub winsor_version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learnt_tracks_first_and_current_run() {
        let mut l = Learnt::new(3);
        l.update(0, &[0, 1, 0]);
        l.update(10, &[1, 0, 0]);
        l.update(20, &[1, 1, 0]);
        assert_eq!(l.first, vec![Some(10), Some(0), None]);
        assert_eq!(l.last, vec![Some(10), Some(20), None]);
        // example 2 was selected but kept its label: pristine under "changed"
        let csv = l.csv(
            &[1, 2, 3],
            &[1, 5, 3],
            &[false, true, false],
            &[false, true, true],
        );
        assert_eq!(
            csv,
            format!("{EXAMPLES_HEADER}\n0,1,1,0,0,10,10\n1,2,5,1,1,0,20\n2,3,3,0,1,,\n")
        );
    }

    #[test]
    fn masked_accuracy() {
        assert_eq!(
            masked_acc(&[1, 0, 1, 1], &[true, true, false, false], true),
            Some(0.5)
        );
        assert_eq!(masked_acc(&[1, 0], &[false, false], true), None);
    }
}
