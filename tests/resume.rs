//! Nothing lost, nothing mixed: a run killed with SIGKILL, or stopped by SIGTERM or SIGINT,
//! goes on from its checkpoint to files byte-identical to an uninterrupted run's (all but
//! summary.json, whose timings differ); a folder holding another run's settings is refused;
//! `--config` re-runs a run exactly; a run's config.toml is a one-cell sweep plan.
//!
//! Each scenario runs the same command line in two folders (a run records its command line,
//! so the relative `--out` must be the same): one interrupted, one not.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A small run that still has every kind of state: the temporal rule rm3 keeps a history of
/// three gradients and step numbers, label noise draws and permutes, and the minibatch order
/// crosses epochs (1000 examples, 10 batches an epoch).
const SMALL: &[&str] = &[
    "--arch",
    "2x64",
    "--noise",
    "30",
    "--train-subset",
    "1000",
    "--test-subset",
    "200",
    "--steps",
    "160",
    "--log-grid",
    "every:20",
];

/// The files that must match byte for byte (summary.json holds timings).
const SAME: [&str; 4] = [
    "config.toml",
    "metrics.csv",
    "examples.csv",
    "weights.safetensors",
];

/// The files of a run that measures coherence or similarity, which must match too.
const OPTIONAL: [&str; 4] = [
    "coherence.csv",
    "similarity.csv",
    "similarity_classes.csv",
    "similarity_probe.csv",
];

fn args<'a>(cmd: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![cmd];
    if cmd == "train" {
        a.extend_from_slice(SMALL);
    }
    a.extend_from_slice(extra);
    a
}

/// The command line with the tests' `--validate` choice after the subcommand, so that the
/// validation layer checks every run and sweep these tests make.
fn validated<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut a = args.to_vec();
    if matches!(a.first(), Some(&"train") | Some(&"sweep")) {
        a.splice(1..1, common::validate_flag());
    }
    a
}

fn winsor_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_winsor"))
        .args(validated(args))
        .current_dir(dir)
        .output()
        .expect("run winsor")
}

fn spawn_in(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_winsor"))
        .args(validated(args))
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start winsor")
}

fn ok(out: Output, what: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{what} failed:\n{err}");
    err
}

