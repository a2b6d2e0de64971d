//! The tests of the selection family, shaders/select/ (select_partial, select_partial_cols
//! with nonzero_groups, select_sort): both paths, every rule and the plan's choices, against
//! its CPU twin in `winsor::reference::select`.

use super::*;

/// The plan the selection tests build their kernels with where the path is given
/// explicitly: the adapter's (both presets give the partial path the same units).
fn adapter_plan() -> KernelPlan {
    gpu().1.plan
}

/// Runs a selection kernel over a layer and compares every coordinate with
/// `reference::select`: the partial path in both orientations (every example read, or only
/// those whose inputs are not all zero: select_partial_cols.wgsl), the sort path once.
#[allow(clippy::too_many_arguments)]
fn check_selection(
    plan: &KernelPlan,
    rule: Rule,
    select: Select,
    d: &[f32],
    a: &[f32],
    rows: usize,
    fo: usize,
    fi: usize,
) {
    let (g, _) = gpu();
    let kernel = Selection::new(g, plan, &rule, rows, select).unwrap();
    for sparse_inputs in [false, true] {
        if sparse_inputs && kernel.path() == Select::Sort {
            continue;
        }
        check_selection_with(&kernel, rule, select, sparse_inputs, d, a, rows, fo, fi);
    }
}

/// Tolerance per coordinate, with S = sum_e |v_e| over its per-example values, on the sum
/// before it is divided by the count the rule divides by: 4 B u S for the partial path (a
/// running sum in example order, worst case (B - 1) u S, then the clipped-sum correction),
/// and (log2(P) + 2) u S for the sort path (a pairwise tree over P padded values, then the
/// scale). The sign rules are compared exactly where the sign of the sum is certain, i.e.
/// where |sum| exceeds the sum's own rounding bound.
#[allow(clippy::too_many_arguments)]
fn check_selection_with(
    kernel: &Selection,
    rule: Rule,
    select: Select,
    sparse_inputs: bool,
    d: &[f32],
    a: &[f32],
    rows: usize,
    fo: usize,
    fi: usize,
) {
    let (g, _) = gpu();
    let (k_lo, k_hi) = rule.clip_counts(rows);
    let path = kernel.path();
    let what =
        format!("{rule} {select:?} ({path:?}) sparse inputs {sparse_inputs} B={rows} {fo}x{fi}");
    let got = selected(kernel, sparse_inputs, d, a, fo, fi);
    let db = g.storage_init("d", bytemuck::cast_slice(d));
    let ab = g.storage_init("a", bytemuck::cast_slice(a));
    // the same kernel applying its update as an SGD step, in place on parameters w:
    // reference::sgd from the stored update above, to rounding (2 u of |w| + lr |update|)
    let lr = 0.37f32;
    let w: Vec<f32> = uniform(&mut rng(fo as u64 * 31 + fi as u64), fo * (fi + 1), 1.0);
    let wb = g.storage_init("w", bytemuck::cast_slice(&w));
    let disp = kernel.bind(
        g,
        LayerOperands {
            d: Slice::all(&db),
            a: Slice::all(&ab),
            g: Slice::all(&wb),
            fan_out: fo as u32,
            fan_in: fi as u32,
            sparse_inputs,
            runs: 1,
            update: Some(lr),
        },
    );
    run(g, &disp.iter().collect::<Vec<_>>()).unwrap();
    let stepped = g.read_f32(&wb, 0, fo * (fi + 1)).unwrap();
    let mut want_w = to64(&w);
    reference::sgd(&mut want_w, &to64(&got), lr as f64);
    let tol_w: Vec<f64> = w
        .iter()
        .zip(&got)
        .map(|(&w, &s)| 2.0 * U * (w.abs() as f64 + lr as f64 * s.abs() as f64) + 1e-38)
        .collect();
    assert_close(
        &format!("{what}, SGD applied in the kernel"),
        &stepped,
        &want_w,
        &tol_w,
    );
    let (d64, a64) = (to64(d), to64(a));
    let (mut want, want_bias) = reference::select(&rule, &d64, &a64, rows, fo, fi);
    want.extend(want_bias);
    // bound on the error of the sum, in units of u S
    let ulps = match path {
        Select::Sort => (rows.next_power_of_two().max(2).trailing_zeros() + 2) as f64,
        _ => 4.0 * rows as f64,
    };
    let tol: Vec<f64> = (0..fo * (fi + 1))
        .map(|c| {
            let v = reference::per_example_gradients(&d64, &a64, rows, fo, fi, c);
            let s: f64 = v.iter().map(|x| x.abs()).sum();
            match rule {
                // the sign of the sum is certain where |sum| > rows u S (the running sum's
                // worst case); elsewhere either sign (or 0) is right
                Rule::SignSum(scale) => {
                    let sum: f64 = v.iter().sum();
                    if sum.abs() > rows as f64 * U * s {
                        U * scale // the constant rounded to f32
                    } else {
                        2.0 * scale
                    }
                }
                // sums of +-1 and 0 are exact; only a product below f32's normal range may
                // round (or flush) to 0 and lose its sign
                Rule::SumSign(scale) => {
                    let tiny = v
                        .iter()
                        .filter(|x| **x != 0.0 && x.abs() < f32::MIN_POSITIVE as f64)
                        .count();
                    scale * (tiny as f64 + 2.0 * U * rows as f64)
                }
                _ => {
                    let kept = match rule {
                        Rule::Trim(_) => (rows - k_lo - k_hi) as f64,
                        _ => rows as f64,
                    };
                    ulps * U * s / kept + 1e-38
                }
            }
        })
        .collect();
    assert_close(&what, &got, &want, &tol);
}

