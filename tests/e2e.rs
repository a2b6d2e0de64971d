//! End to end: GPU training steps against the f64 reference from the same initialisation
//! with the same minibatches, and bit-identical repeat runs, each under both kernel plans
//! (the cpu plan lavapipe picks and the gpu plan GPUs pick: tiled products, dense inputs,
//! the sorting network beyond k = 16, the mean through d^T a).
//!
//! Tolerance: after 20 steps every parameter is within 2e-5 of the reference (parameters are
//! ~0.1 in size; f32 rounding of the forward, backward and update contributes ~1e-7 per step),
//! and every minibatch loss within 1e-5 relative.

mod common;

use common::{gpu, plan_name, plans, serial};
use winsor::data::{BatchOrder, DataSet, LabelNoise};
use winsor::gpu::trainer::TrainerSpec;
use winsor::gpu::{GpuTrainer, KernelPlan};
use winsor::model::{Init, Params};
use winsor::reference::{self, Net64};
use winsor::rule::{Rule, Select, Temporal};

fn small_mnist(n_train: usize, n_test: usize) -> DataSet {
    let full = winsor::data::builtin_mnist().unwrap();
    DataSet {
        source: "mnist head".into(),
        train: full.train.head(n_train),
        test: full.test.head(n_test),
    }
}

fn gpu_vs_reference(rule: Rule, steps: usize, eval_chunk: usize) {
    gpu_vs_reference_with(rule, Select::Auto, steps, eval_chunk);
}

fn gpu_vs_reference_with(rule: Rule, select: Select, steps: usize, eval_chunk: usize) {
    for k in plans() {
        plan_vs_reference(k, rule, select, steps, eval_chunk);
    }
}

fn plan_vs_reference(
    k: &winsor::gpu::Kernels,
    rule: Rule,
    select: Select,
    steps: usize,
    eval_chunk: usize,
) {
    let (g, _) = gpu();
    let what = format!("{rule} ({})", plan_name(k));
    let (batch, seed) = (37usize, 3u64);
    let data = small_mnist(37 * 7, 101);
    let noise = LabelNoise::new(&data.train.labels, 0.25, seed);
    let widths = [784, 37, 13, 10];
    let init = Params::init(&widths, Init::Code, seed);
    let trainer = GpuTrainer::new(
        g,
        k,
        &data,
        &noise.labels,
        &init,
        rule,
        TrainerSpec {
            batch,
            select,
            lr: 0.1,
            eval_chunk,
            // small submissions, so that several overlap (double buffering) in each call
            steps_per_submit: 3,
            coherence: false,
        },
    )
    .unwrap();

    let mut order = BatchOrder::new(data.train.n, batch, seed);
    let batches: Vec<Vec<u32>> = (0..steps).map(|_| order.next_batch().to_vec()).collect();
    // in two submissions, to cover the per-step slots across submissions
    let mut gpu_stats = trainer.train(&batches[..steps / 2]).unwrap();
    gpu_stats.extend(trainer.train(&batches[steps / 2..]).unwrap());

    let mut net = Net64::from_params(&init);
    let mut state = reference::RuleState::default();
    for (s, b) in batches.iter().enumerate() {
        let px: Vec<u8> = b
            .iter()
            .flat_map(|&i| data.train.image(i as usize).to_vec())
            .collect();
        let labels: Vec<u8> = b.iter().map(|&i| noise.labels[i as usize]).collect();
        let st = reference::train_step(
            &mut net,
            &reference::inputs(&px),
            &labels,
            &rule,
            0.1,
            &mut state,
        );
        let (gl, gc) = gpu_stats[s];
        assert!(
            (gl as f64 - st.loss).abs() <= 1e-5 * st.loss,
            "{what} step {}: loss gpu {gl} vs reference {}",
            s + 1,
            st.loss
        );
        assert_eq!(gc as usize, st.correct, "{what} step {}: correct", s + 1);
    }

    let got = trainer.params().unwrap();
    let mut worst = 0.0f64;
    for (gl, rl) in got.layers.iter().zip(&net.layers) {
        for (a, b) in gl.w.iter().zip(&rl.w).chain(gl.b.iter().zip(&rl.b)) {
            worst = worst.max((*a as f64 - b).abs());
        }
    }
    assert!(worst <= 2e-5, "{what}: parameters differ by {worst:e}");
    // and the parameters really moved (the test would be empty otherwise)
    // (the median leaves most first-layer weights alone: most of their per-example
    // gradients are exactly zero, so the median is too)
    let moved: usize = got
        .layers
        .iter()
        .zip(&init.layers)
        .map(|(g, i)| g.w.iter().zip(&i.w).filter(|(a, b)| a != b).count())
        .sum();
    assert!(moved > 100, "{what}: only {moved} weights changed");

    // evaluation of the trained GPU model against the reference on both splits
    let ev = trainer.evaluate().unwrap();
    let net32 = Net64::from_params(&got);
    let (rl, rc) = reference::evaluate(&net32, &data.train.pixels, &noise.labels);
    for (i, (&g, &r)) in ev.train_loss.iter().zip(&rl).enumerate() {
        assert!(
            (g as f64 - r).abs() <= 1e-5 * (1.0 + r),
            "{what}: train loss {i}"
        );
    }
    let agree = ev
        .train_correct
        .iter()
        .zip(&rc)
        .filter(|(a, b)| (**a != 0) == **b)
        .count();
    assert!(
        agree >= data.train.n - 1,
        "{what}: train correctness: {agree}/{}",
        data.train.n
    );
    let (tl, _) = reference::evaluate(&net32, &data.test.pixels, &data.test.labels);
    for (i, (&g, &r)) in ev.test_loss.iter().zip(&tl).enumerate() {
        assert!(
            (g as f64 - r).abs() <= 1e-5 * (1.0 + r),
            "{what}: test loss {i}"
        );
    }
}