/// Waits (at most two minutes) until `path` exists.
fn wait_for(path: &Path, child: &mut Child) {
    let t = Instant::now();
    while !path.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("winsor ended ({status}) before {} appeared", path.display());
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn same_files(a: &Path, b: &Path, names: &[&str]) {
    for f in names {
        let (x, y) = (std::fs::read(a.join(f)), std::fs::read(b.join(f)));
        let (x, y) = (
            x.unwrap_or_else(|e| panic!("{}: {e}", a.join(f).display())),
            y.unwrap_or_else(|e| panic!("{}: {e}", b.join(f).display())),
        );
        assert!(
            x == y,
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}

/// Every file of a finished run, none left over (no checkpoint, no temporary file).
fn finished(dir: &Path) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = SAME.iter().map(|s| s.to_string()).collect();
    want.push("summary.json".into());
    for optional in OPTIONAL {
        if dir.join(optional).exists() {
            want.push(optional.into());
        }
    }
    // --similarity-save's folder
    if dir.join("similarity").is_dir() {
        want.push("similarity".into());
    }
    want.sort();
    assert_eq!(names, want, "{}", dir.display());
}

fn signal(child: &Child, name: &str) {
    let st = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(st.success());
}

fn two_folders() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let (a, b) = (d.path().join("whole"), d.path().join("cut"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    (d, a, b)
}

/// SIGKILL right after a checkpoint (nothing is written on the way out), then the same
/// command: the run resumes, says so, and ends byte-identical to the uninterrupted one.
fn kill_and_resume(extra: &[&str]) {
    let (_d, whole, cut) = two_folders();
    let a = args("train", extra);
    ok(winsor_in(&whole, &a), "the uninterrupted run");
    let mut child = spawn_in(&cut, &a);
    wait_for(&cut.join("run/checkpoint.safetensors"), &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !cut.join("run/summary.json").exists(),
        "the run finished before it was killed; the test proves nothing"
    );
    let err = ok(winsor_in(&cut, &a), "the resumed run");
    assert!(
        err.contains("resuming from its checkpoint at step"),
        "{err}"
    );
    same_files(&whole.join("run"), &cut.join("run"), &SAME);
    finished(&cut.join("run"));
    for optional in OPTIONAL {
        if whole.join("run").join(optional).exists() {
            same_files(&whole.join("run"), &cut.join("run"), &[optional]);
        }
    }
    // --similarity-save's matrices: the same files, byte for byte
    let saved = whole.join("run/similarity");
    if saved.is_dir() {
        let names = |d: &Path| {
            let mut v: Vec<String> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        let want = names(&saved);
        assert!(!want.is_empty(), "--similarity-save wrote no matrix");
        assert_eq!(names(&cut.join("run/similarity")), want);
        let refs: Vec<&str> = want.iter().map(String::as_str).collect();
        same_files(&saved, &cut.join("run/similarity"), &refs);
    }
}

#[test]
fn a_killed_temporal_run_resumes_byte_identical() {
    kill_and_resume(&["--rule", "rm3", "--checkpoint-every", "30", "--out", "run"]);
}

#[test]
fn a_killed_winsor_run_with_coherence_resumes_byte_identical_under_the_gpu_plan() {
    kill_and_resume(&[
        "--winsor",
        "2",
        "--coherence",
        "--coherence-first",
        "3",
        "--kernels",
        "gpu",
        "--checkpoint-every",
        "40",
        "--out",
        "run",
    ]);
}

#[test]
fn a_killed_run_with_similarity_resumes_byte_identical() {
    kill_and_resume(&[
        "--similarity",
        "150",
        "--similarity-save",
        "--checkpoint-every",
        "40",
        "--out",
        "run",
    ]);
}

/// SIGTERM and SIGINT checkpoint, say what was saved and how to go on, and exit 143 and
/// 130; the resumed run is byte-identical to an uninterrupted one.
#[test]
fn signals_checkpoint_and_exit_with_their_codes() {
    for (sig, code) in [("TERM", 143), ("INT", 130)] {
        let (_d, whole, cut) = two_folders();
        let a = args(
            "train",
            &["--winsor", "1", "--checkpoint-every", "0", "--out", "run"],
        );
        ok(winsor_in(&whole, &a), "the uninterrupted run");
        let mut child = spawn_in(&cut, &a);
        // metrics.csv: step 0 is measured, so training has begun
        wait_for(&cut.join("run/metrics.csv"), &mut child);
        signal(&child, sig);
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "SIG{sig}:\n{err}");
        assert!(
            err.contains(&format!("stopped by SIG{sig} at step"))
                && err.contains("checkpoint.safetensors")
                && err.contains("give the same command again to resume"),
            "{err}"
        );
        assert!(cut.join("run/checkpoint.safetensors").exists());
        ok(winsor_in(&cut, &a), "the resumed run");
        same_files(&whole.join("run"), &cut.join("run"), &SAME);
        finished(&cut.join("run"));
    }
}

/// A sweep's concurrent runs all checkpoint on SIGTERM, and the sweep resumes them.
#[test]
fn a_sweep_stopped_by_sigterm_resumes_every_run() {
    let (_d, whole, cut) = two_folders();
    let plan = "[train]\narch = \"2x64\"\ntrain-subset = 1000\ntest-subset = 200\nsteps = 160\nlog-grid = \"every:20\"\n[grid]\nwinsor = [1, 2]\nseed = [0, 1]\n";
    for d in [&whole, &cut] {
        std::fs::write(d.join("p.toml"), plan).unwrap();
    }
    let a = [
        "sweep",
        "p.toml",
        "--out",
        "s",
        "--concurrent",
        "4",
        "--checkpoint-every",
        "0",
    ];
    ok(winsor_in(&whole, &a), "the uninterrupted sweep");
    let mut child = spawn_in(&cut, &a);
    wait_for(&cut.join("s/winsor2-seed1/metrics.csv"), &mut child);
    signal(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(143),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cells = [
        "winsor1-seed0",
        "winsor1-seed1",
        "winsor2-seed0",
        "winsor2-seed1",
    ];
    for c in cells {
        assert!(
            cut.join("s")
                .join(c)
                .join("checkpoint.safetensors")
                .exists(),
            "{c}"
        );
    }
    ok(winsor_in(&cut, &a), "the resumed sweep");
    for c in cells {
        same_files(&whole.join("s").join(c), &cut.join("s").join(c), &SAME[1..]);
        finished(&cut.join("s").join(c));
    }
}

/// Another run's settings in an unfinished folder are refused, naming each difference and
/// --force; --force then clears every file of the old run.
#[test]
fn other_settings_in_an_unfinished_folder_are_refused() {
    let (_d, dir, _) = two_folders();
    let a = args("train", &["--rule", "rm3", "--coherence", "--out", "run"]);
    let mut child = spawn_in(&dir, &a);
    wait_for(&dir.join("run/coherence.csv"), &mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    // SMALL's settings but --steps 20, another rule and seed, and no --coherence
    let mut b: Vec<&str> = args("train", &["--rule", "mean", "--seed", "3", "--out", "run"])
        .into_iter()
        .map(|x| if x == "160" { "20" } else { x })
        .collect();
    let out = winsor_in(&dir, &b);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for needle in [
        "holds an unfinished run with other settings",
        "--rule: \"rm3\" there, \"mean\" now",
        "--seed: 0 there, 3 now",
        "--steps: 160 there, 20 now",
        "--coherence: true there, unset now",
        "pass --force",
    ] {
        assert!(err.contains(needle), "lacks {needle:?}:\n{err}");
    }
    b.push("--force");
    ok(winsor_in(&dir, &b), "the forced run");
    finished(&dir.join("run"));
    assert!(
        !dir.join("run/coherence.csv").exists(),
        "the old run's coherence.csv survived --force"
    );
}

/// `train --config DIR/config.toml` re-runs a run exactly; other settings beside it are
/// refused; a sweep takes the same file as a one-cell plan.
#[test]
fn config_reruns_a_run_exactly_and_is_a_one_cell_plan() {
    let (_d, dir, _) = two_folders();
    let a = args(
        "train",
        &[
            "--winsor",
            "2",
            "--seed",
            "7",
            "--kernels",
            "gpu",
            "--out",
            "first",
        ],
    );
    ok(winsor_in(&dir, &a), "the first run");
    let cfg = std::fs::read_to_string(dir.join("first/config.toml")).unwrap();
    for needle in [
        "[train]",
        "rule = \"winsor:2\"",
        "log-grid = \"every:20\"",
        "train-subset = 1000",
        "[run]",
        "command = ",
        "data-sha256 = ",
        "commit = ",
        "[kernels]",
        "preset = \"gpu\"",
    ] {
        assert!(cfg.contains(needle), "config.toml lacks {needle:?}:\n{cfg}");
    }
    ok(
        winsor_in(
            &dir,
            &["train", "--config", "first/config.toml", "--out", "again"],
        ),
        "the re-run",
    );
    same_files(&dir.join("first"), &dir.join("again"), &SAME[1..]);
    let again = std::fs::read_to_string(dir.join("again/config.toml")).unwrap();
    assert!(
        again.contains("preset = \"gpu\""),
        "the recorded kernel plan was not used:\n{again}"
    );

    let out = winsor_in(
        &dir,
        &[
            "train",
            "--config",
            "first/config.toml",
            "--lr",
            "0.5",
            "--out",
            "x",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--lr: the settings come from --config"),
        "{err}"
    );

    ok(
        winsor_in(
            &dir,
            &[
                "sweep",
                "first/config.toml",
                "--out",
                "sw",
                "--kernels",
                "gpu",
            ],
        ),
        "the one-cell sweep",
    );
    same_files(&dir.join("first"), &dir.join("sw/run"), &SAME[1..]);
}