/// Both paths (the sign rules have only one), under the adapter's plan.
fn check_winsor(rule: Rule, d: &[f32], a: &[f32], rows: usize, fo: usize, fi: usize) {
    let plan = adapter_plan();
    let (k_lo, k_hi) = rule.clip_counts(rows);
    if k_lo.max(k_hi) <= PARTIAL_KMAX {
        check_selection(&plan, rule, Select::Partial, d, a, rows, fo, fi);
    }
    if rows <= SORT_PMAX && rule.selects() {
        check_selection(&plan, rule, Select::Sort, d, a, rows, fo, fi);
    }
}

#[test]
fn winsor_random_awkward_sizes() {
    let _serial = serial();
    let mut r = rng(11);
    for (rows, fo, fi, c) in [
        (37, 13, 7, 2.0),
        (100, 5, 9, 1.0),
        (100, 5, 9, 8.0),
        (128, 3, 4, 4.0),
        (200, 3, 3, 12.5),
        (256, 2, 3, 49.0), // largest clip count: 127 per side
        (37, 4, 3, 49.9),
        // fan_out a multiple of 4 (vec4 loads of d, 8 or 4 units per invocation) but not of
        // the units per invocation
        (100, 12, 7, 1.0),
        (100, 20, 8, 2.0),
        (37, 12, 9, 4.0),
        (100, 8, 5, 8.0),
        (1, 3, 2, 10.0),
        (2, 3, 2, 25.0),
        (3, 3, 2, 25.0),
    ] {
        let d = uniform(&mut r, rows * fo, 1.0);
        let a = uniform(&mut r, rows * fi, 1.0);
        check_winsor(Rule::Winsor(c), &d, &a, rows, fo, fi);
    }
}

#[test]
fn winsor_zero_equals_mean() {
    let _serial = serial();
    let mut r = rng(12);
    let (rows, fo, fi) = (37, 6, 11);
    let d = uniform(&mut r, rows * fo, 1.0);
    let a = uniform(&mut r, rows * fi, 1.0);
    check_winsor(Rule::Winsor(0.0), &d, &a, rows, fo, fi);
    check_winsor(Rule::Mean, &d, &a, rows, fo, fi);
}

#[test]
fn winsor_ties_zeros_and_extremes() {
    let _serial = serial();
    // fan_in 6 reads a as scalars, 8 as vec4
    for fi in [6, 8] {
        ties_zeros_and_extremes(fi);
    }
}

