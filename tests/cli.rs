//! The command line: clear errors for bad input, a complete run directory for good input.

use std::path::Path;
use std::process::{Command, Output};

use winsor::data::write_idx_pair;

fn winsor(args: &[&str]) -> Output {
    // from a folder outside the repository: the built-in data must come with the binary
    Command::new(env!("CARGO_BIN_EXE_winsor"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run winsor")
}

fn fails_with(args: &[&str], needle: &str) {
    let out = winsor(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(
        err.contains(needle),
        "{args:?}: stderr lacks {needle:?}:\n{err}"
    );
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
}

/// A small MNIST-format folder: the first 1000 training and 200 test images.
fn small_data(dir: &Path) {
    let full = winsor::data::builtin_mnist().unwrap();
    write_idx_pair(dir, "train", &full.train.head(1000)).unwrap();
    write_idx_pair(dir, "t10k", &full.test.head(200)).unwrap();
}

#[test]
fn bad_arguments_are_named() {
    fails_with(&["train", "--noise", "120"], "outside 0..=100");
    fails_with(&["train", "--noise", "lots"], "not a number");
    fails_with(&["train", "--winsor", "50"], "[0, 50)");
    fails_with(&["train", "--rule", "winsor:60"], "[0, 50)");
    fails_with(&["train", "--rule", "median?"], "unknown rule");
    fails_with(&["train", "--arch", "3by256"], "DEPTHxWIDTH");
    fails_with(&["train", "--arch", "100,10"], "784 inputs");
    fails_with(&["train", "--log-grid", "often"], "every:N");
    fails_with(&["train", "--lr=-1"], "positive");
    fails_with(&["train", "--batch", "37"], "must divide the 60000");
    fails_with(&["train", "--batch", "0"], "at least one example");
    fails_with(
        &["train", "--rule", "mean", "--winsor", "2"],
        "cannot be used with",
    );
    fails_with(
        &["train", "--data", "/nonexistent/winsor"],
        "not a directory",
    );
    fails_with(&["train", "--adapter", "99"], "only");
    fails_with(
        &["profile", "--train-subset", "70000"],
        "the training set has only 60000 examples",
    );
    fails_with(
        &["train", "--test-subset", "20000"],
        "--test-subset 20000: the test set has only 10000 examples",
    );
    fails_with(
        &["train", "--test-subset", "0"],
        "at least one test example",
    );
    fails_with(&["train", "--corrupt", "flipped"], "changed, selected");
    fails_with(&["sweep", "--preset", "fig2", "--seeds", "0"], "--seeds 0");
    fails_with(
        &["sweep", "--preset", "fig7"],
        "fig1, fig2, fig4 and similarity",
    );
}

#[test]
fn corrupt_data_file_is_named() {
    let d = tempfile::tempdir().unwrap();
    small_data(d.path());
    let p = d.path().join("train-images-idx3-ubyte");
    let b = std::fs::read(&p).unwrap();
    std::fs::write(&p, &b[..b.len() / 2]).unwrap();
    fails_with(
        &["train", "--data", d.path().to_str().unwrap()],
        "train-images-idx3-ubyte",
    );
}

#[test]
fn no_adapter_fails_with_install_hint() {
    // DX12 does not exist on Linux: wgpu finds no adapter at all
    let out = Command::new(env!("CARGO_BIN_EXE_winsor"))
        .args(["train", "--steps", "1"])
        .env("WGPU_BACKEND", "dx12")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("mesa-vulkan-drivers"), "{err}");
}

#[test]
fn a_run_writes_every_output_and_keeps_finished_runs() {
    let d = tempfile::tempdir().unwrap();
    small_data(d.path());
    let out = d.path().join("run");
    let args = [
        "train",
        "--data",
        d.path().to_str().unwrap(),
        "--arch",
        "784,16,10",
        "--noise",
        "50",
        "--winsor",
        "4",
        "--steps",
        "20",
        "--log-grid",
        "every:10",
        "--seed",
        "1",
        "--out",
        out.to_str().unwrap(),
    ];
    let r = winsor(&args);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stdout).contains("done: 20 steps"));
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let mut lines = metrics.lines();
    assert_eq!(
        lines.next().unwrap(),
        "step,train_acc,train_loss,test_acc,test_loss,batch_acc,batch_loss,pristine_acc,corrupt_acc,overfit"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3, "steps 0, 10, 20");
    assert_eq!(rows[0][5], "", "no minibatch at step 0");
    for r in &rows {
        assert_eq!(r.len(), 10);
        let acc: f64 = r[1].parse().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        assert!(
            !r[7].is_empty() && !r[8].is_empty(),
            "both masks populated at 50% noise"
        );
    }
    let examples = std::fs::read_to_string(out.join("examples.csv")).unwrap();
    let mut lines = examples.lines();
    assert_eq!(
        lines.next().unwrap(),
        "index,label_orig,label_train,corrupt,selected,learnt_first,learnt_last"
    );
    // corrupt = label changed (the default): never without selected, and equal to
    // label_orig != label_train
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 1000);
    for r in &rows {
        assert_eq!(
            r[3] == "1",
            r[1] != r[2],
            "corrupt is the changed mask: {r:?}"
        );
        assert!(
            r[3] == "0" || r[4] == "1",
            "changed implies selected: {r:?}"
        );
    }
    assert!(
        rows.iter().any(|r| r[4] == "1" && r[3] == "0"),
        "some selected labels stay put at 50% noise"
    );
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    for key in [
        "seed = 1",
        "rule = \"winsor:4\"",
        "adapter = ",
        "winsor-version = ",
        "data-sha256 = ",
        "command = ",
        "corrupt = \"changed\"",
        // the resolved plan, never "auto"
        "[kernels]\npreset = \"",
    ] {
        assert!(config.contains(key), "config.toml lacks {key}:\n{config}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert!(summary["steps_per_s"].as_f64().unwrap() > 0.0);
    let preset = summary["kernels"]["preset"].as_str().unwrap_or_default();
    assert!(preset == "cpu" || preset == "gpu", "{summary}");
    assert!(
        config.contains(&format!("preset = \"{preset}\"")),
        "{config}"
    );
    let st = std::fs::read(out.join("weights.safetensors")).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&st).unwrap();
    assert_eq!(
        tensors.tensor("layers.0.weight").unwrap().shape(),
        &[16, 784]
    );
    assert_eq!(tensors.tensor("layers.1.bias").unwrap().shape(), &[10]);

    // a finished run is not overwritten without --force
    fails_with(&args, "--force");
    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(winsor(&forced).status.success());
}

