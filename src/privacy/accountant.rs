//! The Rényi-DP accountant of the sampled Gaussian mechanism, as Opacus computes it
//! (opacus/accountants/analysis/rdp.py, version 1.6.0), so that winsor's ε can be checked
//! against Opacus's own numbers (tests/privacy.rs).
//!
//! - RDP of one step at order α: Mironov, Talwar and Zhang 2019, "Rényi Differential Privacy
//!   of the Sampled Gaussian Mechanism", section 3.3: log(A_α) / (α − 1), A_α summed in log
//!   space (integer α exactly; fractional α by the two-sided series with erfc terms).
//! - T steps compose: T times the one-step RDP.
//! - RDP to (ε, δ): Balle et al. 2020, Theorem 21: ε = rdp(α) − (log δ + log α)/(α − 1) +
//!   log((α − 1)/α), minimised over the orders.

/// Opacus's default orders (`RDPAccountant.DEFAULT_ALPHAS`): 1.1 to 10.9 by 0.1, then 12
/// to 63.
pub fn default_orders() -> Vec<f64> {
    (1..100)
        .map(|x| 1.0 + x as f64 / 10.0)
        .chain((12..64).map(|a| a as f64))
        .collect()
}

/// ε at δ after `steps` steps of sampling rate `q` with noise multiplier `sigma`, and the
/// order that gives it; the minimum over `orders`. ε is +∞ (order NaN) when no order bounds
/// it (σ = 0).
pub fn epsilon(q: f64, sigma: f64, steps: u64, delta: f64, orders: &[f64]) -> (f64, f64) {
    let mut best = (f64::INFINITY, f64::NAN);
    for &alpha in orders {
        let rdp = rdp_step(q, sigma, alpha) * steps as f64;
        let eps = rdp - (delta.ln() + alpha.ln()) / (alpha - 1.0) + ((alpha - 1.0) / alpha).ln();
        // numpy's nanargmin: NaNs are ignored, the first of equal minima wins
        if eps < best.0 {
            best = (eps, alpha);
        }
    }
    best
}

/// The RDP of one step of the sampled Gaussian mechanism at order `alpha`.
pub fn rdp_step(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q == 0.0 {
        return 0.0;
    }
    if sigma == 0.0 {
        return f64::INFINITY;
    }
    if q == 1.0 {
        return alpha / (2.0 * sigma * sigma);
    }
    if alpha.is_infinite() {
        return f64::INFINITY;
    }
    let log_a = if alpha.fract() == 0.0 {
        log_a_int(q, sigma, alpha as u64)
    } else {
        log_a_frac(q, sigma, alpha)
    };
    log_a / (alpha - 1.0)
}

/// log(e^x + e^y).
fn log_add(x: f64, y: f64) -> f64 {
    let (a, b) = (x.min(y), x.max(y));
    if a == f64::NEG_INFINITY {
        return b;
    }
    (a - b).exp().ln_1p() + b
}

/// log(e^x − e^y), x ≥ y (Opacus raises otherwise; the series never asks for it).
fn log_sub(x: f64, y: f64) -> f64 {
    if y == f64::NEG_INFINITY {
        return x;
    }
    if x == y {
        return f64::NEG_INFINITY;
    }
    let d = (x - y).exp_m1();
    if d.is_infinite() {
        return x;
    }
    d.ln() + y
}

/// The generalised binomial coefficient C(alpha, i) = Π_{k<i} (alpha − k)/(k + 1), which
/// is negative for some i when alpha is fractional.
fn binom(alpha: f64, i: u64) -> f64 {
    (0..i).fold(1.0, |c, k| c * (alpha - k as f64) / (k + 1) as f64)
}

fn log_a_int(q: f64, sigma: f64, alpha: u64) -> f64 {
    let mut log_a = f64::NEG_INFINITY;
    for i in 0..=alpha {
        let fi = i as f64;
        let log_coef =
            binom(alpha as f64, i).ln() + fi * q.ln() + (alpha - i) as f64 * (-q).ln_1p();
        log_a = log_add(log_a, log_coef + (fi * fi - fi) / (2.0 * sigma * sigma));
    }
    log_a
}

