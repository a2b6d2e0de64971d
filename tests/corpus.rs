//! The bad-input corpus: one row per case, each with the exit code and a piece of the
//! message it must give. Every case must end with that code, never a panic, an abort or a
//! signal, and its message must name the flag, file or field and what to do. Cases run the
//! binary, in a temporary folder that holds whatever files the case needs ({d} in an
//! argument is that folder).
//!
//! Exit codes: 2 for bad input (clap's usage errors are 2 as well), 1 for a sweep some of
//! whose runs failed.

use std::path::Path;
use std::process::Command;

use winsor::data::write_idx_pair;

/// What a case's folder holds before it runs.
#[derive(Clone, Copy)]
enum Files {
    None,
    /// A small valid MNIST-format set (1000 train, 200 test images).
    Data,
    /// The small set with one file replaced by these bytes.
    DataWith(&'static str, &'static [u8]),
    /// A file at this name with these bytes.
    File(&'static str, &'static [u8]),
}

struct Case {
    args: &'static [&'static str],
    files: Files,
    code: i32,
    needle: &'static str,
}

const fn case(args: &'static [&'static str], code: i32, needle: &'static str) -> Case {
    Case {
        args,
        files: Files::None,
        code,
        needle,
    }
}

const fn with(
    files: Files,
    args: &'static [&'static str],
    code: i32,
    needle: &'static str,
) -> Case {
    Case {
        args,
        files,
        code,
        needle,
    }
}

const IDX_BAD_MAGIC: &[u8] = &[1, 2, 3, 4, 0, 0, 0, 1];
const IDX_SHORT: &[u8] = &[0, 0];
const IDX_DTYPE: &[u8] = &[0, 0, 0x0d, 1, 0, 0, 0, 0];
const IDX_RANK: &[u8] = &[0, 0, 8, 2, 0, 0, 0, 1, 0, 0, 0, 1, 7];
const IDX_OVERFLOW: &[u8] = &[
    0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
];
const IDX_TRUNC_LABELS: &[u8] = &[0, 0, 8, 1, 0, 0, 3, 232, 1, 2];
const GZIP_BROKEN: &[u8] = &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3];

