//! The privacy accountant against Opacus's own numbers, and `winsor privacy` from the
//! command line (issue 38). No GPU is involved.
//!
//! The reference values were computed with Opacus 1.6.0 (the PyPI wheel's
//! opacus/accountants/analysis/rdp.py, loaded on its own, with numpy 2.4.6 and scipy
//! 1.17.1): `compute_rdp(q=B/N, noise_multiplier=SIGMA, steps=T,
//! orders=RDPAccountant.DEFAULT_ALPHAS)`, then `get_privacy_spent(orders, rdp, delta)`.

use std::process::Command;

use winsor::privacy::accountant::{default_orders, epsilon, sigma_for_epsilon};

/// (N, B, SIGMA, T, delta, Opacus's epsilon, Opacus's best order)
const OPACUS_1_6_0: [(u64, u64, f64, u64, f64, f64, f64); 8] = [
    (60000, 100, 1.1, 20000, 1e-5, 1.1290755543565467, 14.0),
    (60000, 100, 0.5, 20000, 1e-5, 11.554080289002481, 2.4),
    (60000, 256, 1.0, 2340, 1e-5, 1.3516162963711964, 9.9),
    (60000, 100, 4.0, 20000, 1e-5, 0.21649407623525246, 63.0),
    (10000, 100, 0.8, 1000, 1e-6, 4.293340801773579, 4.9),
    (60000, 600, 2.0, 100, 1e-3, 0.12527167894735816, 35.0),
    (50000, 64, 0.7, 50000, 1e-5, 3.789007889400729, 5.2),
    (60000, 100, 10.0, 1, 1e-5, 0.10286813150214386, 63.0),
];

#[test]
fn epsilon_matches_opacus() {
    let orders = default_orders();
    for (n, b, sigma, steps, delta, want, want_order) in OPACUS_1_6_0 {
        let (eps, order) = epsilon(b as f64 / n as f64, sigma, steps, delta, &orders);
        // issue 38 asks for 1e-3; the two are the same formulas in f64, so far closer
        assert!(
            (eps - want).abs() < 1e-6 * want.max(1.0),
            "N {n} B {b} sigma {sigma} T {steps} delta {delta}: {eps} against Opacus's {want}"
        );
        assert!(
            (order - want_order).abs() < 1e-9,
            "best order {order} against {want_order}"
        );
    }
}

#[test]
fn solving_for_sigma_lands_on_the_target() {
    let orders = default_orders();
    // the quick fig4 protocol's run: 60,000 examples, B = 100, 20,000 steps
    for target in [1.0, 8.0] {
        let s = sigma_for_epsilon(100.0 / 60000.0, 20000, 1e-5, target, &orders).unwrap();
        let (eps, _) = epsilon(100.0 / 60000.0, s, 20000, 1e-5, &orders);
        assert!(eps <= target && eps > target - 1e-3, "sigma {s}: {eps}");
    }
}

fn winsor(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_winsor"))
        .args(args)
        .output()
        .expect("the winsor binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `winsor privacy --examples 60000 <rest>`, the rest split at spaces.
fn privacy(rest: &str) -> (bool, String) {
    let args: Vec<&str> = ["privacy", "--examples", "60000"]
        .into_iter()
        .chain(rest.split_whitespace())
        .collect();
    winsor(&args)
}

#[test]
fn the_command_prints_epsilon_and_solves_for_sigma() {
    let (ok, text) = privacy("--batch 100 --dp-noise 1.1 --steps 20000");
    assert!(ok, "{text}");
    assert!(
        text.contains("epsilon = 1.129076 (delta = 0.00001, best order alpha = 14)"),
        "{text}"
    );
    assert!(text.contains("assumes Poisson sampling"), "{text}");
    let (ok, text) = privacy("--batch 100 --epsilon 8 --steps 20000");
    assert!(ok, "{text}");
    assert!(text.starts_with("dp_noise = 0."), "{text}");
    let (ok, text) = privacy("--batch 100 --dp-noise 0 --steps 5");
    assert!(ok && text.contains("epsilon = inf"), "{text}");
}

#[test]
fn bad_values_are_refused_with_the_flag_named() {
    let cases = [
        ("--batch 100 --dp-noise -1 --steps 100", "--dp-noise -1"),
        (
            "--batch 100 --dp-noise 1 --delta 0 --steps 100",
            "--delta 0",
        ),
        (
            "--batch 100 --dp-noise 1 --delta 1 --steps 100",
            "--delta 1",
        ),
        ("--batch 0 --dp-noise 1 --steps 100", "--batch 0"),
        ("--batch 70000 --dp-noise 1 --steps 100", "--batch 70000"),
        ("--batch 100 --epsilon -2 --steps 100", "--epsilon -2"),
        (
            "--batch 100 --dp-noise 1 --epsilon 2 --steps 100",
            "cannot be used with",
        ),
        (
            "--batch 100 --dp-noise 1 --steps 0",
            "--steps 0: give the number of training steps",
        ),
    ];
    for (rest, want) in cases {
        let (ok, text) = privacy(rest);
        assert!(!ok, "{rest} was accepted: {text}");
        assert!(text.contains(want), "{rest}: {text}");
        assert!(!text.contains("panicked"), "{text}");
    }
}
