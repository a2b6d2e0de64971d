//! Minibatch order. `shuffle` is the author's code: each epoch is a fresh random permutation
//! of the training set, cut into consecutive minibatches, without replacement. `window:W` is
//! issue 37's intervention that separates the set size from how many other examples the
//! network sees between two visits of one example (docs/science.md, "The mechanism").

use std::fmt;

use crate::rng::{Rng, Stream};

/// How minibatches walk the training set (`--order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Epochs: every example once per N/B steps, in a fresh random order each epoch.
    #[default]
    Shuffle,
    /// A window of W consecutive training examples (by index, wrapping at the end) slides
    /// over the set. Each "window epoch" (W/B steps) visits every example of the window once,
    /// in a fresh random order; then the window moves on by the stride that makes the whole
    /// run one pass over the set ([`Order::stride`]). So an example is visited every ~W/B
    /// steps while it is in the window, as on a set of W examples, yet the run learns from
    /// all N; and every example gets the same number of visits as under `shuffle`.
    Window { width: usize },
}

impl std::str::FromStr for Order {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "shuffle" {
            return Ok(Order::Shuffle);
        }
        if let Some(w) = s.strip_prefix("window:") {
            if let Ok(width) = w.trim().parse::<usize>() {
                if width > 0 {
                    return Ok(Order::Window { width });
                }
            }
        }
        Err(format!(
            "{s:?}: the orders are shuffle (epochs) and window:W (a window of W examples sliding over the set, W a multiple of --batch), e.g. window:6000"
        ))
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Order::Shuffle => write!(f, "shuffle"),
            Order::Window { width } => write!(f, "window:{width}"),
        }
    }
}

impl Order {
    /// Checks the order against a run of `steps` steps of `batch` examples on `n` examples.
    pub fn check(&self, n: usize, batch: usize, steps: u64) -> Result<(), String> {
        let Order::Window { width } = *self else {
            return Ok(());
        };
        if width > n || !width.is_multiple_of(batch) {
            return Err(format!(
                "--order window:{width}: the window must be a multiple of --batch {batch} and at most the {n} training examples; try window:{}",
                (n / 10).max(batch) / batch * batch
            ));
        }
        if steps < (width / batch) as u64 {
            return Err(format!(
                "--order window:{width}: the run's {steps} steps do not fill one window epoch ({} steps); give more --steps or a smaller window",
                width / batch
            ));
        }
        Ok(())
    }

    /// How far the window moves after each window epoch: N·W/(B·T) examples, rounded and at
    /// least 1, so that the T steps make about one pass over the N examples and each
    /// example stays in the window for about T·B/N window epochs (its visits under
    /// `shuffle`). None for `shuffle`.
    pub fn stride(&self, n: usize, batch: usize, steps: u64) -> Option<usize> {
        let Order::Window { width } = *self else {
            return None;
        };
        let s = (n as f64 * width as f64 / (batch as f64 * steps.max(1) as f64)).round();
        Some((s as usize).max(1))
    }
}

pub struct BatchOrder {
    batch: usize,
    rng: Rng,
    perm: Vec<u32>,
    next: usize,
    walk: Walk,
}

/// What one refill of `perm` covers.
enum Walk {
    /// The whole set (an epoch).
    Epochs { n: usize },
    /// The window's next position (a window epoch).
    Window {
        n: usize,
        width: usize,
        stride: usize,
        /// Window epochs begun so far.
        epochs: u64,
    },
}

impl BatchOrder {
    /// Epochs over `n` examples; `batch` must divide `n` (checked by the configuration
    /// before we get here).
    pub fn new(n: usize, batch: usize, seed: u64) -> Self {
        Self::with_order(n, batch, seed, Order::Shuffle, 0)
    }

    /// The minibatches of `order` for a run of `steps` steps. The configuration has checked
    /// the order ([`Order::check`]) and that `batch` divides `n`.
    pub fn with_order(n: usize, batch: usize, seed: u64, order: Order, steps: u64) -> Self {
        let walk = match order {
            Order::Shuffle => {
                assert!(
                    batch > 0 && n.is_multiple_of(batch),
                    "batch {batch} must divide {n}"
                );
                Walk::Epochs { n }
            }
            Order::Window { width } => {
                assert!(
                    batch > 0 && width.is_multiple_of(batch) && width <= n,
                    "window {width} must be a multiple of batch {batch} and at most {n}"
                );
                Walk::Window {
                    n,
                    width,
                    stride: order.stride(n, batch, steps).expect("a window"),
                    epochs: 0,
                }
            }
        };
        Self {
            batch,
            rng: Rng::new(seed, Stream::Batches),
            perm: Vec::new(),
            next: usize::MAX, // forces a refill on the first call
            walk,
        }
    }