#[rustfmt::skip]
const CASES: &[Case] = &[
    // ---- winsor train: values ----
    case(&["train", "--noise", "101"], 2, "outside 0..=100"),
    case(&["train", "--noise", "-5"], 2, "outside 0..=100"),
    case(&["train", "--noise", "abc"], 2, "is not a number"),
    case(&["train", "--noise", "nan"], 2, "--noise"),
    case(&["train", "--lr", "0"], 2, "--lr 0: the learning rate must be a positive number"),
    case(&["train", "--lr", "-1"], 2, "--lr -1: the learning rate must be a positive number"),
    case(&["train", "--lr", "nan"], 2, "the learning rate must be a positive number"),
    case(&["train", "--lr", "inf"], 2, "the learning rate must be a positive number"),
    case(&["train", "--lr", "fast"], 2, "--lr"),
    case(&["train", "--batch", "0"], 2, "--batch 0: a minibatch needs at least one example"),
    case(&["train", "--batch", "7"], 2, "--batch 7: must divide the 60000 training examples"),
    case(&["train", "--batch", "70000"], 2, "--batch 70000: must divide"),
    case(&["train", "--order", "blocks:3"], 2, "the orders are shuffle (epochs) and window:W"),
    case(&["train", "--order", "window:0"], 2, "the orders are shuffle (epochs) and window:W"),
    case(&["train", "--order", "window:6050"], 2, "--order window:6050: the window must be a multiple of --batch 100"),
    case(&["train", "--order", "window:6000", "--steps", "10"], 2, "do not fill one window epoch"),
    case(&["train", "--order", "window:6000", "--train-subset", "3000"], 2, "at most the 3000 training examples"),
    case(&["train", "--batch", "-3"], 2, "not a whole number of 0 or more"),
    case(&["train", "--steps", "-1"], 2, "not a whole number of 0 or more"),
    case(&["train", "--steps", "x"], 2, "not a whole number of 0 or more"),
    case(&["train", "--steps", "99999999999999999999999"], 2, "or is too large"),
    case(&["train", "--seed", "-1"], 2, "not a whole number of 0 or more"),
    case(&["train", "--eval-chunk", "0"], 2, "eval chunk 0: must be at least 1"),
    // ---- rules ----
    case(&["train", "--rule", "winsor:50"], 2, "must be in [0, 50)"),
    case(&["train", "--rule", "winsor:-1"], 2, "must be in [0, 50)"),
    case(&["train", "--rule", "winsor:x"], 2, "--rule"),
    case(&["train", "--rule", "trim:50"], 2, "must be in [0, 50)"),
    case(&["train", "--rule", "sign-sum:-1"], 2, "must be a positive number"),
    case(&["train", "--rule", "sign-sum:0"], 2, "must be a positive number"),
    case(&["train", "--rule", "sum-sign:x"], 2, "--rule"),
    case(&["train", "--rule", "foo"], 2, "unknown rule; expected mean, winsor:C"),
    case(&["train", "--rule", "winsor"], 2, "unknown rule"),
    case(&["train", "--rule", ""], 2, "--rule"),
    case(&["train", "--winsor", "60"], 2, "must be in [0, 50)"),
    case(&["train", "--winsor", "-2"], 2, "must be in [0, 50)"),
    case(&["train", "--winsor", "4", "--rule", "mean"], 2, "cannot be used with"),
    case(&["train", "--select", "fast"], 2, "expected sort, partial or auto"),
    // ---- architecture, initialisation, grid ----
    case(&["train", "--arch", "0x256"], 2, "expected DEPTHxWIDTH"),
    case(&["train", "--arch", "3x0"], 2, "expected DEPTHxWIDTH"),
    case(&["train", "--arch", "x"], 2, "expected DEPTHxWIDTH"),
    case(&["train", "--arch", ""], 2, "--arch"),
    case(&["train", "--arch", "700,100,10", "--steps", "1"], 2, "--arch 700,100,10"),
    case(&["train", "--arch", "784,100,9", "--steps", "1"], 2, "--arch"),
    case(&["train", "--arch", "1x70000", "--steps", "1"], 2, "over 65535"),
    case(&["train", "--arch", "2x60000", "--steps", "1"], 2, "the parameters (--arch) needs"),
    case(&["train", "--init", "foo"], 2, "possible values: code, glorot-uniform, glorot-normal"),
    case(&["train", "--log-grid", "every:0"], 2, "expected paper or every:N with N >= 1"),
    case(&["train", "--log-grid", "sometimes"], 2, "expected paper or every:N"),
    case(&["train", "--log-grid", "every:x"], 2, "expected paper or every:N"),
    // ---- subsets, corruption, coherence ----
    case(&["train", "--train-subset", "0"], 2, "--train-subset 0: train on at least one example"),
    case(&["train", "--test-subset", "0"], 2, "--test-subset 0: evaluate on at least one"),
    case(&["train", "--train-subset", "70000"], 2, "the training set has only 60000 examples"),
    case(&["train", "--test-subset", "20000"], 2, "the test set has only 10000 examples"),
    case(&["train", "--train-subset", "1000", "--batch", "300"], 2, "--batch 300: must divide the 1000"),
    case(&["train", "--corrupt", "maybe"], 2, "possible values: changed, selected"),
    case(&["train", "--coherence-first", "3"], 2, "--coherence"),
    case(&["train", "--null-worlds", "2"], 2, "--coherence"),
    case(
        &["train", "--coherence", "--null-worlds", "5000"],
        2,
        "5000 is not in 0..=999",
    ),
    case(&["train", "--coherence-minibatches", "2"], 2, "--coherence"),
    case(&["train", "--similarity", "0"], 2, "0 is not in 1.."),
    case(&["train", "--similarity", "-5"], 2, "--similarity"),
    case(&["train", "--similarity-null-worlds", "2"], 2, "--similarity"),
    case(&["train", "--similarity-save"], 2, "--similarity"),
    case(
        &["train", "--similarity", "10", "--similarity-null-worlds", "500"],
        2,
        "500 is not in 0..=99",
    ),
    case(
        &["train", "--train-subset", "100", "--similarity", "101"],
        2,
        "--similarity 101: the training set has only 100 examples",
    ),
    case(
        &["train", "--train-subset", "3000", "--eval-chunk", "500", "--similarity", "600"],
        2,
        "--similarity 600: the trainer's row buffers hold 500 examples",
    ),
    // ---- the kernel plan ----
    case(&["train", "--kernels", "fast"], 2, "possible values: auto, cpu, gpu"),
    case(&["train", "--matmul", "fast"], 2, "possible values: tiled, cpu"),
    case(&["train", "--sparse-inputs", "yes"], 2, "possible values: on, off"),
    case(&["train", "--fused-sgd", "maybe"], 2, "possible values: on, off"),
    case(&["train", "--mean-through-select", "2"], 2, "possible values: on, off"),
    case(&["train", "--partial-units", "0"], 2, "0 is not in 1..=16"),
    case(&["train", "--partial-units", "17"], 2, "17 is not in 1..=16"),
    case(&["train", "--cols-units", "0"], 2, "0 is not in 1..=16"),
    // ---- selection limits and device ----
    case(&["train", "--steps", "1", "--batch", "60000", "--rule", "winsor:4"], 2, "too large for --rule winsor:4"),
    case(&["train", "--steps", "1", "--rule", "median", "--select", "partial", "--batch", "300"], 2, "--select sort"),
    case(&["train", "--adapter", "99"], 2, "`winsor adapters` lists them"),
    case(&["train", "--adapter", "nosuchgpu"], 2, "no adapter name contains it"),
    case(&["train", "--unknown-flag"], 2, "unexpected argument '--unknown-flag'"),
    // ---- output folders ----
    with(Files::File("a-file", b"x"), &["train", "--steps", "1", "--out", "{d}/a-file"], 2, "is a file, not a folder"),
    // ---- data folders and files ----
    case(&["train", "--data", "/nonexistent"], 2, "--data /nonexistent: not a directory"),
    case(&["train", "--data", "/etc/passwd"], 2, "not a directory"),
    with(Files::None, &["train", "--data", "{d}"], 2, "missing: the data folder needs train-images-idx3-ubyte"),
    with(Files::DataWith("train-images-idx3-ubyte", IDX_BAD_MAGIC), &["train", "--data", "{d}"], 2, "bad magic number"),
    with(Files::DataWith("train-images-idx3-ubyte", IDX_SHORT), &["train", "--data", "{d}"], 2, "too short for an IDX header"),
    with(Files::DataWith("train-images-idx3-ubyte", IDX_DTYPE), &["train", "--data", "{d}"], 2, "dtype 0x0d is not supported"),
    with(Files::DataWith("train-labels-idx1-ubyte", IDX_RANK), &["train", "--data", "{d}"], 2, "expected a rank-1 tensor"),
    with(Files::DataWith("train-images-idx3-ubyte", IDX_OVERFLOW), &["train", "--data", "{d}"], 2, "the header is corrupt"),
    with(Files::DataWith("train-labels-idx1-ubyte", IDX_TRUNC_LABELS), &["train", "--data", "{d}"], 2, "the file is truncated"),
    with(Files::DataWith("t10k-images-idx3-ubyte", GZIP_BROKEN), &["train", "--data", "{d}"], 2, "gzip stream is corrupt or truncated"),
    with(Files::Data, &["train", "--data", "{d}", "--batch", "300"], 2, "--batch 300: must divide the 1000"),
    with(Files::File("train-images-idx3-ubyte/x", b""), &["train", "--data", "{d}"], 2, "is a folder, not a file"),
    case(&["train", "--data", "cifar10:"], 2, "cifar10"),
    case(&["train", "--data", "cifar10:/nonexistent"], 2, "/nonexistent"),
    with(Files::Data, &["train", "--data", "{d}", "--train-subset", "5000"], 2, "the training set has only 1000 examples"),
    // ---- re-runs and checkpoints ----
    case(&["train", "--config", "{d}/none.toml"], 2, "none.toml"),
    with(Files::File("c.toml", b"rule = \"mean\"\n"), &["train", "--config", "{d}/c.toml"], 2, "an older winsor wrote it (no [train] table)"),
    with(Files::File("c.toml", b"[train]\nsteps = 1\n"), &["train", "--config", "{d}/c.toml"], 2, "not a winsor run's config.toml"),
    with(Files::File("c.toml", b"[train\n"), &["train", "--config", "{d}/c.toml"], 2, "parsing"),
    case(&["train", "--config", "{d}/c.toml", "--steps", "5"], 2, "--steps: the settings come from --config"),
    case(&["train", "--config", "{d}/c.toml", "--kernels", "gpu"], 2, "--kernels: the settings come from --config"),
    case(&["train", "--checkpoint-every", "-1"], 2, "--checkpoint-every"),
    case(&["train", "--checkpoint-every", "often"], 2, "--checkpoint-every"),
    case(&["sweep", "--checkpoint-every", "x"], 2, "--checkpoint-every"),
    with(Files::File("p.toml", b"[train]\ncheckpoint-every = 5\n"), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "pass --adapter, --validate and --checkpoint-every to `winsor sweep`"),
    with(Files::File("p.toml", b"[train]\nconfig = \"x.toml\"\n"), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "cannot be set in a plan"),
    with(Files::File("run/config.toml", b"noise_percent = 0.0\n"), &["train", "--arch", "1x8", "--steps", "1", "--out", "{d}/run"], 2, "an unfinished run of an older winsor"),
    with(Files::File("run/config.toml", b"[train\n"), &["train", "--arch", "1x8", "--steps", "1", "--out", "{d}/run"], 2, "holds an unfinished run whose settings cannot be read; pass --force"),
    // ---- bench and profile ----
    case(&["bench", "--concurrent", "0"], 2, "--concurrent 0: at least one run"),
    case(&["bench", "--rule", "foo"], 2, "unknown rule"),
    case(&["bench", "--arch", "x"], 2, "expected DEPTHxWIDTH"),
    case(&["bench", "--json", "x.json"], 2, "--suite"),
    case(&["bench", "--kernels", "fast"], 2, "possible values: auto, cpu, gpu"),
    case(&["bench", "--windows", "x"], 2, "--windows"),
    case(&["profile", "--rule", "foo"], 2, "unknown rule"),
    case(&["profile", "--warmup", "x"], 2, "--warmup"),
    case(&["profile", "--arch", "1x8", "--steps", "1", "--warmup", "0", "--trace", "/nonexistent/dir/t.json"], 2, "writing the trace /nonexistent/dir/t.json"),
    // ---- sweeps ----
    case(&["sweep"], 2, "<PLAN>"),
    case(&["sweep", "/nonexistent.toml"], 2, "reading /nonexistent.toml"),
    case(&["sweep", "--preset", "fig9"], 2, "the presets are fig1, fig2, fig4 and similarity"),
    case(&["sweep", "--preset", "fig4", "--scale", "huge"], 2, "the scales are quick, medium and full"),
    case(&["sweep", "--preset", "fig4", "--seeds", "0"], 2, "--seeds 0: give at least one seed"),
    case(&["sweep", "--shard", "3/2"], 2, "give the shard as i/n with 0 <= i < n"),
    case(&["sweep", "--shard", "x"], 2, "give the shard as i/n"),
    case(&["sweep", "--shard", "0/0"], 2, "give the shard as i/n"),
    case(&["sweep", "--concurrent", "0"], 2, "--concurrent"),
    with(Files::File("p.toml", b""), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "the plan sets nothing"),
    with(Files::File("p.toml", b"[train]\nsteps = 1\n"), &["sweep", "{d}/p.toml", "--scale", "quick"], 2, "--scale and --seeds go with --preset"),
    with(Files::File("p.toml", b"[train]\nsteps = 1\n"), &["sweep", "{d}/p.toml", "--seeds", "2"], 2, "--scale and --seeds go with --preset"),
    with(Files::File("p.toml", b"[train\n"), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "parsing"),
    with(Files::File("p.toml", b"[runs]\nx = 1\n"), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "unknown section [runs]"),
    with(Files::File("p.toml", b"train = 3\n"), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "must be a [train] section"),
    with(Files::File("p.toml", b"[grid]\nnoise = 5\n"), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "must be a list of values"),
    with(Files::File("p.toml", b"[grid]\nnoise = []\n"), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "the list is empty"),
    with(Files::File("p.toml", b"[train]\nnoise = 5\n[grid]\nnoise = [1, 2]\n"), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "also set in [train]"),
    with(Files::File("p.toml", b"[train]\nout = \"x\"\n"), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "cannot be set in a plan"),
    with(Files::File("p.toml", b"[train]\nforce = true\n"), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "cannot be set in a plan"),
    with(Files::File("p.toml", b"[train]\nadapter = \"0\"\n"), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "pass --adapter, --validate and --checkpoint-every to `winsor sweep`"),
    with(Files::File("p.toml", b"[train]\nvalidate = \"on\"\n"), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "pass --adapter, --validate and --checkpoint-every to `winsor sweep`"),
    with(Files::File("p.toml", b"[train]\nshaders-out = \"s\"\n"), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "--shaders-out is for `winsor train`"),
    with(Files::File("f", b"a file, not a folder"), &["train", "--steps", "1", "--train-subset", "100", "--test-subset", "100", "--out", "{d}/r", "--shaders-out", "{d}/f/wgsl"], 2, "/f/wgsl: creating the folder"),
    with(Files::File("p.toml", b"[grid]\nkernels = [\"cpu\", \"gpu\"]\n"), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "pass --kernels to `winsor sweep`"),
    with(Files::File("p.toml", b"[train]\nnoise = 500\n"), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "outside 0..=100"),
    with(Files::File("p.toml", b"[train]\nwarp = 9\n"), &["sweep", "{d}/p.toml", "--out", "{d}/o"], 2, "--warp"),
    // ---- reports ----
    case(&["report"], 2, "<DIRS>"),
    case(&["report", "/nonexistent"], 2, "reading /nonexistent: not a run directory or a folder of runs"),
    with(Files::File("notes.txt", b"x"), &["report", "{d}"], 2, "no run directory (with config.toml) in it"),
    with(Files::File("config.toml", b"rule = ["), &["report", "{d}"], 2, "no run could be read"),
    with(Files::File("config.toml", b"rule = \"mean\"\n"), &["report", "{d}"], 2, "field noise is missing"),
    // ---- preview ----
    case(&["preview"], 2, "--out"),
    case(&["preview", "--out", "p.png", "--split", "dev"], 2, "possible values: train, test"),
    case(&["preview", "--out", "p.png", "--count", "0"], 2, "--count and --cols must be at least 1"),
    case(&["preview", "--out", "p.png", "--cols", "0"], 2, "--count and --cols must be at least 1"),
    case(&["preview", "--out", "/nonexistent/dir/p.png"], 2, "writing /nonexistent/dir/p.png"),
    // ---- commands ----
    case(&["adapters", "--foo"], 2, "unexpected argument '--foo'"),
    case(&["nosuchcommand"], 2, "unrecognized subcommand 'nosuchcommand'"),
    case(&[], 2, "Usage: winsor <COMMAND>"),
];