fn ties_zeros_and_extremes(fi: usize) {
    let mut r = rng(13);
    let (rows, fo) = (100, 4);
    // ties: values drawn from a few levels, like ReLU zeros and repeated pixels
    let d: Vec<f32> = (0..rows * fo)
        .map(|_| [0.0, -0.0, 0.5, -0.5][r.below(4) as usize])
        .collect();
    let mut a: Vec<f32> = (0..rows * fi)
        .map(|_| [0.0, 1.0, 0.25][r.below(3) as usize])
        .collect();
    // column 0 of a all equal, column 1 all zero (every product +-0)
    for e in 0..rows {
        a[e * fi] = 0.75;
        a[e * fi + 1] = 0.0;
    }
    for c in [0.0, 1.0, 4.0, 8.0, 30.0] {
        check_winsor(Rule::Winsor(c), &d, &a, rows, fo, fi);
    }
    // very large and very small magnitudes
    let d: Vec<f32> = (0..rows * fo)
        .map(|_| {
            let s = if r.below(2) == 0 { 1.0 } else { -1.0 };
            s * [1e18, 1e-18, 3e-30, 1.0][r.below(4) as usize]
        })
        .collect();
    let a: Vec<f32> = (0..rows * fi)
        .map(|_| [1e18, 1e-18, 1.0][r.below(3) as usize])
        .collect();
    for c in [1.0, 2.0, 8.0] {
        check_winsor(Rule::Winsor(c), &d, &a, rows, fo, fi);
    }
}

/// Inputs that are mostly zero, like MNIST's pixels, where the column kernel skips whole
/// groups of inputs: every rule, fan_in a multiple of 4 or not, and values of one sign, so
/// that the skipped zeros are among the kept extremes.
#[test]
fn sparse_inputs_like_mnist() {
    let _serial = serial();
    let mut r = rng(17);
    for (rows, fo, fi) in [(100, 12, 30), (100, 13, 32), (37, 8, 9)] {
        let a = mostly_zero(&mut r, rows * fi, 85);
        let mixed: Vec<f32> = (0..rows * fo)
            .map(|_| {
                if r.below(2) == 0 {
                    0.0
                } else {
                    (2.0 * r.uniform() - 1.0) as f32
                }
            })
            .collect();
        let positive: Vec<f32> = mixed.iter().map(|x| x.abs() + 0.25).collect();
        for d in [&mixed, &positive] {
            for rule in [
                Rule::Mean,
                Rule::Winsor(1.0),
                Rule::Winsor(2.0),
                Rule::Winsor(8.0),
                Rule::Trim(4.0),
                Rule::Median,
                Rule::SignSum(0.001),
                Rule::SumSign(0.001),
            ] {
                check_selection(&adapter_plan(), rule, Select::Partial, d, &a, rows, fo, fi);
            }
        }
    }
}

#[test]
fn trim_and_median_share_the_selection() {
    let _serial = serial();
    let mut r = rng(14);
    for (rows, fo, fi) in [(37, 3, 7), (100, 2, 8), (128, 2, 5), (1, 2, 3), (2, 2, 4)] {
        let d = uniform(&mut r, rows * fo, 1.0);
        let a = uniform(&mut r, rows * fi, 1.0);
        for rule in [
            Rule::Trim(0.0),
            Rule::Trim(4.0),
            Rule::Trim(25.0),
            Rule::Median,
        ] {
            check_winsor(rule, &d, &a, rows, fo, fi);
        }
    }
    // ties and zeros
    let d: Vec<f32> = (0..100 * 3)
        .map(|_| [0.0, -0.0, 0.5][r.below(3) as usize])
        .collect();
    let a: Vec<f32> = (0..100 * 4)
        .map(|_| [0.0, 1.0][r.below(2) as usize])
        .collect();
    for rule in [Rule::Trim(8.0), Rule::Median] {
        check_winsor(rule, &d, &a, 100, 3, 4);
    }
}

#[test]
fn sign_rules_random_ties_and_extremes() {
    let _serial = serial();
    let mut r = rng(15);
    for (rows, fo, fi) in [(37, 3, 7), (100, 2, 8), (1, 2, 3), (200, 2, 5)] {
        let d = uniform(&mut r, rows * fo, 1.0);
        let a = uniform(&mut r, rows * fi, 1.0);
        for rule in [
            Rule::SignSum(0.001),
            Rule::SumSign(0.001),
            Rule::SignSum(0.5),
            Rule::SumSign(0.03),
        ] {
            check_winsor(rule, &d, &a, rows, fo, fi);
        }
    }
    // +-0 (sign 0), exact cancellations, and magnitudes from 1e-30 to 1e18
    let (rows, fo, fi) = (100, 3, 6);
    let d: Vec<f32> = (0..rows * fo)
        .map(|_| [0.0, -0.0, 0.5, -0.5, 1e18, -3e-30][r.below(6) as usize])
        .collect();
    let a: Vec<f32> = (0..rows * fi)
        .map(|_| [0.0, 1.0, 1e-18][r.below(3) as usize])
        .collect();
    for rule in [Rule::SignSum(0.001), Rule::SumSign(0.001)] {
        check_winsor(rule, &d, &a, rows, fo, fi);
    }
}

