//! `--data cifar10:DIR`: the CIFAR-10 binary version, on small generated files in its format
//! (five training batches and a test batch of 3073-byte records). The layout, the errors on
//! bad files (each naming the file), preview, and a short training run through the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use winsor::data::{self, cifar};

const TRAIN_PER_BATCH: usize = 20;
const TEST_N: usize = 10;

/// Pixel `p` (channel-major: plane, row, column) of example `i` of class `c`: class `c`
/// lights an 8-row band of one colour plane (plane `c % 3`, band `c / 3`), over a faint
/// example-dependent background, so that the classes are easy to learn and the colour
/// planes matter.
fn pixel(c: usize, i: usize, p: usize) -> u8 {
    let (plane, row) = (p / 1024, p % 1024 / 32);
    let lit = plane == c % 3 && row / 8 == c / 3;
    let noise = ((i * 7919 + p * 104729) % 31) as u8;
    if lit {
        200 + noise
    } else {
        noise
    }
}

/// Labels and channel-major pixels of `n` examples, the `k`th overall (from `first`) of
/// class `k % 10`.
fn examples(first: usize, n: usize) -> (Vec<u8>, Vec<u8>) {
    let labels: Vec<u8> = (first..first + n).map(|k| (k % 10) as u8).collect();
    let pixels = (first..first + n)
        .flat_map(|k| (0..cifar::PIXELS).map(move |p| pixel(k % 10, k, p)))
        .collect();
    (labels, pixels)
}

fn write_set(dir: &Path) {
    for (b, name) in cifar::TRAIN_FILES.iter().enumerate() {
        let (l, p) = examples(b * TRAIN_PER_BATCH, TRAIN_PER_BATCH);
        cifar::write_batch(&dir.join(name), &l, &p).unwrap();
    }
    let (l, p) = examples(1000, TEST_N);
    cifar::write_batch(&dir.join(cifar::TEST_FILE), &l, &p).unwrap();
}

fn arg(dir: &Path) -> PathBuf {
    PathBuf::from(format!("{}{}", cifar::PREFIX, dir.display()))
}

fn load_err(dir: &Path) -> String {
    format!("{:#}", data::load(Some(&arg(dir))).expect_err("must fail"))
}

#[test]
fn reads_the_binary_version_channel_major() {
    let d = tempfile::tempdir().unwrap();
    write_set(d.path());
    let s = data::load(Some(&arg(d.path()))).unwrap();
    assert_eq!(s.source, format!("cifar10 ({})", d.path().display()));
    assert_eq!((s.train.n, s.test.n, s.input_dim()), (100, 10, 3072));
    // the three 32x32 planes stacked: 96 rows of 32
    assert_eq!((s.train.height, s.train.width), (96, 32));
    assert_eq!((s.test.height, s.test.width), (96, 32));
    // the batches in order 1..5, each record's pixels exactly as stored
    let (labels, pixels) = examples(0, 100);
    assert_eq!(s.train.labels, labels);
    assert_eq!(s.train.pixels, pixels);
    let (labels, pixels) = examples(1000, TEST_N);
    assert_eq!(s.test.labels, labels);
    assert_eq!(s.test.pixels, pixels);
    // example 24 (batch 2, record 4, class 4): green plane (1), rows 8..16 lit
    let img = s.train.image(24);
    assert_eq!(s.train.labels[24], 4);
    assert!(img[1024 + 8 * 32] >= 200 && img[1024 + 15 * 32 + 31] >= 200);
    assert!(img[8 * 32] < 200 && img[2048 + 8 * 32] < 200 && img[1024 + 16 * 32] < 200);
    // the subset and head machinery works unchanged
    let sub = s.subsets(Some(30), Some(4)).unwrap();
    assert_eq!((sub.train.n, sub.test.n, sub.input_dim()), (30, 4, 3072));
    assert_eq!(sub.train.image(29), s.train.image(29));
}