#[test]
fn full_batch_gradient_descent() {
    for plan in ["cpu", "gpu"] {
        full_batch_under(plan);
    }
}

fn full_batch_under(plan: &str) {
    // --batch 60000 with mean: one minibatch is the whole training set
    let d = tempfile::tempdir().unwrap();
    let r = winsor(&[
        "train",
        "--arch",
        "784,8,10",
        "--batch",
        "60000",
        "--steps",
        "2",
        "--log-grid",
        "every:1",
        "--kernels",
        plan,
        "--out",
        d.path().to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let metrics = std::fs::read_to_string(d.path().join("metrics.csv")).unwrap();
    let rows: Vec<Vec<f64>> = metrics
        .lines()
        .skip(2)
        .map(|l| {
            l.split(',')
                .map(|x| x.parse().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    // with the whole set as the batch, the batch loss of update s is the train loss at s-1
    let first: Vec<f64> = metrics
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .map(|x| x.parse().unwrap_or(f64::NAN))
        .collect();
    assert!(
        (rows[0][6] - first[2]).abs() < 1e-4,
        "{plan} plan: {} vs {}",
        rows[0][6],
        first[2]
    );
    assert!(rows[1][2] < first[2], "{plan} plan: loss decreases");
}

#[test]
fn divergence_names_the_step() {
    let d = tempfile::tempdir().unwrap();
    small_data(d.path());
    for kernels in ["cpu", "gpu"] {
        fails_with(
            &[
                "train",
                "--data",
                d.path().to_str().unwrap(),
                "--arch",
                "784,16,10",
                "--lr",
                "1e30",
                "--steps",
                "20",
                "--kernels",
                kernels,
                "--out",
                d.path().join(kernels).to_str().unwrap(),
            ],
            "diverged at step",
        );
    }
}

#[test]
fn every_rule_trains_from_the_command_line() {
    let d = tempfile::tempdir().unwrap();
    small_data(d.path());
    for plan in ["cpu", "gpu"] {
        every_rule_under(d.path(), plan);
    }
    fails_with(
        &["train", "--select", "fast"],
        "expected sort, partial or auto",
    );
    fails_with(&["train", "--rule", "sign-sum:0"], "positive number");
}

fn every_rule_under(d: &Path, plan: &str) {
    for (rule, select) in [
        ("mean", "auto"),
        ("winsor:2", "partial"),
        ("winsor:2", "sort"),
        ("trim:10", "auto"),
        ("median", "auto"),
        ("sign-sum", "auto"),
        ("sum-sign:0.0001", "auto"),
        ("rm3", "auto"),
        ("m3", "auto"),
        ("ra3", "auto"),
    ] {
        let out = d.join(format!("{rule}-{select}-{plan}"));
        let r = winsor(&[
            "train",
            "--data",
            d.to_str().unwrap(),
            "--arch",
            "784,16,10",
            "--rule",
            rule,
            "--select",
            select,
            "--steps",
            "30",
            "--log-grid",
            "every:30",
            "--kernels",
            plan,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            r.status.success(),
            "{rule} ({plan} plan): {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
        assert!(config.contains(&format!("rule = \"{rule}\"")), "{config}");
        assert!(
            config.contains(&format!("select = \"{select}\"")),
            "{config}"
        );
        assert!(
            config.contains(&format!("[kernels]\npreset = \"{plan}\"")),
            "{config}"
        );
        // the loss at step 30 is below the loss at step 0: every rule learns something
        let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
        let loss: Vec<f64> = metrics
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
            .collect();
        assert!(
            loss[1] < loss[0],
            "{rule} ({plan} plan): train loss {loss:?}"
        );
    }
}

/// `--kernels` picks a preset and the finer flags override it; config.toml records the
/// result, and bad values are errors that name the flag.
#[test]
fn kernel_plan_flags_are_recorded_and_checked() {
    let d = tempfile::tempdir().unwrap();
    small_data(d.path());
    let out = d.path().join("run");
    let r = winsor(&[
        "train",
        "--data",
        d.path().to_str().unwrap(),
        "--arch",
        "784,16,10",
        "--winsor",
        "4",
        "--steps",
        "10",
        "--log-grid",
        "every:10",
        "--kernels",
        "gpu",
        "--matmul",
        "cpu",
        "--sparse-inputs",
        "on",
        "--fused-sgd",
        "off",
        "--partial-units",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    for key in [
        "preset = \"gpu\"",
        "sparse_inputs = true",
        "fused_sgd = false",
        "partial_max_k = 16",
        "[kernels.matmul]\nforward = \"cpu\"\nbackward = \"cpu\"\ngrad = \"cpu\"",
        "[kernels.partial_units]\nfixed = 4",
    ] {
        assert!(config.contains(key), "config.toml lacks {key}:\n{config}");
    }
    fails_with(&["train", "--kernels", "fast"], "--kernels");
    fails_with(
        &["train", "--partial-units", "0", "--steps", "1"],
        "0 is not in 1..=16",
    );
    fails_with(&["train", "--sparse-inputs", "maybe"], "--sparse-inputs");
    // a sweep's runs share their dispatches, so the plan is the sweep's, not a cell's
    let (_tmp, plan) = sweep_plan("steps = 10", "kernels = [\"cpu\", \"gpu\"]");
    let o = sweep(&plan, &d.path().join("sweep"), &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("pass --kernels to `winsor sweep`"), "{err}");
    // the environment switches the plan replaced are refused, not silently ignored
    let out = Command::new(env!("CARGO_BIN_EXE_winsor"))
        .args(["train", "--steps", "1"])
        .env("WINSOR_MATMUL", "tiled")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("WINSOR_MATMUL is no longer read") && err.contains("--matmul"),
        "{err}"
    );
}

#[test]
fn coherence_run_writes_its_table() {
    let d = tempfile::tempdir().unwrap();
    small_data(d.path());
    let out = d.path().join("run");
    let r = winsor(&[
        "train",
        "--data",
        d.path().to_str().unwrap(),
        "--arch",
        "784,16,10",
        "--noise",
        "25",
        "--train-subset",
        "500",
        "--steps",
        "8",
        "--log-grid",
        "every:4",
        "--coherence",
        "--coherence-first",
        "2",
        "--null-worlds",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let csv = std::fs::read_to_string(out.join("coherence.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for col in [
        "step",
        "f_p",
        "f_c",
        "f_p_layer1",
        "f_p_sampled",
        "f_p_null2",
        "i_p",
        "i_c_null1",
        "alpha",
        "m_coherence",
        "alpha_layer2",
        "grad_norm_c_q3",
    ] {
        assert!(header.contains(&col), "missing column {col}: {header:?}");
    }
    assert!(!header.contains(&"f_p_null3"), "two null worlds only");
    // steps 0, 1, 2 (every step up to --coherence-first) and the logged 4 and 8
    let steps: Vec<&str> = lines.map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(steps, ["0", "1", "2", "4", "8"]);
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(config.contains("n-train = 500"), "{config}");

    // the report draws the figures and checks the section 2.4 claims on this run
    let rep = d.path().join("report");
    let r = winsor(&[
        "report",
        out.to_str().unwrap(),
        "--out",
        rep.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    for png in ["fig2.png", "fig3.png"] {
        let bytes = std::fs::read(rep.join(png)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{png} is not a PNG");
        let img = image::load_from_memory(&bytes).unwrap();
        assert!(img.width() >= 400 && img.height() >= 300, "{png} size");
    }
    let claims = std::fs::read_to_string(rep.join("claims.md")).unwrap();
    let claim = "- 25% noise: f_p starts above f_c, they cross, and no null world crosses: ";
    assert!(
        claims.contains(&format!("{claim}**PASS** (one seed)"))
            || claims.contains(&format!("{claim}**FAIL**")),
        "{claims}"
    );
    assert!(claims.contains("  - seed 0: "), "{claims}");
    assert!(
        claims.contains(
            "50% noise: f_p starts above f_c, they cross, and no null world crosses: not testable"
        ),
        "{claims}"
    );
    assert!(claims.contains("corrupt = label changed"), "{claims}");
    fails_with(
        &["report", d.path().join("nothing").to_str().unwrap()],
        "nothing",
    );
    fails_with(&["train", "--train-subset", "70000"], "only 60000 examples");
    fails_with(&["train", "--null-worlds", "2"], "--coherence");
}

/// `--similarity` with `--similarity-save`: similarity.csv, the saved matrices (readable, the
/// cosine's diagonal 1, the probe's indices those of similarity_probe.csv), the size told
/// before the run, and the report's similarity.png and its claim; then the same measurement
/// as a sweep setting, where its runs train alone and say why.
#[test]
fn similarity_run_saves_matrices_and_reports() {
    let d = tempfile::tempdir().unwrap();
    small_data(d.path());
    let out = d.path().join("run");
    let r = winsor(&[
        "train",
        "--data",
        d.path().to_str().unwrap(),
        "--arch",
        "784,16,10",
        "--noise",
        "50",
        "--train-subset",
        "500",
        "--steps",
        "20",
        "--log-grid",
        "every:10",
        "--similarity",
        "60",
        "--similarity-save",
        "--similarity-null-worlds",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(
        err.contains("--similarity-save: 3 matrices of 60 x 60 (f32)"),
        "{err}"
    );
    let csv = std::fs::read_to_string(out.join("similarity.csv")).unwrap();
    let steps: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(steps, ["0", "10", "20"]);
    let probe = std::fs::read_to_string(out.join("similarity_probe.csv")).unwrap();
    let indices: Vec<i64> = probe
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    for step in [0, 10, 20] {
        let path = out.join(format!("similarity/step-{step}.safetensors"));
        let m = winsor::analysis::similarity_matrix::read(&path).unwrap();
        assert_eq!((m.step, m.n), (step, 60));
        assert_eq!(m.index, indices);
        assert!(m.corrupt.iter().any(|&c| c) && m.corrupt.iter().any(|&c| !c));
        for i in 0..60 {
            assert!((m.cosine[i * 60 + i] - 1.0).abs() < 1e-5, "C[{i}, {i}]");
        }
        assert!(m.cosine.iter().all(|c| c.abs() <= 1.0 + 1e-5));
    }

    let rep = d.path().join("report");
    let r = winsor(&[
        "report",
        out.to_str().unwrap(),
        "--out",
        rep.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let bytes = std::fs::read(rep.join("similarity.png")).unwrap();
    let img = image::load_from_memory(&bytes).unwrap();
    assert!(
        img.width() >= 1000 && img.height() >= 700,
        "similarity.png size"
    );
    let claims = std::fs::read_to_string(rep.join("claims.md")).unwrap();
    let claim = "- 50% noise: early cos_pp > cos_cc and above the null worlds' band: ";
    assert!(
        claims.contains(&format!("{claim}**PASS** (one seed)"))
            || claims.contains(&format!("{claim}**FAIL**")),
        "{claims}"
    );
    assert!(
        claims.contains("steps 0-2 (1 measured): cos_pp"),
        "{claims}"
    );
    // a damaged matrix is named, not drawn
    std::fs::write(out.join("similarity/step-20.safetensors"), b"not a matrix").unwrap();
    fails_with(
        &[
            "report",
            out.to_str().unwrap(),
            "--out",
            rep.to_str().unwrap(),
        ],
        "step-20.safetensors",
    );
    fails_with(&["train", "--similarity-save"], "--similarity");

    // a sweep setting: both runs measure, each alone, and the sweep says why
    let (tmp, plan) = sweep_plan(
        "arch = \"784,16,10\"\ntrain-subset = 500\nsteps = 4\nsimilarity = 40",
        "noise = [25, 50]",
    );
    let sw = tmp.path().join("sweep");
    let r = sweep(&plan, &sw, &[]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(
        err.contains("2 of the runs measure --coherence or --similarity, so each trains alone"),
        "{err}"
    );
    for cell in ["noise25", "noise50"] {
        let csv = std::fs::read_to_string(sw.join(cell).join("similarity.csv")).unwrap();
        assert!(csv.lines().count() >= 2, "{cell}: {csv}");
        let summary = std::fs::read_to_string(sw.join(cell).join("summary.json")).unwrap();
        assert!(summary.contains("\"concurrent\": 1"), "{cell}: {summary}");
    }
}

/// A folder with the small data set and a sweep plan over it (`train` and `grid`: the lines
/// of those sections).
fn sweep_plan(train: &str, grid: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    small_data(&data);
    let plan = tmp.path().join("plan.toml");
    std::fs::write(
        &plan,
        format!(
            "[train]\n{train}\ndata = {:?}\n[grid]\n{grid}\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    (tmp, plan)
}

/// `winsor sweep PLAN --out OUT` with the extra arguments.
fn sweep(plan: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "sweep",
        plan.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    winsor(&args)
}

/// A run that fails (here: a training subset larger than the data, found only when it runs)
/// is reported with its error, the other runs still finish, and the exit status says so.
#[test]
fn failed_run_does_not_stop_the_sweep() {
    let (tmp, plan) = sweep_plan(
        "arch = \"1x16\"\nsteps = 20\nlog-grid = \"every:10\"",
        "train-subset = [5000, 500]",
    );
    let out = tmp.path().join("sweep");
    let o = sweep(&plan, &out, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    // 1: some runs failed, the others are done (2 is for an error that stopped the sweep)
    assert_eq!(
        o.status.code(),
        Some(1),
        "a failed run must fail the sweep:\n{err}"
    );
    assert!(
        err.contains("FAILED  train_subset5000: --train-subset 5000: the training set has only 1000 examples"),
        "{err}"
    );
    assert!(err.contains("1 of the sweep's runs failed"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.join("train_subset500/summary.json").exists());
    assert!(!out.join("train_subset5000/summary.json").exists());
}

/// Runs trained together that all diverge are each reported with their own error (here
/// their own learning rate), not the first one's.
#[test]
fn concurrent_runs_that_all_fail_keep_their_own_errors() {
    let (tmp, plan) = sweep_plan(
        "arch = \"1x16\"\nsteps = 20\nlog-grid = \"every:10\"",
        "lr = [1e30, 2e30]",
    );
    let out = tmp.path().join("sweep");
    let o = sweep(&plan, &out, &["--concurrent", "2"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    for lr in ["1e30", "2e30"] {
        let line = err
            .lines()
            .find(|l| l.starts_with(&format!("FAILED  lr{lr}")))
            .unwrap_or_else(|| panic!("no FAILED line for lr {lr}:\n{err}"));
        let now = format!("(now {})", lr.parse::<f64>().unwrap());
        assert!(line.contains("diverged") && line.contains(&now), "{line}");
        assert!(out.join(format!("lr{lr}/config.toml")).exists(), "{line}");
    }
    assert!(err.contains("2 of the sweep's runs failed"), "{err}");
}

/// A sweep killed with SIGKILL in the middle and started again keeps the runs that had
/// finished (their files untouched), redoes only the others, and ends with every run.
#[test]
fn killed_sweep_resumes_without_redoing_finished_runs() {
    // six runs of a few seconds each on lavapipe
    let (tmp, plan) = sweep_plan(
        "arch = \"1x64\"\nsteps = 300\nlog-grid = \"every:100\"",
        "noise = [0, 50]\nwinsor = [0, 1, 4]",
    );
    let out = tmp.path().join("sweep");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "sweep".to_string(),
            plan.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let names = [
        "noise0-winsor0",
        "noise0-winsor1",
        "noise0-winsor4",
        "noise50-winsor0",
        "noise50-winsor1",
        "noise50-winsor4",
    ];
    let done = |n: &str| out.join(n).join("summary.json").exists();
    // two runs at a time in the same dispatches, so that some finish before the kill
    let mut child = Command::new(env!("CARGO_BIN_EXE_winsor"))
        .args(args(&["--concurrent", "2"]))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // kill it once two runs have finished (and before all six have)
    let t0 = std::time::Instant::now();
    while names.iter().filter(|n| done(n)).count() < 2 {
        assert!(
            t0.elapsed().as_secs() < 300,
            "the sweep did not finish two runs"
        );
        if let Some(s) = child.try_wait().unwrap() {
            panic!("the sweep ended early: {s}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let finished: Vec<&str> = names.iter().copied().filter(|n| done(n)).collect();
    assert!(
        finished.len() < names.len(),
        "killed too late to test resuming"
    );
    let before: Vec<(Vec<u8>, std::time::SystemTime)> = finished
        .iter()
        .map(|n| {
            let p = out.join(n).join("metrics.csv");
            (
                std::fs::read(&p).unwrap(),
                std::fs::metadata(&p).unwrap().modified().unwrap(),
            )
        })
        .collect();

    let o = sweep(&plan, &out, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "resumed sweep failed:\n{err}");
    assert!(
        err.contains(&format!(
            "{} finished already, {} to run",
            finished.len(),
            names.len() - finished.len()
        )),
        "{err}"
    );
    for n in names {
        assert!(done(n), "{n} unfinished after the resumed sweep");
        let rows = std::fs::read_to_string(out.join(n).join("metrics.csv")).unwrap();
        assert_eq!(rows.lines().count(), 1 + 4, "{n}: steps 0, 100, 200, 300");
    }
    for (n, (bytes, mtime)) in finished.iter().zip(&before) {
        let p = out.join(n).join("metrics.csv");
        assert_eq!(&std::fs::read(&p).unwrap(), bytes, "{n} was redone");
        assert_eq!(
            &std::fs::metadata(&p).unwrap().modified().unwrap(),
            mtime,
            "{n} was rewritten"
        );
    }
    // a shard runs its share only, and a different plan may not reuse the folder
    let o = sweep(&plan, &out, &["--shard", "1/2"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("shard 1/2: 3 of them; 3 finished already, 0 to run"),
        "{err}"
    );
    std::fs::write(&plan, "[train]\nsteps = 10\n[grid]\nnoise = [0]\n").unwrap();
    fails_with(
        &args(&[]).iter().map(String::as_str).collect::<Vec<_>>(),
        "holds the runs of a different plan",
    );
}

/// Runs trained together in the same dispatches write exactly the files they write when
/// each runs alone: metrics, learnt examples and weights, byte for byte.
#[test]
fn concurrent_sweep_writes_the_same_runs_as_one_at_a_time() {
    let (tmp, plan) = sweep_plan(
        "arch = \"2x24\"\nsteps = 30\nlog-grid = \"every:10\"\nbatch = 25",
        "noise = [0, 50]\nrule = [\"mean\", \"winsor:2\", \"rm3\"]\nseed = [1, 2]",
    );
    for kernels in ["cpu", "gpu"] {
        concurrent_sweep_under(&plan, &tmp.path().join(kernels), kernels);
    }
}

fn concurrent_sweep_under(plan: &Path, tmp: &Path, kernels: &str) {
    let run = |dir: &std::path::Path, r: &str| {
        let o = sweep(plan, dir, &["--concurrent", r, "--kernels", kernels]);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert!(o.status.success(), "{err}");
        err
    };
    let (alone, together) = (tmp.join("alone"), tmp.join("together"));
    run(&alone, "1");
    let err = run(&together, "12");
    assert!(err.contains("(12 together)"), "{err}");
    let mut compared = 0;
    for cell in std::fs::read_dir(&alone).unwrap() {
        let cell = cell.unwrap().path();
        if !cell.is_dir() {
            continue;
        }
        let name = cell.file_name().unwrap();
        // config.toml records the command line, which differs in --concurrent
        for f in [
            "metrics.csv",
            "examples.csv",
            "weights.safetensors",
            "config.toml",
        ] {
            let a = without_command(f, std::fs::read(cell.join(f)).unwrap());
            let b = without_command(f, std::fs::read(together.join(name).join(f)).unwrap());
            assert!(
                a == b,
                "{}/{f} differs ({kernels} plan)",
                name.to_string_lossy()
            );
            compared += 1;
        }
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(together.join(name).join("summary.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(s["concurrent"], 12);
    }
    assert_eq!(compared, 12 * 4);
}

/// A sweep split into two shards with separate folders, merged by the report: runs.csv has
/// every run and logged step, fig1.png and fig4.png decode, and claims.md checks the claims of
/// Experiments 1 and 3.
#[test]
fn sharded_sweep_report_merges_runs_and_checks_claims() {
    let (tmp, plan) = sweep_plan(
        "arch = \"1x16\"\nsteps = 40\nlog-grid = \"every:20\"",
        "noise = [0, 50]\nrule = [\"mean\", \"winsor:2\"]\nseed = [0, 1]",
    );
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for (dir, shard) in [(&a, "0/2"), (&b, "1/2")] {
        let o = sweep(&plan, dir, &["--shard", shard]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // even cells in a, odd ones in b (the seed varies fastest)
    assert!(a.join("noise0-rulemean-seed0/summary.json").exists());
    assert!(b.join("noise0-rulemean-seed1/summary.json").exists());
    assert!(!a.join("noise0-rulemean-seed1").exists());

    let rep = tmp.path().join("report");
    let o = winsor(&[
        "report",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        rep.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(rep.join("runs.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for col in [
        "run",
        "finished",
        "noise",
        "rule",
        "step",
        "train_acc",
        "overfit",
    ] {
        assert!(header.contains(&col), "runs.csv lacks {col}: {header:?}");
    }
    // 8 runs (every seed kept) x steps 0, 20, 40
    assert_eq!(lines.count(), 24, "{csv}");
    for png in ["fig1.png", "fig4.png"] {
        let bytes = std::fs::read(rep.join(png)).unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        assert!(img.width() >= 800 && img.height() >= 600, "{png} size");
    }
    // 5 rows of 10 MNIST images at 3x: earliest learnt, a gap, never learnt
    let img = image::open(rep.join("examples.png")).unwrap();
    assert_eq!((img.width(), img.height()), (10 * 84, 5 * 84));
    let claims = std::fs::read_to_string(rep.join("claims.md")).unwrap();
    for needle in [
        "corrupt = label changed",
        "## Experiment 1",
        "- 100% train accuracy for all noise levels",
        "- test accuracy falls with noise: ",
        "- pristine examples are learned much faster than corrupt ones",
        "## Experiment 2",
        "## Experiment 3",
        "- for c > 0 train accuracy stays at or below the proper accuracy",
        "- overfit grows more slowly as c grows",
        "- large c also makes fitting harder",
        "  - seed 0: ",
        "  - seed 1: ",
        " 2 seeds",
    ] {
        assert!(
            claims.contains(needle),
            "claims.md lacks {needle:?}:\n{claims}"
        );
    }
}

/// `winsor profile` prints a row per kernel with GPU times from timestamp queries (lavapipe
/// has them) and writes a Chrome trace with one event per dispatch.
#[test]
fn profile_prints_kernel_times_and_writes_a_chrome_trace() {
    for kernels in ["cpu", "gpu"] {
        profile_under(kernels);
    }
}

fn profile_under(kernels: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("trace.json");
    let o = winsor(&[
        "profile",
        "--arch",
        "1x24",
        "--rule",
        "winsor:2",
        "--steps",
        "3",
        "--warmup",
        "1",
        "--trace",
        trace.to_str().unwrap(),
        "--kernels",
        kernels,
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // the plan it ran, resolved
    assert!(
        out.contains(&format!("kernels {kernels}: matmul forward")),
        "{out}"
    );
    assert!(out.contains("| kernel | dispatches | total ms |"), "{out}");
    // the aggregation's rate is in coordinates, the products' in GFLOP/s
    assert!(out.contains("Mcoords/s"), "{out}");
    assert!(out.contains("GFLOP/s"), "{out}");
    let per_step: usize = out
        .lines()
        .find_map(|l| {
            l.split(", ")
                .nth(1)?
                .strip_suffix(" dispatches per step")?
                .parse()
                .ok()
        })
        .expect("dispatches per step");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    assert_eq!(events.len(), 3 * per_step);
    assert!(events.iter().all(|e| e["dur"].as_f64().unwrap() >= 0.0));
    assert!(events.iter().any(|e| e["name"] == "select_partial"));
}

/// A config.toml without its command line (the one line that may differ between runs of
/// the same settings); any other file as it is.
fn without_command(file: &str, bytes: Vec<u8>) -> Vec<u8> {
    if file != "config.toml" {
        return bytes;
    }
    let text = String::from_utf8(bytes).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("command = "))
        .collect();
    kept.join("\n").into_bytes()
}

/// Run folders: `--out` naming a file is refused; a summary.json cut short does not make a
/// run finished; `--force` removes every file of the previous run (here its coherence.csv).
#[test]
fn run_folders_are_never_mixed() {
    let d = tempfile::tempdir().unwrap();
    small_data(d.path());
    let out = d.path().join("run");
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--data",
            d.path().to_str().unwrap(),
            "--arch",
            "784,8,10",
            "--steps",
            "2",
            "--log-grid",
            "every:1",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        winsor(&args)
    };
    let file = d.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    fails_with(
        &["train", "--steps", "1", "--out", file.to_str().unwrap()],
        "is a file, not a folder",
    );
    let r = train(&["--coherence", "--coherence-first", "0"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(out.join("coherence.csv").exists());
    // a crash while writing summary.json: the run is not finished, so the same command
    // runs it again without --force
    let coherence: &[&str] = &["--coherence", "--coherence-first", "0"];
    let summary = std::fs::read(out.join("summary.json")).unwrap();
    std::fs::write(out.join("summary.json"), &summary[..summary.len() / 2]).unwrap();
    let r = train(coherence);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let again = std::fs::read_to_string(out.join("summary.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&again).unwrap();
    // another run's settings on an unfinished folder are refused, naming the difference
    std::fs::write(out.join("summary.json"), &summary[..summary.len() / 2]).unwrap();
    let r = train(&[]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--coherence: true there, unset now") && err.contains("pass --force"),
        "{err}"
    );
    // --force runs it, and must clear the earlier run's coherence.csv
    let r = train(&["--force"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(
        !out.join("coherence.csv").exists(),
        "--force left the previous run's coherence.csv"
    );
}

/// A network too large for the device is refused before its weights are made on the host
/// (2x60000 would be 15 GB of host memory first).
#[test]
fn oversized_networks_are_refused_before_allocation() {
    let t = std::time::Instant::now();
    fails_with(
        &["train", "--arch", "2x60000", "--steps", "1"],
        "the parameters (--arch) needs",
    );
    fails_with(
        &["train", "--arch", "1x70000", "--steps", "1"],
        "over 65535",
    );
    assert!(t.elapsed().as_secs() < 60, "took {:?}", t.elapsed());
}

/// A plan that sets nothing and `--scale` without `--preset` are errors, not silent defaults.
#[test]
fn sweep_arguments_that_would_be_ignored_are_errors() {
    let d = tempfile::tempdir().unwrap();
    let empty = d.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let out = d.path().join("out");
    fails_with(
        &[
            "sweep",
            empty.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        "the plan sets nothing",
    );
    let plan = d.path().join("p.toml");
    std::fs::write(&plan, "[train]\nsteps = 1\n").unwrap();
    fails_with(
        &["sweep", plan.to_str().unwrap(), "--scale", "quick"],
        "--preset",
    );
}

/// Mesa's "XDG_RUNTIME_DIR is invalid or not set" stays out of a normal run's output.
#[test]
fn no_stray_driver_warnings() {
    let out = Command::new(env!("CARGO_BIN_EXE_winsor"))
        .arg("adapters")
        .env_remove("XDG_RUNTIME_DIR")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("XDG_RUNTIME_DIR"), "{err}");
}

/// `--shaders-out` writes the WGSL each kernel was compiled from, complete: the run-stride
/// prelude in, every generated part filled (no marker left), valid for naga on its own, and
/// saying what runs (the cpu plan's products hold 16 rows per invocation).
#[test]
fn shaders_out_writes_the_wgsl_that_was_compiled() {
    let dir = tempfile::tempdir().unwrap();
    let shaders = dir.path().join("wgsl");
    let out = winsor(&[
        "train",
        "--arch",
        "3x256",
        "--kernels",
        "cpu",
        "--steps",
        "1",
        "--train-subset",
        "1000",
        "--test-subset",
        "200",
        "--log-grid",
        "every:1",
        "--out",
        dir.path().join("run").to_str().unwrap(),
        "--shaders-out",
        shaders.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let mut files: Vec<_> = std::fs::read_dir(&shaders)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        err.contains(&format!("wrote the WGSL of {} kernels", files.len())),
        "{err}"
    );
    for want in ["matmul_k4.wgsl", "select_partial.wgsl", "softmax_xent.wgsl"] {
        assert!(
            files.iter().any(|f| f.ends_with(want)),
            "{want} missing from {files:?}"
        );
    }
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            text.contains("fn ro(binding: u32)"),
            "{}: no prelude",
            f.display()
        );
        assert!(!text.contains("/*"), "{}: a marker was left", f.display());
        let module = naga::front::wgsl::parse_str(&text)
            .unwrap_or_else(|e| panic!("{}: {}", f.display(), e.emit_to_string(&text)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {e:?}", f.display()));
    }
    let k4 = std::fs::read_to_string(shaders.join("matmul_k4.wgsl")).unwrap();
    assert!(k4.contains("const ROWS: u32 = 16u;"), "{k4}");
    // the product's epilogues share one text and differ in the MODE the pipeline sets: one
    // file each, each naming its MODE
    let modes: Vec<String> = files
        .iter()
        .filter(|f| {
            f.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("matmul_k4")
        })
        .map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(modes.len() > 1, "{modes:?}");
    assert!(
        modes.iter().all(
            |m| m.starts_with("// pipeline-overridable constants set by the pipeline: MODE = ")
        ),
        "{modes:?}"
    );
}