    /// The indices of the next minibatch.
    pub fn next_batch(&mut self) -> &[u32] {
        if self.next >= self.perm.len() {
            self.perm = match &mut self.walk {
                Walk::Epochs { n } => (0..*n as u32).collect(),
                Walk::Window {
                    n,
                    width,
                    stride,
                    epochs,
                } => {
                    let start = (*epochs as u128 * *stride as u128 % *n as u128) as usize;
                    *epochs += 1;
                    (0..*width).map(|i| ((start + i) % *n) as u32).collect()
                }
            };
            self.rng.shuffle(&mut self.perm);
            self.next = 0;
        }
        let s = self.next;
        self.next += self.batch;
        &self.perm[s..s + self.batch]
    }

    /// Skips `batches` minibatches, as if they had been drawn (a resumed run replays its
    /// order to the checkpoint's step: the shuffles consume the random stream as before).
    pub fn skip(&mut self, batches: u64) {
        for _ in 0..batches {
            self.next_batch();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_epoch_covers_every_example_once() {
        let mut o = BatchOrder::new(60, 12, 9);
        for _epoch in 0..3 {
            let mut seen: Vec<u32> = (0..5).flat_map(|_| o.next_batch().to_vec()).collect();
            seen.sort();
            assert_eq!(seen, (0..60).collect::<Vec<_>>());
        }
    }

    #[test]
    fn skipping_lands_where_drawing_does() {
        for order in [Order::Shuffle, Order::Window { width: 24 }] {
            let mut a = BatchOrder::with_order(60, 12, 4, order, 50);
            let mut b = BatchOrder::with_order(60, 12, 4, order, 50);
            for _ in 0..13 {
                a.next_batch();
            }
            b.skip(13);
            assert_eq!(a.next_batch(), b.next_batch(), "{order}");
        }
    }

    #[test]
    fn the_shuffle_order_is_the_one_before_orders_existed() {
        // `shuffle` must keep every earlier run's minibatches: the same stream, consumed the
        // same way (one shuffle of 0..n per epoch)
        let mut o = BatchOrder::new(30, 10, 3);
        let mut rng = Rng::new(3, Stream::Batches);
        for _ in 0..2 {
            let mut perm: Vec<u32> = (0..30).collect();
            rng.shuffle(&mut perm);
            for chunk in perm.chunks(10) {
                assert_eq!(o.next_batch(), chunk);
            }
        }
    }

    #[test]
    fn the_window_slides_one_pass_and_visits_like_epochs() {
        // 600 examples, window 60, batch 10, 600 steps: 10 visits per example (as 10 epochs
        // would give), stride 600*60/(10*600) = 6, so 100 window epochs make one pass
        let (n, width, batch, steps) = (600, 60, 10, 600u64);
        let order = Order::Window { width };
        assert_eq!(order.stride(n, batch, steps), Some(6));
        let mut o = BatchOrder::with_order(n, batch, 1, order, steps);
        let mut visits = vec![Vec::new(); n];
        for step in 0..steps {
            let b = o.next_batch().to_vec();
            let mut sorted = b.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), batch, "no example twice in a minibatch");
            // every example of a window epoch lies in that epoch's window
            let start = (step as usize / (width / batch)) * 6 % n;
            for &i in &b {
                assert!((i as usize + n - start) % n < width, "step {step}: {i}");
                visits[i as usize].push(step);
            }
        }
        assert!(
            visits.iter().all(|v| v.len() == 10),
            "every example 10 times"
        );
        // between two visits, at most two window epochs pass (about W/B steps); the first W
        // examples are also visited at the end of the pass, where the window wraps
        let widest = visits[width..]
            .iter()
            .flat_map(|v| v.windows(2).map(|w| w[1] - w[0]))
            .max()
            .unwrap();
        assert!(widest < 2 * (width / batch) as u64, "{widest}");
    }

    #[test]
    fn orders_parse_and_check() {
        assert_eq!("shuffle".parse::<Order>(), Ok(Order::Shuffle));
        let w: Order = "window:6000".parse().unwrap();
        assert_eq!(w.to_string(), "window:6000");
        for bad in ["window:0", "window:", "window:-5", "blocks:3", ""] {
            let e = bad.parse::<Order>().unwrap_err();
            assert!(e.contains("window:W"), "{e}");
        }
        assert!(w.check(60000, 100, 20000).is_ok());
        assert_eq!(w.stride(60000, 100, 20000), Some(180));
        let e = Order::Window { width: 6050 }
            .check(60000, 100, 20000)
            .unwrap_err();
        assert!(
            e.contains("multiple of --batch") && e.contains("window:6000"),
            "{e}"
        );
        assert!(w.check(5000, 100, 20000).is_err());
        assert!(w.check(60000, 100, 10).unwrap_err().contains("--steps"));
    }
}