#[test]
fn twenty_steps_mean_match_reference() {
    let _serial = serial();
    gpu_vs_reference(Rule::Mean, 20, 64);
}

#[test]
fn twenty_steps_winsor2_match_reference() {
    let _serial = serial();
    gpu_vs_reference(Rule::Winsor(2.0), 20, 64);
}

#[test]
fn twenty_steps_winsor10_match_reference() {
    let _serial = serial();
    // B = 37, C = 10: 4 values clipped on each side
    gpu_vs_reference(Rule::Winsor(10.0), 20, 64);
}

#[test]
fn ten_steps_trim_and_median_match_reference() {
    let _serial = serial();
    gpu_vs_reference(Rule::Trim(10.0), 10, 64);
    gpu_vs_reference(Rule::Median, 10, 64);
}

#[test]
fn ten_steps_sort_path_matches_reference() {
    let _serial = serial();
    gpu_vs_reference_with(Rule::Winsor(10.0), Select::Sort, 10, 64);
    gpu_vs_reference_with(Rule::Median, Select::Sort, 10, 64);
    gpu_vs_reference_with(Rule::Median, Select::Partial, 10, 64);
}

#[test]
fn ten_steps_temporal_rules_match_reference() {
    let _serial = serial();
    for t in [Temporal::Rm3, Temporal::M3, Temporal::Ra3] {
        gpu_vs_reference(Rule::Temporal(t), 10, 64);
    }
}

#[test]
fn ten_steps_sign_rules_match_reference() {
    let _serial = serial();
    gpu_vs_reference(Rule::SumSign(0.001), 10, 64);
    gpu_vs_reference(Rule::SignSum(0.001), 10, 64);
}

#[test]
fn mean_over_row_chunks_matches_reference() {
    let _serial = serial();
    // 16 rows per dispatch: each minibatch of 37 runs as chunks of 16, 16 and 5 whose
    // gradients are accumulated, as full-batch training does on small devices
    gpu_vs_reference(Rule::Mean, 10, 16);
}

#[test]
fn same_seed_same_bytes() {
    let _serial = serial();
    for k in plans() {
        same_bytes_under(k);
    }
}

fn same_bytes_under(k: &winsor::gpu::Kernels) {
    use winsor::train::{run, LogGrid, RunOptions, TrainConfig};
    let (g, _) = gpu();
    let data = small_mnist(500, 200);
    let cfg = TrainConfig {
        arch: "784,33,10".parse().unwrap(),
        noise: 50.0,
        rule: Rule::Winsor(2.0),
        batch: 50,
        steps: 30,
        seed: 7,
        log_grid: LogGrid::Every(10),
        eval_chunk: 128,
        ..TrainConfig::default()
    };
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    for d in &dirs {
        run(
            g,
            k,
            &data,
            &cfg,
            &RunOptions {
                out: d.path().to_path_buf(),
                force: false,
                progress: false,
                parent: None,
                checkpoint: Default::default(),
            },
        )
        .unwrap();
    }
    for f in ["metrics.csv", "weights.safetensors", "examples.csv"] {
        let a = std::fs::read(dirs[0].path().join(f)).unwrap();
        let b = std::fs::read(dirs[1].path().join(f)).unwrap();
        assert!(
            a == b,
            "{f} differs between two runs with the same seed ({})",
            plan_name(k)
        );
    }
    let metrics = std::fs::read_to_string(dirs[0].path().join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 1 + 4, "header + steps 0,10,20,30");
}

