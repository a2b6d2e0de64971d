//! Reader for the CIFAR-10 binary version (`--data cifar10:DIR`).
//!
//! The folder is `cifar-10-batches-bin` as unpacked from `cifar-10-binary.tar.gz`
//! (<https://www.cs.toronto.edu/~kriz/cifar.html>, "CIFAR-10 binary version (suitable for C
//! programs)"); winsor never downloads it. Each batch file is a run of 3073-byte records: one
//! label byte (0..=9), then 3072 pixel bytes, the 1024 red, 1024 green and 1024 blue values
//! of a 32x32 image, each plane row-major.
//!
//! An image is kept as it is stored, channel-major (red plane, green plane, blue plane),
//! which is also the order of the network's 3072 inputs. In [`Images`] it is a 96-row by
//! 32-column picture: the three 32x32 planes stacked top to bottom (`height` 96, `width` 32),
//! so that `dim()`, `image()`, `head()` and the preview grid need no notion of channels
//! (the preview shows each image as its red, green and blue planes in grey, one under the
//! other). Like the IDX reader, every failure names the file and says what is wrong and how
//! to fix it; nothing here panics on bad input.

use std::path::Path;

use anyhow::{bail, Result};

use super::{DataSet, Images, CLASSES};

/// The `--data` prefix that selects this reader.
pub const PREFIX: &str = "cifar10:";
/// The five training batches, in the order they are concatenated.
pub const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
/// The test batch.
pub const TEST_FILE: &str = "test_batch.bin";
/// Side of an image, in pixels.
pub const SIDE: usize = 32;
/// Colour planes of an image (red, green, blue).
pub const CHANNELS: usize = 3;
/// Pixel bytes of one image: `CHANNELS * SIDE * SIDE`.
pub const PIXELS: usize = CHANNELS * SIDE * SIDE;
/// Bytes of one record: the label byte and the pixels.
pub const RECORD: usize = 1 + PIXELS;

const WHERE: &str = "get cifar-10-binary.tar.gz (\"CIFAR-10 binary version (suitable for C programs)\") from https://www.cs.toronto.edu/~kriz/cifar.html, unpack it and pass the cifar-10-batches-bin folder";

/// The folder of a `--data cifar10:DIR` argument, or None for any other `--data`.
pub fn strip_prefix(data: &Path) -> Option<&Path> {
    data.to_str()?.strip_prefix(PREFIX).map(Path::new)
}

/// Whether `dir` looks like a CIFAR-10 binary folder (for a hint when it is passed without
/// the `cifar10:` prefix).
pub fn looks_like_cifar(dir: &Path) -> bool {
    dir.join(TRAIN_FILES[0]).is_file() || dir.join(TEST_FILE).is_file()
}

/// Reads the CIFAR-10 binary version from `dir`: `data_batch_1.bin`..`data_batch_5.bin`
/// (training, in that order) and `test_batch.bin`.
pub fn load_dir(dir: &Path) -> Result<DataSet> {
    if dir.as_os_str().is_empty() {
        bail!("--data {PREFIX}: no folder after the prefix; {WHERE}, e.g. --data {PREFIX}cifar-10-batches-bin");
    }
    if !dir.is_dir() {
        let archive = dir.to_string_lossy().ends_with(".tar.gz") && dir.is_file();
        bail!(
            "--data {PREFIX}{}: not a directory{}; {WHERE}",
            dir.display(),
            if archive {
                " (it is the archive: unpack it first, e.g. tar xzf cifar-10-binary.tar.gz)"
            } else {
                ""
            }
        );
    }
    let mut train: Option<Images> = None;
    for name in TRAIN_FILES {
        let batch = read_batch(&dir.join(name))?;
        train = Some(match train {
            None => batch,
            Some(mut t) => {
                t.n += batch.n;
                t.pixels.extend_from_slice(&batch.pixels);
                t.labels.extend_from_slice(&batch.labels);
                t
            }
        });
    }
    let test = read_batch(&dir.join(TEST_FILE))?;
    Ok(DataSet {
        source: format!("cifar10 ({})", dir.display()),
        train: train.expect("five training batches"),
        test,
    })
}

/// Reads one batch file: its records as images of 96x32 (the three planes stacked).
pub fn read_batch(path: &Path) -> Result<Images> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = path.parent().unwrap_or(Path::new("."));
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let stem = name.as_deref().and_then(|n| n.strip_suffix(".bin"));
            let python = stem.is_some_and(|s| dir.join(s).is_file());
            bail!(
                "{}: missing: a CIFAR-10 folder needs {} and {TEST_FILE}{}; {WHERE}",
                path.display(),
                TRAIN_FILES.join(", "),
                if python {
                    " (this folder looks like the Python version, cifar-10-batches-py, which winsor does not read)"
                } else {
                    ""
                }
            );
        }
        Err(e) => bail!("{}: cannot read: {e}", path.display()),
    };
    parse_batch(path, bytes)
}

/// Parses the bytes of one batch file. `path` is only used in error messages.
pub fn parse_batch(path: &Path, bytes: Vec<u8>) -> Result<Images> {
    let len = bytes.len();
    if len == 0 {
        bail!(
            "{}: empty (0 bytes): a CIFAR-10 batch holds 3073-byte records; re-extract it from cifar-10-binary.tar.gz",
            path.display()
        );
    }
    if !len.is_multiple_of(RECORD) {
        let hint = if bytes.starts_with(&[0x1f, 0x8b]) {
            ": it is gzip-compressed; unpack cifar-10-binary.tar.gz and pass the cifar-10-batches-bin folder"
        } else if len.is_multiple_of(RECORD + 1) {
            ": that fits 3074-byte records, which is CIFAR-100 (coarse and fine labels), not read by winsor"
        } else if len > RECORD {
            ": the file is truncated or has trailing bytes; re-extract it from cifar-10-binary.tar.gz"
        } else {
            ": the file is truncated; re-extract it from cifar-10-binary.tar.gz"
        };
        bail!(
            "{}: file is {len} bytes, not a whole number of {RECORD}-byte CIFAR-10 records (1 label byte + {PIXELS} pixel bytes; {} whole records and {} bytes over){hint}",
            path.display(),
            len / RECORD,
            len % RECORD
        );
    }
    let n = len / RECORD;
    let mut labels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n * PIXELS);
    for (i, record) in bytes.chunks_exact(RECORD).enumerate() {
        let l = record[0];
        if l as usize >= CLASSES {
            bail!(
                "{}: label {l} of record {i} (byte offset {}) is out of range: CIFAR-10 labels must be 0..={}; is this a CIFAR-10 binary batch?",
                path.display(),
                i * RECORD,
                CLASSES - 1
            );
        }
        labels.push(l);
        pixels.extend_from_slice(&record[1..]);
    }
    Ok(Images {
        n,
        height: CHANNELS * SIDE,
        width: SIDE,
        pixels,
        labels,
    })
}

/// Writes `labels` and their channel-major `pixels` ([`PIXELS`] bytes each) as a CIFAR-10
/// binary batch file (used by tests and tools).
pub fn write_batch(path: &Path, labels: &[u8], pixels: &[u8]) -> std::io::Result<()> {
    assert_eq!(pixels.len(), labels.len() * PIXELS, "pixels per label");
    let mut out = Vec::with_capacity(labels.len() * RECORD);
    for (l, p) in labels.iter().zip(pixels.chunks_exact(PIXELS)) {
        out.push(*l);
        out.extend_from_slice(p);
    }
    std::fs::write(path, out)
}