fn small_data(dir: &Path) {
    let full = winsor::data::builtin_mnist().unwrap();
    write_idx_pair(dir, "train", &full.train.head(1000)).unwrap();
    write_idx_pair(dir, "t10k", &full.test.head(200)).unwrap();
}

#[test]
fn every_bad_input_gets_its_error_and_code() {
    assert!(CASES.len() >= 100, "the corpus holds {} cases", CASES.len());
    let mut failures = Vec::new();
    for (i, c) in CASES.iter().enumerate() {
        let d = tempfile::tempdir().unwrap();
        match c.files {
            Files::None => {}
            Files::Data => small_data(d.path()),
            Files::DataWith(name, bytes) => {
                small_data(d.path());
                std::fs::write(d.path().join(name), bytes).unwrap();
            }
            Files::File(name, bytes) => {
                let p = d.path().join(name);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(p, bytes).unwrap();
            }
        }
        let dir = d.path().to_str().unwrap();
        let args: Vec<String> = c.args.iter().map(|a| a.replace("{d}", dir)).collect();
        // in the case's folder, so that nothing a case might write lands elsewhere
        let out = Command::new(env!("CARGO_BIN_EXE_winsor"))
            .args(&args)
            .current_dir(d.path())
            .output()
            .expect("run winsor");
        let err = String::from_utf8_lossy(&out.stderr);
        let problem = if err.contains("panicked") {
            Some("panicked".to_string())
        } else if out.status.code().is_none() {
            Some(format!("killed by a signal ({:?})", out.status))
        } else if out.status.code() != Some(c.code) {
            Some(format!(
                "exit code {:?}, expected {}",
                out.status.code(),
                c.code
            ))
        } else if !err.contains(c.needle) {
            Some(format!("stderr lacks {:?}", c.needle))
        } else {
            None
        };
        if let Some(p) = problem {
            failures.push(format!("case {i} {args:?}: {p}\n{err}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}
