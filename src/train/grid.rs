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
    /// Logged steps for a run of `total` steps, ascending, starting at 0, ending at `total`.
    pub fn steps(&self, total: u64) -> Vec<u64> {
        let mut v: Vec<u64> = match *self {
            LogGrid::Paper => {
                let mut v = Vec::new();
                let mut s = 0;
                while s <= total {
                    v.push(s);
                    s += match s {
                        0..=9 => 1,
                        10..=99 => 10,
                        100..=999 => 100,
                        1000..=9999 => 1000,
                        _ => 10000,
                    };
                }
                v
            }
            LogGrid::Every(n) => (0..=total).step_by(n as usize).collect(),
        };
        if v.last() != Some(&total) {
            v.push(total);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_grid() {
        let g = LogGrid::Paper.steps(60000);
        assert_eq!(&g[..12], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20]);
        assert!(g.contains(&900) && g.contains(&1000) && g.contains(&9000));
        assert!(g.contains(&10000) && g.contains(&20000) && !g.contains(&15000));
        assert_eq!(*g.last().unwrap(), 60000);
        assert_eq!(LogGrid::Paper.steps(600).len(), 10 + 9 + 6);
        assert_eq!(LogGrid::Paper.steps(605).last(), Some(&605));
    }

    #[test]
    fn every_grid() {
        assert_eq!(LogGrid::Every(4).steps(10), vec![0, 4, 8, 10]);
        assert_eq!(LogGrid::Every(5).steps(10), vec![0, 5, 10]);
        assert_eq!(LogGrid::Every(5).steps(0), vec![0]);
        assert!("every:0".parse::<LogGrid>().is_err());
        assert!("sometimes".parse::<LogGrid>().is_err());
    }
}