#[test]
fn impossible_trainer_configurations_are_errors() {
    let _serial = serial();
    for k in plans() {
        impossible_configurations_under(k);
    }
}

fn impossible_configurations_under(k: &winsor::gpu::Kernels) {
    let (g, _) = gpu();
    let data = small_mnist(600, 50);
    let init = Params::init(&[784, 16, 10], Init::Code, 1);
    let make_with = |rule: Rule, select: Select, batch: usize, eval_chunk: usize| {
        let spec = TrainerSpec {
            batch,
            select,
            lr: 0.1,
            eval_chunk,
            steps_per_submit: 4,
            coherence: false,
        };
        GpuTrainer::new(g, k, &data, &data.train.labels, &init, rule, spec)
    };
    let make = |rule: Rule, batch: usize, eval_chunk: usize| {
        make_with(rule, Select::Auto, batch, eval_chunk)
    };
    let error = |r: anyhow::Result<GpuTrainer>| format!("{:#}", r.err().expect("must fail"));
    // a robust rule needs its whole minibatch in one dispatch
    let e = error(make(Rule::Winsor(2.0), 37, 16));
    assert!(e.contains("too large for --rule winsor:2"), "{e}");
    // more values clipped per side than the partial selection keeps (auto sorts instead)
    let e = error(make_with(Rule::Winsor(49.0), Select::Partial, 300, 1000));
    assert!(e.contains("--select sort"), "{e}");
    assert!(make(Rule::Winsor(49.0), 300, 1000).is_ok());
    assert!(e.contains("keeps at most 127"), "{e}");
    // malformed minibatches
    let t = make(Rule::Mean, 10, 64).unwrap();
    let e = t.train(&[vec![0; 9]]).unwrap_err();
    assert!(format!("{e:#}").contains("must hold 10"), "{e:#}");
    let e = t.train(&[vec![600; 10]]).unwrap_err();
    assert!(format!("{e:#}").contains("outside the 600"), "{e:#}");
    // the coherence passes exist only when asked for
    let e = t.coherence().err().expect("no coherence passes");
    assert!(
        format!("{e:#}").contains("without the coherence passes"),
        "{e:#}"
    );
}