#[test]
fn sort_path_large_minibatches_and_every_clip_count() {
    let _serial = serial();
    let mut r = rng(16);
    // P = 512, 1024 (fewer coordinates per workgroup), and the largest clip counts
    for (rows, fo, fi, c) in [(300, 2, 5, 49.0), (1000, 2, 3, 10.0), (1000, 1, 2, 0.0)] {
        let d = uniform(&mut r, rows * fo, 1.0);
        let a = uniform(&mut r, rows * fi, 1.0);
        check_selection(
            &adapter_plan(),
            Rule::Winsor(c),
            Select::Sort,
            &d,
            &a,
            rows,
            fo,
            fi,
        );
        check_selection(
            &adapter_plan(),
            Rule::Trim(c),
            Select::Sort,
            &d,
            &a,
            rows,
            fo,
            fi,
        );
    }
    let (rows, fo, fi) = (1000, 2, 3);
    let d = uniform(&mut r, rows * fo, 1.0);
    let a = uniform(&mut r, rows * fi, 1.0);
    check_selection(
        &adapter_plan(),
        Rule::Median,
        Select::Sort,
        &d,
        &a,
        rows,
        fo,
        fi,
    );
    // every clip count of B = 37 on both paths: 0..=18 per side
    let (rows, fo, fi) = (37, 2, 5);
    let d = uniform(&mut r, rows * fo, 1.0);
    let a = uniform(&mut r, rows * fi, 1.0);
    let mut seen = std::collections::BTreeSet::new();
    for tenth in 0..500 {
        let rule = Rule::Winsor(tenth as f64 / 10.0);
        if seen.insert(rule.clip_counts(rows)) {
            check_winsor(rule, &d, &a, rows, fo, fi);
        }
    }
    assert_eq!(seen.len(), 19, "clip counts 0..=18 per side");
}

#[test]
fn selection_paths_refuse_what_they_cannot_do() {
    let _serial = serial();
    let (g, _) = gpu();
    let err = |r: anyhow::Result<Selection>| format!("{:#}", r.err().expect("must fail"));
    for plan in KernelPlan::presets() {
        let name = format!("{:?} plan", plan.preset);
        // the partial path keeps at most 127 per side
        let e = err(Selection::new(
            g,
            &plan,
            &Rule::Median,
            300,
            Select::Partial,
        ));
        assert!(e.contains("--select sort"), "{name}: {e}");
        // the sort path sorts at most 4096 values per coordinate
        let e = err(Selection::new(
            g,
            &plan,
            &Rule::Winsor(1.0),
            5000,
            Select::Sort,
        ));
        assert!(e.contains("--select partial"), "{name}: {e}");
        // auto picks by clip count: the partial path up to the plan's partial_max_k per side
        for (rule, rows) in [
            (Rule::Winsor(2.0), 100),  // 2 per side
            (Rule::Winsor(25.0), 100), // 25 per side
            (Rule::Median, 100),       // 49 per side
            (Rule::Median, 300),       // 149 per side: past the partial path's 127
        ] {
            let (k_lo, k_hi) = rule.clip_counts(rows);
            let want = if k_lo.max(k_hi) <= plan.partial_max_k {
                Select::Partial
            } else {
                Select::Sort
            };
            let s = Selection::new(g, &plan, &rule, rows, Select::Auto).unwrap();
            assert_eq!(s.path(), want, "{name}: {rule} B={rows}");
        }
        // the sign rules stream whatever --select says
        for select in [Select::Sort, Select::Auto] {
            let s = Selection::new(g, &plan, &Rule::SignSum(0.001), 300, select).unwrap();
            assert_eq!(
                s.path(),
                Select::Partial,
                "{name}: sign-sum --select {select}"
            );
        }
    }
    // the presets differ: a CPU driver takes the partial path for every clip count it can
    let (cpu, gpu_plan) = (KernelPlan::cpu(), KernelPlan::gpu());
    let path = |plan: &KernelPlan| {
        Selection::new(g, plan, &Rule::Winsor(25.0), 100, Select::Auto)
            .unwrap()
            .path()
    };
    assert_eq!(path(&cpu), Select::Partial);
    assert_eq!(path(&gpu_plan), Select::Sort);
}

