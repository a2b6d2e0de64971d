//! What [`super::run_many`] shows while it trains: its progress bar, the sweep's bar above it
//! (if any), and the lines about the runs.

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use super::RunOptions;

pub(super) struct Progress<'o> {
    bar: ProgressBar,
    /// `RunOptions::progress`: lines are wanted even where the bar draws nothing.
    lines: bool,
    /// A sweep's bar and the runs' first position on it.
    parent: &'o Option<(ProgressBar, u64)>,
    /// Runs trained together: each one counts on the sweep's bar, and lines name their run.
    concurrent: usize,
}

impl<'o> Progress<'o> {
    /// A bar of `steps` steps, drawn only with `opts.progress`.
    pub(super) fn new(opts: &'o RunOptions, steps: u64, concurrent: usize) -> Self {
        let bar = if opts.progress {
            ProgressBar::new(steps)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} steps  {per_sec}  eta {eta}  {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Progress {
            bar,
            lines: opts.progress,
            parent: &opts.parent,
            concurrent,
        }
    }

    /// Prints a line above the bar.
    pub(super) fn say(&self, line: String) {
        if self.lines && self.bar.is_hidden() {
            // not a terminal (a batch job's log): the bar draws nothing, so print the line
            eprintln!("{line}");
        } else {
            self.bar.println(line);
        }
    }

    /// Names a run (by its folder) in lines about one of several; nothing for a single run.
    pub(super) fn who(&self, out: &Path) -> String {
        if self.concurrent > 1 {
            format!("{}: ", out.display())
        } else {
            String::new()
        }
    }

    /// Every run has trained `step` steps: moves this bar and the sweep's.
    pub(super) fn at_step(&self, step: u64) {
        self.bar.set_position(step);
        if let Some((sweep, offset)) = self.parent {
            sweep.set_position(offset + step * self.concurrent as u64);
        }
    }

    pub(super) fn message(&self, msg: String) {
        self.bar.set_message(msg);
    }

    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