fn log_a_frac(q: f64, sigma: f64, alpha: f64) -> f64 {
    let (mut log_a0, mut log_a1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    let s2 = 2.0 * sigma * sigma;
    let mut i = 0u64;
    loop {
        let coef = binom(alpha, i);
        let log_coef = coef.abs().ln();
        let fi = i as f64;
        let j = alpha - fi;
        let log_t0 = log_coef + fi * q.ln() + j * (-q).ln_1p();
        let log_t1 = log_coef + j * q.ln() + fi * (-q).ln_1p();
        let log_e0 = 0.5f64.ln() + log_erfc((fi - z0) / (std::f64::consts::SQRT_2 * sigma));
        let log_e1 = 0.5f64.ln() + log_erfc((z0 - j) / (std::f64::consts::SQRT_2 * sigma));
        let log_s0 = log_t0 + (fi * fi - fi) / s2 + log_e0;
        let log_s1 = log_t1 + (j * j - j) / s2 + log_e1;
        if coef > 0.0 {
            log_a0 = log_add(log_a0, log_s0);
            log_a1 = log_add(log_a1, log_s1);
        } else {
            log_a0 = log_sub(log_a0, log_s0);
            log_a1 = log_sub(log_a1, log_s1);
        }
        i += 1;
        if log_s0.max(log_s1) < -30.0 {
            break;
        }
    }
    log_add(log_a0, log_a1)
}

/// log(erfc(x)), accurate where erfc underflows: libm's erfc (musl's, within an ulp or
/// two) up to x = 20, the asymptotic series beyond (its first neglected term is below
/// 1e-14 there).
pub fn log_erfc(x: f64) -> f64 {
    if x <= 20.0 {
        return libm::erfc(x).ln();
    }
    // erfc(x) = e^{-x²} / (x √π) · (1 − 1/(2x²) + 3/(2x²)² − 15/(2x²)³ + 105/(2x²)⁴ − ...)
    let t = 1.0 / (2.0 * x * x);
    let series = 1.0 - t + 3.0 * t * t - 15.0 * t.powi(3) + 105.0 * t.powi(4);
    -x * x - (x * std::f64::consts::PI.sqrt()).ln() + series.ln()
}

/// The noise multiplier σ that spends `target` ε at δ over `steps` steps of rate `q`: the
/// smallest σ (to a relative 1e-6) whose ε is at most the target, by bisection (ε falls
/// as σ grows). Errors when even σ = 1e4 does not reach it.
pub fn sigma_for_epsilon(
    q: f64,
    steps: u64,
    delta: f64,
    target: f64,
    orders: &[f64],
) -> Result<f64, String> {
    let eps = |s: f64| epsilon(q, s, steps, delta, orders).0;
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while eps(hi) > target {
        lo = hi;
        hi *= 2.0;
        if hi > 1e4 {
            return Err(format!(
                "ε = {target} at δ = {delta} is out of reach: even a noise multiplier of 1e4 spends more over {steps} steps at q = {q}"
            ));
        }
    }
    while hi - lo > 1e-6 * hi {
        let mid = 0.5 * (lo + hi);
        if eps(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_opacus_defaults() {
        let o = default_orders();
        assert_eq!(o.len(), 99 + 52);
        assert!((o[0] - 1.1).abs() < 1e-12 && (o[98] - 10.9).abs() < 1e-12);
        assert_eq!((o[99], o[150]), (12.0, 63.0));
    }

    #[test]
    fn log_erfc_is_continuous_where_the_series_takes_over() {
        let below = libm::erfc(19.999).ln();
        let above = log_erfc(20.001);
        // d/dx log erfc(x) ≈ −2x: about −0.08 over the gap
        assert!((above - below + 0.08).abs() < 1e-3, "{below} {above}");
        assert!((log_erfc(0.0) - 0.0).abs() < 1e-15);
        assert!(log_erfc(40.0).is_finite());
    }

    #[test]
    fn full_batches_are_the_gaussian_mechanism() {
        // q = 1: RDP α/(2σ²) per step, exactly
        assert_eq!(rdp_step(1.0, 2.0, 3.0), 3.0 / 8.0);
        assert_eq!(rdp_step(0.0, 2.0, 3.0), 0.0);
        assert!(epsilon(0.01, 0.0, 10, 1e-5, &default_orders())
            .0
            .is_infinite());
    }

    #[test]
    fn integer_and_fractional_orders_agree_near_each_other() {
        // the two series are different formulas; around an integer order they must meet
        let (q, s) = (0.01, 1.1);
        let at = rdp_step(q, s, 4.0);
        let near = rdp_step(q, s, 4.0 + 1e-7);
        assert!(
            (at - near).abs() < 1e-6 * at.abs().max(1e-12),
            "{at} {near}"
        );
    }

    #[test]
    fn sigma_for_epsilon_inverts_epsilon() {
        let o = default_orders();
        let s = sigma_for_epsilon(0.01, 1000, 1e-5, 2.0, &o).unwrap();
        let e = epsilon(0.01, s, 1000, 1e-5, &o).0;
        assert!(e <= 2.0 && e > 1.99, "{s} {e}");
        assert!(sigma_for_epsilon(0.5, 1_000_000, 1e-5, 1e-9, &o).is_err());
    }
}
