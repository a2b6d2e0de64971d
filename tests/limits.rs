//! The default configurations under wgpu's portable default limits (16 KiB of workgroup
//! memory, 128 MiB storage bindings, 8 storage buffers per stage): the README job's 3x256
//! winsor:4 and the paper's 1x2048 mean, on the full built-in MNIST, under both kernel plans.
//! Each trainer is built (every buffer and bind group of the step, the evaluation over all
//! 70,000 images and, for 1x2048, the coherence passes is made and validated then) and trains
//! two steps, which must give finite losses. A device with only these limits (a Metal or
//! DX12 laptop) therefore runs the defaults; where a configuration does not fit, the error
//! names the buffer and the limit (`Gpu::check_binding`).

mod common;

use winsor::data::{BatchOrder, LabelNoise};
use winsor::gpu::trainer::TrainerSpec;
use winsor::gpu::{Gpu, GpuTrainer, KernelPlan, Kernels, LimitsChoice};
use winsor::model::{Arch, Init, Params};
use winsor::rule::{Rule, Select};

#[test]
fn default_configurations_fit_the_default_limits() {
    let adapter = std::env::var("WINSOR_ADAPTER").ok();
    winsor::gpu::validation::warnings_are_errors();
    let g = Gpu::with_options(
        adapter.as_deref(),
        LimitsChoice::Default,
        common::validation(),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let defaults = wgpu::Limits::default();
    assert_eq!(
        g.limits.max_compute_workgroup_storage_size,
        defaults.max_compute_workgroup_storage_size
    );
    assert_eq!(
        g.limits.max_storage_buffer_binding_size,
        defaults.max_storage_buffer_binding_size
    );
    let data = winsor::data::builtin_mnist().unwrap();
    for plan in KernelPlan::presets() {
        let kernels = Kernels::new(&g, plan).unwrap();
        for (arch, rule, coherence) in [
            ("3x256", Rule::Winsor(4.0), false),
            ("1x2048", Rule::Mean, true),
        ] {
            let what = format!("{arch} {rule} under the {:?} plan", plan.preset);
            let widths = arch.parse::<Arch>().unwrap().widths(784, 10).unwrap();
            let noise = LabelNoise::new(&data.train.labels, 0.5, 0);
            let init = Params::init(&widths, Init::Code, 0);
            let spec = TrainerSpec {
                batch: 100,
                select: Select::Auto,
                lr: 0.1,
                eval_chunk: 10000,
                steps_per_submit: 2,
                coherence,
            };
            let trainer = GpuTrainer::new(&g, &kernels, &data, &noise.labels, &init, rule, spec)
                .unwrap_or_else(|e| panic!("{what}: {e:#}"));
            let mut order = BatchOrder::new(data.train.n, 100, 0);
            let batches: Vec<Vec<u32>> = (0..2).map(|_| order.next_batch().to_vec()).collect();
            let stats = trainer
                .train(&batches)
                .unwrap_or_else(|e| panic!("{what}: {e:#}"));
            assert_eq!(stats.len(), 2, "{what}");
            for (loss, correct) in stats {
                assert!(loss.is_finite() && loss > 0.0, "{what}: loss {loss}");
                assert!(correct <= 100, "{what}: {correct} correct of 100");
            }
        }
    }
}
