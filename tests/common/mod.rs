//! Shared test helpers: the GPU (failing, never skipping, without an adapter), seeded random
//! data, and tolerance checks.
#![allow(dead_code)]

use std::sync::OnceLock;

use winsor::gpu::{Gpu, KernelPlan, Kernels, LimitsChoice, Validation};
use winsor::rng::{Rng, Stream};

/// The test device, under [`validation`]. Without an adapter this panics with instructions
/// to install lavapipe: a GPU test must fail, not silently pass, on a machine that cannot
/// run it. The kernels are those of the adapter's plan (the cpu plan on lavapipe); [`plans`]
/// gives both plans' kernels, for the end-to-end tests that must run each.
pub fn gpu() -> &'static (Gpu, Kernels) {
    gpu_unless(Validation::On)
}

/// [`gpu`], validated as `default` says where `WINSOR_VALIDATE` is unset. The first call in
/// a test binary opens the device; tests/kernels/ takes `off`.
pub fn gpu_unless(default: Validation) -> &'static (Gpu, Kernels) {
    static GPU: OnceLock<(Gpu, Kernels)> = OnceLock::new();
    GPU.get_or_init(|| {
        let adapter = std::env::var("WINSOR_ADAPTER").ok();
        // the layer's warnings fail the tests too
        winsor::gpu::validation::warnings_are_errors();
        let gpu = Gpu::with_options(
            adapter.as_deref(),
            LimitsChoice::Adapter,
            validation_unless(default),
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        let kernels = Kernels::for_adapter(&gpu).unwrap_or_else(|e| panic!("{e:#}"));
        (gpu, kernels)
    })
}

/// The validation the test device runs under: `on` (the Khronos layer's core and
/// synchronization checks; any error or warning it reports fails the test at its next wait,
/// through `Gpu::check`), unless `WINSOR_VALIDATE` says off or gpu-assisted. The layer costs
/// about 10% of the end-to-end tests' time on lavapipe (BENCHMARKS.md). Without it
/// installed, the tests fail with the command that installs it.
pub fn validation() -> Validation {
    validation_unless(Validation::On)
}

/// `WINSOR_VALIDATE`'s choice, or `default` where it is unset.
pub fn validation_unless(default: Validation) -> Validation {
    use clap::ValueEnum as _;
    match std::env::var("WINSOR_VALIDATE") {
        Ok(v) => Validation::from_str(&v, true)
            .unwrap_or_else(|e| panic!("WINSOR_VALIDATE={v:?}: {e}; use off, on or gpu-assisted")),
        Err(_) => default,
    }
}

/// `--validate` with [`validation`]'s choice, for tests that run the winsor binary.
pub fn validate_flag() -> [&'static str; 2] {
    let v = match validation() {
        Validation::Off => "off",
        Validation::On => "on",
        Validation::GpuAssisted => "gpu-assisted",
    };
    ["--validate", v]
}

/// Held for the whole of a test that shares the device with the others of its binary: on
/// lavapipe, tests submitting side by side to one device ran about 9x slower in all than one
/// after another (tests/kernels/: 650 s against 70 s on 2 cores), each waiting on the
/// others' work. A failed test's poisoned lock is taken over, so one failure stays one.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The kernels of both presets, cpu then gpu, on the test device: every end-to-end test
/// runs under each, so that the paths a GPU takes are tested on lavapipe too.
pub fn plans() -> [&'static Kernels; 2] {
    static PLANS: OnceLock<[Kernels; 2]> = OnceLock::new();
    let (g, _) = gpu();
    PLANS
        .get_or_init(|| {
            KernelPlan::presets().map(|p| Kernels::new(g, p).unwrap_or_else(|e| panic!("{e:#}")))
        })
        .each_ref()
}

/// The plan's name for assertion messages.
pub fn plan_name(k: &Kernels) -> String {
    format!("{:?} plan", k.plan.preset).to_lowercase()
}

pub fn rng(seed: u64) -> Rng {
    Rng::new(seed, Stream::Test)
}

/// Uniform values in [-scale, scale).
pub fn uniform(r: &mut Rng, n: usize, scale: f64) -> Vec<f32> {
    (0..n)
        .map(|_| ((2.0 * r.uniform() - 1.0) * scale) as f32)
        .collect()
}

/// Values that are zero with probability `zero_percent`/100 and uniform in [0, 1) otherwise,
/// like MNIST pixels (85% zero).
pub fn mostly_zero(r: &mut Rng, n: usize, zero_percent: u64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            if r.below(100) < zero_percent {
                0.0
            } else {
                r.uniform() as f32
            }
        })
        .collect()
}

pub fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Asserts |got - want| <= tol[i] for every element, reporting the worst offender.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], tol: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0usize, 0.0f64);
    for i in 0..got.len() {
        let err = (got[i] as f64 - want[i]).abs();
        assert!(
            err <= tol[i],
            "{what}[{i}]: gpu {} vs reference {} (error {err:e} > tolerance {:e})",
            got[i],
            want[i],
            tol[i]
        );
        if err > worst.1 {
            worst = (i, err);
        }
    }
}

/// Unit roundoff of f32.
pub const U: f64 = 1.0 / 16777216.0; // 2^-24
