//! The data reader on a corpus of bad files: each gets an error that names the file and the
//! problem, never a panic.

use std::io::Write;
use std::path::Path;

use winsor::data::{self, write_idx_pair, Images};

fn small_set(n: usize) -> Images {
    Images {
        n,
        height: 3,
        width: 2,
        pixels: (0..n * 6).map(|i| (i * 37 % 256) as u8).collect(),
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
    }
}

fn write_good(dir: &Path) {
    write_idx_pair(dir, "train", &small_set(20)).unwrap();
    write_idx_pair(dir, "t10k", &small_set(7)).unwrap();
}

fn load_err(dir: &Path) -> String {
    format!("{:#}", data::load_dir(dir).expect_err("must fail"))
}

#[test]
fn reads_a_good_set_raw_and_gzipped() {
    let d = tempfile::tempdir().unwrap();
    write_good(d.path());
    let s = data::load_dir(d.path()).unwrap();
    assert_eq!((s.train.n, s.test.n, s.input_dim()), (20, 7, 6));
    assert_eq!(s.train.pixels, small_set(20).pixels);
    // gzip one file, remove the raw one: still the same contents
    let p = d.path().join("train-images-idx3-ubyte");
    let raw = std::fs::read(&p).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    std::fs::write(
        d.path().join("train-images-idx3-ubyte.gz"),
        gz.finish().unwrap(),
    )
    .unwrap();
    std::fs::remove_file(&p).unwrap();
    let s2 = data::load_dir(d.path()).unwrap();
    assert_eq!(s2.train.pixels, s.train.pixels);
}

#[test]
fn builtin_mnist_is_intact() {
    let s = data::builtin_mnist().unwrap();
    assert_eq!((s.train.n, s.test.n, s.input_dim()), (60000, 10000, 784));
    assert_eq!(&s.train.labels[..5], &[5, 0, 4, 1, 9]);
}

#[test]
fn truncated_file() {
    let d = tempfile::tempdir().unwrap();
    write_good(d.path());
    let p = d.path().join("train-images-idx3-ubyte");
    let b = std::fs::read(&p).unwrap();
    std::fs::write(&p, &b[..b.len() - 5]).unwrap();
    let e = load_err(d.path());
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("truncated"),
        "{e}"
    );
}

#[test]
fn wrong_magic() {
    let d = tempfile::tempdir().unwrap();
    write_good(d.path());
    let p = d.path().join("t10k-labels-idx1-ubyte");
    let mut b = std::fs::read(&p).unwrap();
    b[0] = 0x42;
    std::fs::write(&p, b).unwrap();
    let e = load_err(d.path());
    assert!(
        e.contains("t10k-labels-idx1-ubyte") && e.contains("magic"),
        "{e}"
    );
}

#[test]
fn wrong_dtype_and_rank() {
    let d = tempfile::tempdir().unwrap();
    write_good(d.path());
    let p = d.path().join("train-labels-idx1-ubyte");
    let mut b = std::fs::read(&p).unwrap();
    b[2] = 0x0d; // float
    std::fs::write(&p, &b).unwrap();
    let e = load_err(d.path());
    assert!(e.contains("dtype 0x0d"), "{e}");
    // labels stored as a rank-3 tensor
    write_good(d.path());
    std::fs::copy(
        d.path().join("train-images-idx3-ubyte"),
        d.path().join("train-labels-idx1-ubyte"),
    )
    .unwrap();
    let e = load_err(d.path());
    assert!(
        e.contains("train-labels-idx1-ubyte") && e.contains("rank-1"),
        "{e}"
    );
}

#[test]
fn count_mismatch() {
    let d = tempfile::tempdir().unwrap();
    write_good(d.path());
    let mut fewer = small_set(20);
    fewer.n = 19;
    fewer.labels.pop();
    // write 19 labels next to 20 images
    let tmp = tempfile::tempdir().unwrap();
    write_idx_pair(tmp.path(), "train", &fewer).unwrap();
    std::fs::copy(
        tmp.path().join("train-labels-idx1-ubyte"),
        d.path().join("train-labels-idx1-ubyte"),
    )
    .unwrap();
    let e = load_err(d.path());
    assert!(e.contains("20 images") && e.contains("19 labels"), "{e}");
}

#[test]
fn bad_gzip() {
    let d = tempfile::tempdir().unwrap();
    write_good(d.path());
    std::fs::remove_file(d.path().join("t10k-images-idx3-ubyte")).unwrap();
    std::fs::write(
        d.path().join("t10k-images-idx3-ubyte.gz"),
        [0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    )
    .unwrap();
    let e = load_err(d.path());
    assert!(
        e.contains("t10k-images-idx3-ubyte.gz") && e.contains("gzip"),
        "{e}"
    );
}

#[test]
fn label_out_of_range() {
    let d = tempfile::tempdir().unwrap();
    let mut s = small_set(20);
    s.labels[13] = 12;
    write_idx_pair(d.path(), "train", &s).unwrap();
    write_idx_pair(d.path(), "t10k", &small_set(7)).unwrap();
    let e = load_err(d.path());
    assert!(e.contains("label 12 at index 13"), "{e}");
}

#[test]
fn missing_file_and_missing_dir() {
    let d = tempfile::tempdir().unwrap();
    write_good(d.path());
    std::fs::remove_file(d.path().join("t10k-labels-idx1-ubyte")).unwrap();
    let e = load_err(d.path());
    assert!(
        e.contains("t10k-labels-idx1-ubyte") && e.contains("missing"),
        "{e}"
    );
    let e = load_err(&d.path().join("nope"));
    assert!(e.contains("not a directory"), "{e}");
}

#[test]
fn image_sizes_must_agree() {
    let d = tempfile::tempdir().unwrap();
    write_idx_pair(d.path(), "train", &small_set(20)).unwrap();
    let mut t = small_set(7);
    t.height = 2;
    t.width = 3;
    write_idx_pair(d.path(), "t10k", &t).unwrap();
    // same byte count per image is fine only if the shapes agree
    let e = load_err(d.path());
    assert!(e.contains("3x2") && e.contains("2x3"), "{e}");
}