#[test]
fn bad_files_name_the_file_and_the_fix() {
    // a missing batch
    let d = tempfile::tempdir().unwrap();
    write_set(d.path());
    let gone = d.path().join("data_batch_3.bin");
    std::fs::remove_file(&gone).unwrap();
    let e = load_err(d.path());
    assert!(
        e.contains(&gone.display().to_string()) && e.contains("missing"),
        "{e}"
    );
    assert!(
        e.contains("cifar-10-binary.tar.gz") && e.contains("kriz/cifar.html"),
        "{e}"
    );

    // the Python version's folder gets told so
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("data_batch_1"), b"pickle").unwrap();
    let e = load_err(d.path());
    assert!(e.contains("Python version"), "{e}");

    // a size that is not a multiple of 3073 (a truncated test batch)
    let d = tempfile::tempdir().unwrap();
    write_set(d.path());
    let test = d.path().join(cifar::TEST_FILE);
    let mut bytes = std::fs::read(&test).unwrap();
    bytes.truncate(bytes.len() - 100);
    std::fs::write(&test, &bytes).unwrap();
    let e = load_err(d.path());
    assert!(
        e.contains(&test.display().to_string()) && e.contains("3073") && e.contains("truncated"),
        "{e}"
    );

    // a label of 10
    let d = tempfile::tempdir().unwrap();
    write_set(d.path());
    let b4 = d.path().join("data_batch_4.bin");
    let mut bytes = std::fs::read(&b4).unwrap();
    bytes[3 * cifar::RECORD] = 10;
    std::fs::write(&b4, &bytes).unwrap();
    let e = load_err(d.path());
    assert!(
        e.contains(&b4.display().to_string())
            && e.contains("label 10 of record 3")
            && e.contains("0..=9"),
        "{e}"
    );

    // an empty batch
    let d = tempfile::tempdir().unwrap();
    write_set(d.path());
    let b1 = d.path().join("data_batch_1.bin");
    std::fs::write(&b1, b"").unwrap();
    let e = load_err(d.path());
    assert!(
        e.contains(&b1.display().to_string()) && e.contains("empty"),
        "{e}"
    );

    // not a directory, and no folder at all
    let e = load_err(&d.path().join("nope"));
    assert!(
        e.contains("not a directory") && e.contains("cifar-10-batches-bin"),
        "{e}"
    );
    let e = format!(
        "{:#}",
        data::load(Some(Path::new("cifar10:"))).expect_err("must fail")
    );
    assert!(e.contains("no folder"), "{e}");

    // a CIFAR folder passed without the prefix is read as IDX, with a hint
    let d = tempfile::tempdir().unwrap();
    write_set(d.path());
    let e = format!("{:#}", data::load(Some(d.path())).expect_err("must fail"));
    assert!(
        e.contains(&format!("--data cifar10:{}", d.path().display())),
        "{e}"
    );
}

#[test]
fn preview_shows_the_planes_stacked() {
    let d = tempfile::tempdir().unwrap();
    write_set(d.path());
    let png = d.path().join("p.png");
    let out = Command::new(env!("CARGO_BIN_EXE_winsor"))
        .args(["preview", "--data"])
        .arg(arg(d.path()))
        .args(["--count", "3", "--cols", "3", "--out"])
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("labels 0 1 2"));
    let g = image::open(&png).unwrap().to_luma8();
    assert_eq!(g.dimensions(), (3 * 32, 96));
    let s = data::load(Some(&arg(d.path()))).unwrap();
    for (i, x0) in [(0usize, 0u32), (1, 32), (2, 64)] {
        for p in [0, 1023, 1024, 2047, 2048, 3071] {
            let (y, x) = ((p / 32) as u32, (p % 32) as u32);
            assert_eq!(
                g.get_pixel(x0 + x, y).0[0],
                s.train.image(i)[p],
                "image {i} byte {p}"
            );
        }
    }
}

#[test]
fn trains_from_cifar10_dir() {
    let d = tempfile::tempdir().unwrap();
    let data_dir = d.path().join("cifar-10-batches-bin");
    std::fs::create_dir(&data_dir).unwrap();
    write_set(&data_dir);
    let out = d.path().join("run");
    let r = Command::new(env!("CARGO_BIN_EXE_winsor"))
        .args(["train", "--data"])
        .arg(arg(&data_dir))
        .args([
            "--arch",
            "1x16",
            "--batch",
            "10",
            "--steps",
            "20",
            "--log-grid",
            "every:10",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
    let source = format!("cifar10 ({})", data_dir.display());
    assert!(
        config.contains(&source),
        "config.toml lacks {source}:\n{config}"
    );
    assert!(config.contains("n-train = 100"), "{config}");
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let mut lines = metrics.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|&h| h == "train_loss").unwrap();
    let loss: Vec<f64> = lines
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect();
    assert_eq!(loss.len(), 3, "steps 0, 10, 20: {metrics}");
    assert!(
        loss[2] < loss[0] && loss.iter().all(|l| l.is_finite()),
        "train loss must fall: {loss:?}"
    );
}

#[test]
fn parse_batch_hints_and_prefix() {
    let record = |label: u8| {
        let mut r = vec![label];
        r.extend((0..cifar::PIXELS).map(|p| (p / 1024) as u8 * 10));
        r
    };
    let mut bytes = record(3);
    bytes.extend(record(9));
    let t = cifar::parse_batch(Path::new("b"), bytes).unwrap();
    assert_eq!((t.n, t.height, t.width, t.dim()), (2, 96, 32, 3072));
    assert_eq!(t.labels, vec![3, 9]);
    let i = t.image(1);
    assert_eq!((i[1023], i[1024], i[2048], i[3071]), (0, 10, 20, 20));
    let e = cifar::parse_batch(Path::new("b"), vec![0; 2 * (cifar::RECORD + 1)]).unwrap_err();
    assert!(e.to_string().contains("CIFAR-100"), "{e}");
    let e = cifar::parse_batch(Path::new("b"), vec![0x1f, 0x8b, 8, 0]).unwrap_err();
    assert!(e.to_string().contains("gzip"), "{e}");
    assert_eq!(
        cifar::strip_prefix(Path::new("cifar10:/x/y")),
        Some(Path::new("/x/y"))
    );
    assert_eq!(cifar::strip_prefix(Path::new("/x/cifar10:y")), None);
    assert_eq!(cifar::strip_prefix(Path::new("/x/y")), None);
}