/// Several runs in the same dispatches give, run by run, exactly the numbers of each run
/// trained alone: the step statistics, the parameters and the evaluation, bit for bit.
/// The runs differ in rule (including a temporal one and two groups of the same rule),
/// label noise, seed and minibatch order, and the batch is not a multiple of any
/// workgroup size.
fn concurrent_equals_alone(kernels: &winsor::gpu::Kernels, select: Select) {
    use winsor::gpu::trainer::RunInit;
    let (g, _) = gpu();
    let plan = plan_name(kernels);
    let (batch, steps) = (23usize, 9usize);
    let data = small_mnist(23 * 5, 37);
    let widths = [784, 20, 12, 10];
    let cells = [
        (Rule::Mean, 0.0, 1u64),
        (Rule::Winsor(10.0), 0.5, 2),
        (Rule::Winsor(10.0), 0.25, 3),
        (Rule::Temporal(Temporal::Rm3), 0.25, 4),
        (Rule::Median, 1.0, 5),
        (Rule::Winsor(10.0), 0.75, 6),
    ];
    let noise: Vec<LabelNoise> = cells
        .iter()
        .map(|&(_, n, seed)| LabelNoise::new(&data.train.labels, n, seed))
        .collect();
    let inits: Vec<Params> = cells
        .iter()
        .map(|&(_, _, seed)| Params::init(&widths, Init::Code, seed))
        .collect();
    let orders: Vec<Vec<Vec<u32>>> = cells
        .iter()
        .map(|&(_, _, seed)| {
            let mut o = BatchOrder::new(data.train.n, batch, seed);
            (0..steps).map(|_| o.next_batch().to_vec()).collect()
        })
        .collect();
    let spec = TrainerSpec {
        batch,
        select,
        lr: 0.1,
        eval_chunk: 1000,
        steps_per_submit: 4,
        coherence: false,
    };
    let runs: Vec<RunInit> = (0..cells.len())
        .map(|i| RunInit {
            labels: &noise[i].labels,
            init: &inits[i],
            rule: cells[i].0,
        })
        .collect();
    let together = GpuTrainer::new_runs(g, kernels, &data, &runs, spec.clone()).unwrap();
    let joint: Vec<Vec<u32>> = (0..steps)
        .map(|s| orders.iter().flat_map(|o| o[s].clone()).collect())
        .collect();
    let stats = together.train(&joint).unwrap();
    let evals = together.evaluate_runs().unwrap();
    for (i, run) in runs.iter().enumerate() {
        let alone = GpuTrainer::new(
            g,
            kernels,
            &data,
            run.labels,
            run.init,
            run.rule,
            spec.clone(),
        )
        .unwrap();
        let own = alone.train(&orders[i]).unwrap();
        let rule = run.rule;
        for (s, &(loss, correct)) in own.iter().enumerate() {
            let (l, c) = stats[s * runs.len() + i];
            assert_eq!(
                (l.to_bits(), c),
                (loss.to_bits(), correct),
                "run {i} ({rule}, {plan}) step {s}"
            );
        }
        let (a, b) = (alone.params().unwrap(), together.params_of(i).unwrap());
        assert_eq!(a.layers.len(), b.layers.len());
        for (la, lb) in a.layers.iter().zip(&b.layers) {
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&la.w), bits(&lb.w), "run {i} ({rule}, {plan}) weights");
            assert_eq!(bits(&la.b), bits(&lb.b), "run {i} ({rule}, {plan}) biases");
        }
        assert_ne!(
            a.layers[0].w, inits[i].layers[0].w,
            "run {i} did not train ({plan})"
        );
        let ev = alone.evaluate().unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&ev.train_loss),
            bits(&evals[i].train_loss),
            "run {i} ({plan})"
        );
        assert_eq!(
            bits(&ev.test_loss),
            bits(&evals[i].test_loss),
            "run {i} ({plan})"
        );
        assert_eq!(ev.train_correct, evals[i].train_correct, "run {i} ({plan})");
        assert_eq!(ev.test_correct, evals[i].test_correct, "run {i} ({plan})");
    }
}

#[test]
fn concurrent_runs_equal_runs_alone() {
    let _serial = serial();
    for k in plans() {
        concurrent_equals_alone(k, Select::Auto);
    }
}

#[test]
fn concurrent_runs_equal_runs_alone_on_the_sort_path() {
    let _serial = serial();
    // the sorting-network selection for every selecting rule, with each plan's products
    for k in plans() {
        concurrent_equals_alone(k, Select::Sort);
    }
}

/// Everything a few steps of training give, as bits: each step's statistics, each run's
/// parameters and evaluation.
fn training_bits(kernels: &winsor::gpu::Kernels, select: Select) -> Vec<u32> {
    use winsor::gpu::trainer::RunInit;
    let (g, _) = gpu();
    let (batch, steps) = (23usize, 6usize);
    let data = small_mnist(23 * 4, 29);
    let widths = [784, 20, 12, 10];
    let rules = [
        Rule::Mean,
        Rule::Winsor(10.0),
        Rule::Temporal(Temporal::Rm3),
        Rule::Median,
        Rule::Trim(20.0),
        Rule::SignSum(0.01),
    ];
    let noise = LabelNoise::new(&data.train.labels, 0.5, 1);
    let inits: Vec<Params> = (0..rules.len())
        .map(|i| Params::init(&widths, Init::Code, i as u64))
        .collect();
    let runs: Vec<RunInit> = rules
        .iter()
        .zip(&inits)
        .map(|(&rule, init)| RunInit {
            labels: &noise.labels,
            init,
            rule,
        })
        .collect();
    let spec = TrainerSpec {
        batch,
        select,
        lr: 0.1,
        eval_chunk: 1000,
        steps_per_submit: 4,
        coherence: false,
    };
    let trainer = GpuTrainer::new_runs(g, kernels, &data, &runs, spec).unwrap();
    let mut order = BatchOrder::new(data.train.n, batch, 3);
    let batches: Vec<Vec<u32>> = (0..steps)
        .map(|_| {
            (0..rules.len())
                .flat_map(|_| order.next_batch().to_vec())
                .collect()
        })
        .collect();
    let mut bits: Vec<u32> = Vec::new();
    for (l, c) in trainer.train(&batches).unwrap() {
        bits.extend([l.to_bits(), c]);
    }
    for i in 0..rules.len() {
        for layer in trainer.params_of(i).unwrap().layers {
            bits.extend(layer.w.iter().chain(&layer.b).map(|x| x.to_bits()));
        }
    }
    for ev in trainer.evaluate_runs().unwrap() {
        bits.extend(
            ev.train_loss
                .iter()
                .chain(&ev.test_loss)
                .map(|x| x.to_bits()),
        );
        bits.extend(ev.train_correct.iter().chain(&ev.test_correct));
    }
    bits
}

