//! Data sets: the IDX reader, the CIFAR-10 reader, the built-in MNIST, label noise and
//! minibatch order.

pub mod cifar;
pub mod idx;
pub mod noise;
pub mod order;
pub mod preview;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

pub use noise::{Corrupt, LabelNoise};
pub use order::{BatchOrder, Order};

/// Number of classes of every set read (MNIST, Fashion-MNIST, KMNIST, CIFAR-10).
pub const CLASSES: usize = 10;

/// One split: `n` images of `height x width` unsigned-byte pixels, and their labels. A
/// CIFAR-10 image is stored channel-major as 96 x 32: its red, green and blue 32x32 planes
/// stacked top to bottom (see [`cifar`]).
#[derive(Debug, Clone)]
pub struct Images {
    pub n: usize,
    pub height: usize,
    pub width: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Images {
    pub fn dim(&self) -> usize {
        self.height * self.width
    }

    pub fn image(&self, i: usize) -> &[u8] {
        &self.pixels[i * self.dim()..(i + 1) * self.dim()]
    }

    /// The first `n` examples, for tests and quick experiments.
    pub fn head(&self, n: usize) -> Images {
        let n = n.min(self.n);
        Images {
            n,
            height: self.height,
            width: self.width,
            pixels: self.pixels[..n * self.dim()].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DataSet {
    /// "mnist (built-in)", the directory it was read from, or "cifar10 (DIR)".
    pub source: String,
    pub train: Images,
    pub test: Images,
}

impl DataSet {
    pub fn input_dim(&self) -> usize {
        self.train.dim()
    }

    /// SHA-256 (hex) of the decoded set: each split's count, image size, pixels and labels,
    /// training split first. The same images give the same digest whether they were read
    /// compressed or not; config.toml records it so that a re-run can check its data.
    pub fn sha256(&self) -> String {
        let mut h = Sha256::new();
        for s in [&self.train, &self.test] {
            for v in [s.n, s.height, s.width] {
                h.update((v as u64).to_le_bytes());
            }
            h.update(&s.pixels);
            h.update(&s.labels);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The set with only its first `n` training examples (`--train-subset`; None: all of
    /// them). More than the set holds is an error rather than a silent "all".
    pub fn train_subset(&self, n: Option<usize>) -> anyhow::Result<std::borrow::Cow<'_, Self>> {
        self.subsets(n, None)
    }

    /// The set with only its first `train` training and first `test` test examples
    /// (`--train-subset`, `--test-subset`; None: all). More than a split holds is an error
    /// rather than a silent "all".
    pub fn subsets(
        &self,
        train: Option<usize>,
        test: Option<usize>,
    ) -> anyhow::Result<std::borrow::Cow<'_, Self>> {
        use std::borrow::Cow;
        for (flag, split, n, have) in [
            ("--train-subset", "training", train, self.train.n),
            ("--test-subset", "test", test, self.test.n),
        ] {
            if let Some(n) = n.filter(|&n| n > have) {
                anyhow::bail!("{flag} {n}: the {split} set has only {have} examples");
            }
        }
        let train = train.filter(|&n| n < self.train.n);
        let test = test.filter(|&n| n < self.test.n);
        if train.is_none() && test.is_none() {
            return Ok(Cow::Borrowed(self));
        }
        let mut parts = Vec::new();
        if let Some(n) = train {
            parts.push(format!("first {n} training examples"));
        }
        if let Some(n) = test {
            parts.push(format!("first {n} test examples"));
        }
        Ok(Cow::Owned(DataSet {
            source: format!("{} ({})", self.source, parts.join(", ")),
            train: train.map_or_else(|| self.train.clone(), |n| self.train.head(n)),
            test: test.map_or_else(|| self.test.clone(), |n| self.test.head(n)),
        }))
    }
}

/// The four standard file names of an MNIST-format set, without the optional `.gz`.
pub const FILE_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

struct Builtin {
    name: &'static str,
    gz: &'static [u8],
    /// SHA-256 of the decompressed file, as published with MNIST and checked here so that a
    /// damaged copy is caught before it silently changes every number.
    sha256: &'static str,
}

const BUILTIN: [Builtin; 4] = [
    Builtin {
        name: "train-images-idx3-ubyte.gz",
        gz: include_bytes!("../../assets/mnist/train-images-idx3-ubyte.gz"),
        sha256: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    },
    Builtin {
        name: "train-labels-idx1-ubyte.gz",
        gz: include_bytes!("../../assets/mnist/train-labels-idx1-ubyte.gz"),
        sha256: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    },
    Builtin {
        name: "t10k-images-idx3-ubyte.gz",
        gz: include_bytes!("../../assets/mnist/t10k-images-idx3-ubyte.gz"),
        sha256: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    },
    Builtin {
        name: "t10k-labels-idx1-ubyte.gz",
        gz: include_bytes!("../../assets/mnist/t10k-labels-idx1-ubyte.gz"),
        sha256: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
];

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The MNIST copy compiled into the binary (from `assets/mnist/`), checksum-verified.
pub fn builtin_mnist() -> Result<DataSet> {
    let mut raw = Vec::new();
    for b in &BUILTIN {
        let path = PathBuf::from(format!("<built-in>/assets/mnist/{}", b.name));
        let bytes = idx::maybe_gunzip(&path, b.gz.to_vec())?;
        let got = sha256_hex(&bytes);
        if got != b.sha256 {
            bail!(
                "{}: SHA-256 of the decompressed contents is {got}, expected {}; the built-in copy is damaged, restore assets/mnist from the repository",
                path.display(),
                b.sha256
            );
        }
        raw.push((path.clone(), idx::parse(&path, bytes)?));
    }
    assemble("mnist (built-in)".into(), raw)
}

/// Reads an MNIST-format set from `dir`: the four standard names, each raw or with `.gz`.
pub fn load_dir(dir: &Path) -> Result<DataSet> {
    if !dir.is_dir() {
        bail!(
            "--data {}: not a directory; pass a folder holding {} (each optionally .gz)",
            dir.display(),
            FILE_NAMES.join(", ")
        );
    }
    let mut raw = Vec::new();
    for name in FILE_NAMES {
        let plain = dir.join(name);
        let gz = dir.join(format!("{name}.gz"));
        let path = if plain.is_file() {
            plain
        } else if gz.is_file() {
            gz
        } else if let Some(folder) = [&plain, &gz].into_iter().find(|p| p.is_dir()) {
            bail!(
                "{}: is a folder, not a file; the data folder needs the file {name} or {name}.gz there",
                folder.display()
            );
        } else {
            bail!(
                "{}: missing: the data folder needs {name} or {name}.gz{}",
                dir.display(),
                if cifar::looks_like_cifar(dir) {
                    format!(
                        " (this looks like a CIFAR-10 folder: pass --data {}{})",
                        cifar::PREFIX,
                        dir.display()
                    )
                } else {
                    String::new()
                }
            );
        };
        let t = idx::read(&path)?;
        raw.push((path, t));
    }
    assemble(dir.display().to_string(), raw)
}

fn assemble(source: String, raw: Vec<(PathBuf, idx::IdxU8)>) -> Result<DataSet> {
    let mut it = raw.into_iter();
    let mut split = |what: &str| -> Result<Images> {
        let (ipath, images) = it.next().expect("four files");
        let (lpath, labels) = it.next().expect("four files");
        images_and_labels(what, &ipath, images, &lpath, labels)
    };
    let train = split("training")?;
    let test = split("test")?;
    if (train.height, train.width) != (test.height, test.width) {
        bail!(
            "{source}: training images are {}x{} but test images are {}x{}; both splits must have one image size",
            train.height,
            train.width,
            test.height,
            test.width
        );
    }
    Ok(DataSet {
        source,
        train,
        test,
    })
}

fn images_and_labels(
    what: &str,
    ipath: &Path,
    images: idx::IdxU8,
    lpath: &Path,
    labels: idx::IdxU8,
) -> Result<Images> {
    if images.dims.len() != 3 {
        return Err(idx::IdxError::BadRank {
            path: ipath.to_path_buf(),
            expected: 3,
            found: images.dims.len(),
            what: "images: count x height x width",
        }
        .into());
    }
    if labels.dims.len() != 1 {
        return Err(idx::IdxError::BadRank {
            path: lpath.to_path_buf(),
            expected: 1,
            found: labels.dims.len(),
            what: "labels: count",
        }
        .into());
    }
    let (n, height, width) = (images.dims[0], images.dims[1], images.dims[2]);
    if n != labels.dims[0] {
        bail!(
            "{what} set: {} holds {n} images but {} holds {} labels; the counts must be equal",
            ipath.display(),
            lpath.display(),
            labels.dims[0]
        );
    }
    if n == 0 || height == 0 || width == 0 {
        bail!(
            "{}: empty {what} set ({n} images of {height}x{width})",
            ipath.display()
        );
    }
    if let Some((i, &l)) = labels
        .data
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= CLASSES)
    {
        bail!(
            "{}: label {l} at index {i} is out of range: labels must be 0..={}",
            lpath.display(),
            CLASSES - 1
        );
    }
    Ok(Images {
        n,
        height,
        width,
        pixels: images.data,
        labels: labels.data,
    })
}

/// Loads `--data DIR` if given (`cifar10:DIR`: the CIFAR-10 binary version; otherwise an
/// MNIST-format folder), else the built-in MNIST.
pub fn load(dir: Option<&Path>) -> Result<DataSet> {
    match dir {
        Some(d) => match cifar::strip_prefix(d) {
            Some(c) => cifar::load_dir(c),
            None => load_dir(d),
        }
        .with_context(|| format!("loading data set from {}", d.display())),
        None => builtin_mnist(),
    }
}

/// Writes `images` as an MNIST-format pair of raw IDX files (used by tests and tools).
pub fn write_idx_pair(dir: &Path, prefix: &str, images: &Images) -> std::io::Result<()> {
    let mut img = vec![0, 0, 8, 3];
    for d in [images.n, images.height, images.width] {
        img.extend_from_slice(&(d as u32).to_be_bytes());
    }
    img.extend_from_slice(&images.pixels);
    std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), img)?;
    let mut lab = vec![0, 0, 8, 1];
    lab.extend_from_slice(&(images.n as u32).to_be_bytes());
    lab.extend_from_slice(&images.labels);
    std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), lab)
}