/// `--select auto` under both presets, on clip counts where they pick different paths
/// (the cpu plan's partial path, the gpu plan's sorting network beyond 16 per side) and
/// where they agree, against the reference.
#[test]
fn auto_selection_under_both_presets() {
    let _serial = serial();
    let mut r = rng(19);
    let (rows, fo, fi) = (100, 5, 9);
    let d = uniform(&mut r, rows * fo, 1.0);
    let a = uniform(&mut r, rows * fi, 1.0);
    for plan in KernelPlan::presets() {
        for rule in [
            Rule::Winsor(4.0),  // 4 per side: partial under both
            Rule::Winsor(25.0), // 25: partial on the cpu plan, sort on the gpu plan
            Rule::Trim(30.0),
            Rule::Median,
            Rule::SumSign(0.001), // no order statistics: always the partial path
        ] {
            check_selection(&plan, rule, Select::Auto, &d, &a, rows, fo, fi);
            let (g, _) = gpu();
            let path = Selection::new(g, &plan, &rule, rows, Select::Auto)
                .unwrap()
                .path();
            let (k_lo, k_hi) = rule.clip_counts(rows);
            let want = if rule.selects() && k_lo.max(k_hi) > plan.partial_max_k {
                Select::Sort
            } else {
                Select::Partial
            };
            assert_eq!(path, want, "{rule} under the {:?} plan", plan.preset);
        }
    }
    // the case that tells the presets apart
    let (g, _) = gpu();
    let w25 = Rule::Winsor(25.0);
    let path = |p: &KernelPlan| {
        Selection::new(g, p, &w25, rows, Select::Auto)
            .unwrap()
            .path()
    };
    assert_eq!(path(&KernelPlan::cpu()), Select::Partial);
    assert_eq!(path(&KernelPlan::gpu()), Select::Sort);
}

/// The partial path with a fixed number of units per invocation (`--partial-units` and
/// `--cols-units` 1, 4 and 16) instead of the presets' register budget, so that the
/// generated kernels of those counts run too: every finish, fan_out a multiple of 4 or not
/// (vec4 loads of d), fan_in a multiple of 4 or not (vec4 loads of a), fewer units than one
/// invocation holds, and inputs mostly zero (the column kernel skips whole groups).
#[test]
fn partial_selection_with_fixed_units() {
    let _serial = serial();
    let mut r = rng(20);
    for units in [1, 4, 16] {
        let plan = KernelPlan {
            partial_units: Units::Fixed(units),
            cols_units: Units::Fixed(units),
            ..KernelPlan::cpu()
        };
        for (rows, fo, fi) in [(17, 12, 9), (16, 5, 16), (13, 20, 3)] {
            let d = uniform(&mut r, rows * fo, 1.0);
            let a = mostly_zero(&mut r, rows * fi, 70);
            for rule in [
                Rule::Mean,
                Rule::Winsor(10.0),
                Rule::Trim(25.0),
                Rule::Median,
                Rule::SignSum(0.001),
                Rule::SumSign(0.001),
            ] {
                check_selection(&plan, rule, Select::Partial, &d, &a, rows, fo, fi);
            }
        }
    }
}

#[test]
fn sparse_inputs_like_mnist_background() {
    let _serial = serial();
    // most inputs zero (MNIST's background pixels): whole groups of four zero inputs are
    // counted instead of inserted, so their zeros must still count as order statistics
    let mut r = rng(18);
    for fi in [12, 13] {
        let (rows, fo) = (100, 5);
        let d = uniform(&mut r, rows * fo, 1.0);
        let a = mostly_zero(&mut r, rows * fi, 85);
        for rule in [
            Rule::Winsor(1.0),
            Rule::Winsor(8.0),
            Rule::Winsor(30.0),
            Rule::Trim(10.0),
            Rule::Median,
            Rule::SignSum(0.001),
            Rule::SumSign(0.001),
        ] {
            check_winsor(rule, &d, &a, rows, fo, fi);
        }
    }
}

