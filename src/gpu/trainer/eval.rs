//! The evaluation: the forward chain over both splits, in chunks of the trainer's rows,
//! writing each example's loss and correctness for every run.

use super::capacity::Capacity;
use super::layers::{Ops, Scores};
use crate::gpu::kernels::{Dispatch, GatherFrom};

pub(super) fn build(ops: &Ops<'_>, cap: &Capacity) -> Vec<Dispatch> {
    let rows = cap.rows;
    let mut eval = Vec::new();
    for split in [&ops.buf.train, &ops.buf.test] {
        for base in (0..split.n).step_by(rows) {
            let r = rows.min(split.n - base);
            let range = GatherFrom::Range {
                base: base as u32,
                step: &ops.buf.steps,
            };
            let scores = Scores {
                d: None,
                loss: split.loss.all(),
                correct: split.correct.all(),
            };
            ops.forward_rows(range, split, r, base, scores, &mut eval);
        }
    }
    eval
}
