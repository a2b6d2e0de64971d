//! Differential privacy: the accountant (ε of the sampled Gaussian mechanism, as Opacus
//! computes it) and `winsor privacy`, which answers "what does this run spend?" and "what
//! noise reaches this ε?" without training.

pub mod accountant;

use anyhow::{bail, Result};
use clap::Args;

/// `winsor privacy`: ε (or the noise multiplier for a target ε) of DP-SGD over a run.
#[derive(Args, Debug)]
pub struct PrivacyArgs {
    /// Training examples N.
    #[arg(long, value_name = "N")]
    pub examples: u64,
    /// Expected minibatch size B; the sampling rate is q = B/N.
    #[arg(long, value_name = "B")]
    pub batch: u64,
    /// Training steps T.
    #[arg(long, value_name = "T")]
    pub steps: u64,
    /// The noise multiplier σ (the noise's standard deviation over the clip norm).
    #[arg(
        long,
        value_name = "SIGMA",
        required_unless_present = "epsilon",
        conflicts_with = "epsilon",
        allow_negative_numbers = true
    )]
    pub dp_noise: Option<f64>,
    /// Solve for the σ that spends this ε instead.
    #[arg(long, value_name = "E", allow_negative_numbers = true)]
    pub epsilon: Option<f64>,
    /// δ of (ε, δ)-DP.
    #[arg(long, default_value = "1e-5", allow_negative_numbers = true)]
    pub delta: f64,
}

/// Checks the accountant's inputs, with the flag and the fix in each message.
pub fn check_inputs(examples: u64, batch: u64, delta: f64) -> Result<f64> {
    if examples == 0 {
        bail!("--examples 0: the data set needs at least one example");
    }
    if batch == 0 || batch > examples {
        bail!("--batch {batch}: the expected minibatch size must be in 1..={examples} (the --examples)");
    }
    if !(delta > 0.0 && delta < 1.0) {
        bail!("--delta {delta}: δ must lie strictly between 0 and 1 (1e-5 is usual; below 1/N for N examples)");
    }
    Ok(batch as f64 / examples as f64)
}

/// Checks a noise multiplier (`flag` names it in the message).
pub fn check_sigma(flag: &str, sigma: f64) -> Result<()> {
    if !(sigma.is_finite() && sigma >= 0.0) {
        bail!("{flag} {sigma}: the noise multiplier must be a finite number of 0 or more (0 adds no noise and spends ε = ∞)");
    }
    Ok(())
}

/// What `winsor privacy` prints.
pub fn describe(a: &PrivacyArgs) -> Result<String> {
    let q = check_inputs(a.examples, a.batch, a.delta)?;
    if a.steps == 0 {
        bail!(
            "--steps 0: give the number of training steps, at least 1 (no step spends no privacy)"
        );
    }
    let orders = accountant::default_orders();
    let (sigma, solved) = match (a.dp_noise, a.epsilon) {
        (Some(s), None) => {
            check_sigma("--dp-noise", s)?;
            (s, false)
        }
        (None, Some(e)) => {
            if !(e.is_finite() && e > 0.0) {
                bail!("--epsilon {e}: the target ε must be a positive number");
            }
            let s = accountant::sigma_for_epsilon(q, a.steps, a.delta, e, &orders)
                .map_err(anyhow::Error::msg)?;
            (s, true)
        }
        _ => bail!("give --dp-noise SIGMA, or --epsilon E to solve for SIGMA"),
    };
    let (eps, order) = accountant::epsilon(q, sigma, a.steps, a.delta, &orders);
    let mut s = String::new();
    if solved {
        s.push_str(&format!("dp_noise = {sigma:.6}\n"));
    }
    if eps.is_finite() {
        s.push_str(&format!(
            "epsilon = {eps:.6} (delta = {}, best order alpha = {order})\n",
            a.delta
        ));
    } else {
        s.push_str(&format!(
            "epsilon = inf (delta = {}): no noise, no privacy\n",
            a.delta
        ));
    }
    s.push_str(&format!(
        "sampling rate q = {q} ({} of {} per step), {} steps ({:.2} epochs); Rényi DP of the sampled Gaussian mechanism (Mironov et al. 2019) over Opacus's default orders, converted by Balle et al. 2020, Theorem 21. It assumes Poisson sampling: each example in each step independently with probability q; under shuffled epochs it is the figure Opacus reports with poisson_sampling=False, not a proven bound\n",
        a.batch,
        a.examples,
        a.steps,
        a.steps as f64 * q
    ));
    Ok(s)
}

pub fn command(a: &PrivacyArgs) -> Result<()> {
    print!("{}", describe(a)?);
    Ok(())
}