/// Requires a few steps of training (every rule group, six concurrent runs) to give the same
/// bits with plans `a` and `b`, on both selection paths.
fn assert_same_training(a: KernelPlan, b: KernelPlan, what: &str) {
    let (g, _) = gpu();
    let (ka, kb) = (
        winsor::gpu::Kernels::new(g, a).unwrap(),
        winsor::gpu::Kernels::new(g, b).unwrap(),
    );
    for select in [Select::Auto, Select::Sort] {
        let (x, y) = (training_bits(&ka, select), training_bits(&kb, select));
        assert_eq!(x.len(), y.len());
        let first = x.iter().zip(&y).position(|(x, y)| x != y);
        assert!(
            first.is_none(),
            "{:?} plan, --select {select}: {what} at word {first:?}",
            a.preset
        );
    }
}

/// Shader modules created trusted (no runtime bounds checks, the gpu plan's) compute the
/// same bits as checked ones, under both presets, on both selection paths: the checks never
/// fired, because every index is in range (docs/trusted-shaders.md). On lavapipe, robust
/// buffer access would hide an out-of-range storage access from this comparison, so the
/// range-asserted build (every array index checked against its binding, a miss failing the
/// device's next wait) must also give the same bits, with no index out of range.
#[test]
fn trusted_shaders_are_bit_identical_to_checked_ones() {
    let _serial = serial();
    use winsor::gpu::plan::ShaderChecks;
    for preset in KernelPlan::presets() {
        let with = |shader_checks| KernelPlan {
            shader_checks,
            ..preset
        };
        assert_same_training(
            with(ShaderChecks::Bounds),
            with(ShaderChecks::Trusted),
            "trusted differs from checked",
        );
        assert_same_training(
            with(ShaderChecks::Trusted),
            with(ShaderChecks::Asserted),
            "the range-asserted build differs from trusted",
        );
    }
    gpu().0.check().expect("no index out of range");
}

/// Reading the operands of the forward and backward products and the partial selection's
/// vec4 views from texture mirrors (the cpu plan's) computes the same bits as reading the
/// storage buffers, under both presets and both selection paths. Six concurrent runs: the
/// mirrors hold several runs' rows, the weights' mirrors many rows of texels and the
/// inputs' a partial last row.
#[test]
fn texture_operands_are_bit_identical_to_buffers() {
    let _serial = serial();
    use winsor::gpu::plan::Operands;
    for preset in KernelPlan::presets() {
        let with = |operands| KernelPlan { operands, ..preset };
        assert_same_training(
            with(Operands::Buffers),
            with(Operands::Textures),
            "textures differ from buffers",
        );
    }
}

/// Chunk merges (the cpu plan's) and early rejection (the gpu plan's) keep the same values as
/// inserting each value, so training gives the same bits with either on or off, under both
/// presets: this is the only place the gpu plan runs chunk merges end to end, and the cpu
/// plan early rejection.
#[test]
fn chunk_merges_and_early_rejection_change_no_bits() {
    let _serial = serial();
    use winsor::gpu::kernels::select::PartialShape;
    use winsor::gpu::plan::Units;
    // the fixture's winsor and trim runs (batch 23 in training_bits) really take chunk
    // merges, so that the comparison is not of two identical plans
    for rule in [Rule::Winsor(10.0), Rule::Trim(20.0)] {
        let shape = PartialShape::new(&rule, 23, Units::Fixed(4)).unwrap();
        let chunked = shape.chunked(true, 23, Units::Fixed(4));
        assert!(
            chunked.chunk.is_some(),
            "{rule} at batch 23: no chunk merges"
        );
    }
    for preset in KernelPlan::presets() {
        for on in [false, true] {
            let base = KernelPlan {
                partial_chunk_merge: on,
                partial_early_reject: !on,
                ..preset
            };
            assert_same_training(
                base,
                KernelPlan {
                    partial_chunk_merge: !on,
                    ..base
                },
                "chunk merges change the training",
            );
            assert_same_training(
                base,
                KernelPlan {
                    partial_early_reject: on,
                    ..base
                },
                "early rejection changes the training",
            );
        }
    }
}