/// The update `kernel` selects (stores, does not apply) on (d, a).
fn selected(
    kernel: &Selection,
    sparse_inputs: bool,
    d: &[f32],
    a: &[f32],
    fo: usize,
    fi: usize,
) -> Vec<f32> {
    let (g, _) = gpu();
    let db = g.storage_init("d", bytemuck::cast_slice(d));
    let ab = g.storage_init("a", bytemuck::cast_slice(a));
    let gb = g.storage("g", (fo * (fi + 1) * 4) as u64);
    let disp = kernel.bind(
        g,
        LayerOperands {
            d: Slice::all(&db),
            a: Slice::all(&ab),
            g: Slice::all(&gb),
            fan_out: fo as u32,
            fan_in: fi as u32,
            sparse_inputs,
            runs: 1,
            update: None,
        },
    );
    run(g, &disp.iter().collect::<Vec<_>>()).unwrap();
    g.read_f32(&gb, 0, fo * (fi + 1)).unwrap()
}

/// The partial path's update of `rule` on (d, a) under `plan`.
#[allow(clippy::too_many_arguments)]
fn partial_update(
    plan: &KernelPlan,
    rule: Rule,
    d: &[f32],
    a: &[f32],
    rows: usize,
    fo: usize,
    fi: usize,
) -> Vec<f32> {
    let (g, _) = gpu();
    let kernel = Selection::new(g, plan, &rule, rows, Select::Partial).unwrap();
    selected(&kernel, plan.sparse_inputs, d, a, fo, fi)
}

/// A partial-selection choice of the plan, on and off under both presets' other choices:
/// against the reference, and value for value (a zero's sign aside) between on and off, on
/// awkward sizes, heavy ties (values from a few levels), extreme magnitudes and subnormals,
/// for every finish.
fn partial_choice_changes_no_value(what: &str, seed: u64, set: fn(&mut KernelPlan, bool)) {
    let mut r = rng(seed);
    let levels = |r: &mut winsor::rng::Rng, n: usize, vals: &[f32]| -> Vec<f32> {
        (0..n)
            .map(|_| vals[r.below(vals.len() as u64) as usize])
            .collect()
    };
    for base in KernelPlan::presets() {
        let (mut on, mut off) = (base, base);
        set(&mut on, true);
        set(&mut off, false);
        for (rows, fo, fi) in [(37, 13, 7), (100, 6, 9), (23, 4, 16)] {
            let inputs = [
                (
                    uniform(&mut r, rows * fo, 1.0),
                    uniform(&mut r, rows * fi, 1.0),
                ),
                // ties: a handful of levels, so that many values equal a kept one
                (
                    levels(&mut r, rows * fo, &[-1.0, 0.0, 0.5, 1.0]),
                    levels(&mut r, rows * fi, &[0.0, 0.25, 1.0]),
                ),
                // extremes and subnormals next to ordinary values
                (
                    levels(&mut r, rows * fo, &[-3e16, -1.0, 1e-20, 2.0, 3e16]),
                    levels(&mut r, rows * fi, &[0.0, 1e-25, 0.75, 4e19]),
                ),
            ];
            for (d, a) in &inputs {
                for rule in [
                    Rule::Winsor(2.0),
                    Rule::Winsor(8.0),
                    Rule::Winsor(10.0),
                    Rule::Winsor(25.0),
                    Rule::Trim(20.0),
                    Rule::Median,
                    Rule::Mean,
                ] {
                    check_selection(&on, rule, Select::Partial, d, a, rows, fo, fi);
                    // the same values; only a zero's sign may differ (where +0 and -0 tie,
                    // max(+0, -0) may pick either)
                    let (with, without) = (
                        partial_update(&on, rule, d, a, rows, fo, fi),
                        partial_update(&off, rule, d, a, rows, fo, fi),
                    );
                    assert!(
                        with.iter().zip(&without).all(|(x, y)| x == y),
                        "{rule} B={rows} {fo}x{fi} ({:?} preset): {what} changed a value:\n{with:?}\n{without:?}",
                        base.preset
                    );
                }
            }
        }
    }
}

/// Early rejection (a value that cannot enter the kept set skips the insertion; the gpu
/// plan's).
#[test]
fn partial_selection_with_early_rejection() {
    let _serial = serial();
    partial_choice_changes_no_value("early rejection", 41, |p, on| p.partial_early_reject = on);
}

/// Chunk merges (chunks of examples sorted and merged into the kept values by a network;
/// the cpu plan's): minibatches of 23 to 100 take 2 to 12 chunks and a remainder.
#[test]
fn partial_selection_with_chunk_merges() {
    let _serial = serial();
    partial_choice_changes_no_value("chunk merges", 43, |p, on| p.partial_chunk_merge = on);
}
