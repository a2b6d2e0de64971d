//! The steps at which a run is evaluated and logged.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogGrid {
    /// The author's code: 0-9, 10-90 by 10, 100-900 by 100, 1000-9000 by 1000, then every
    /// 10000, plus the last step.
    Paper,
    /// 0, N, 2N, ... plus the last step.
    Every(u64),
}

impl std::str::FromStr for LogGrid {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "paper" {
            return Ok(LogGrid::Paper);
        }
        if let Some(n) = s.strip_prefix("every:") {
            if let Ok(n) = n.parse::<u64>() {
                if n > 0 {
                    return Ok(LogGrid::Every(n));
                }
            }
        }
        Err(format!(
            "--log-grid {s:?}: expected paper or every:N with N >= 1"
        ))
    }
}

impl std::fmt::Display for LogGrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogGrid::Paper => write!(f, "paper"),
            LogGrid::Every(n) => write!(f, "every:{n}"),
        }
    }
}

impl LogGrid {
    /// Whether step `s` is logged in a run of `total` steps (the last step always is).
    pub fn contains(&self, s: u64, total: u64) -> bool {
        s == total
            || s <= total
                && match *self {
                    LogGrid::Paper => s.is_multiple_of(paper_unit(s)),
                    LogGrid::Every(n) => s.is_multiple_of(n),
                }
    }

    /// The first logged step after `after` (None: the first, 0) in a run of `total` steps.
    /// Computed, never listed: a run of 2^64 - 1 steps has a schedule of 2^64 / 10000 steps.
    pub fn next(&self, after: Option<u64>, total: u64) -> Option<u64> {
        let Some(a) = after else {
            return Some(0);
        };
        if a >= total {
            return None;
        }
        let c = a + 1;
        let unit = match *self {
            LogGrid::Paper => paper_unit(c),
            LogGrid::Every(n) => n,
        };
        // c rounded up to a multiple of its unit (the paper's range boundaries 10, 100, 1000
        // and 10000 are multiples of the next range's unit, so this stays on the grid)
        Some(c.checked_next_multiple_of(unit).unwrap_or(total).min(total))
    }

    /// The logged steps in order, lazily.
    pub fn steps(&self, total: u64) -> impl Iterator<Item = u64> + '_ {
        std::iter::successors(self.next(None, total), move |&s| self.next(Some(s), total))
    }
}

/// The paper grid's spacing around step s: 1 below 10, 10 below 100, ..., then 10000.
fn paper_unit(s: u64) -> u64 {
    match s {
        0..=9 => 1,
        10..=99 => 10,
        100..=999 => 100,
        1000..=9999 => 1000,
        _ => 10000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_grid() {
        let g: Vec<u64> = LogGrid::Paper.steps(60000).collect();
        assert_eq!(&g[..12], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20]);
        assert!(g.contains(&900) && g.contains(&1000) && g.contains(&9000));
        assert!(g.contains(&10000) && g.contains(&20000) && !g.contains(&15000));
        assert_eq!(*g.last().unwrap(), 60000);
        assert_eq!(LogGrid::Paper.steps(600).count(), 10 + 9 + 6);
        assert_eq!(LogGrid::Paper.steps(605).last(), Some(605));
        for s in 0..=60000 {
            assert_eq!(
                LogGrid::Paper.contains(s, 60000),
                g.contains(&s),
                "step {s}"
            );
        }
    }

    #[test]
    fn every_grid() {
        let steps = |g: LogGrid, t| g.steps(t).collect::<Vec<u64>>();
        assert_eq!(steps(LogGrid::Every(4), 10), vec![0, 4, 8, 10]);
        assert_eq!(steps(LogGrid::Every(5), 10), vec![0, 5, 10]);
        assert_eq!(steps(LogGrid::Every(5), 0), vec![0]);
        assert!(LogGrid::Every(4).contains(8, 10) && !LogGrid::Every(4).contains(9, 10));
        assert!("every:0".parse::<LogGrid>().is_err());
        // the largest runs: the schedule is computed, not listed
        let big = u64::MAX;
        assert_eq!(LogGrid::Paper.next(Some(big - 1), big), Some(big));
        assert_eq!(LogGrid::Paper.next(Some(big), big), None);
        assert_eq!(LogGrid::Every(1).steps(big).nth(1000), Some(1000));
        assert!("sometimes".parse::<LogGrid>().is_err());
    }
}
