//! `--similarity-save`: a measured cosine matrix on disk, `similarity/step-S.safetensors`
//! in the run folder, readable from numpy with the `safetensors` package:
//!
//! ```python
//! from safetensors.numpy import load_file
//! m = load_file("run/similarity/step-100.safetensors")
//! m["cosine"]       # float32 (N, N): C[i, j] = K[i, j] / sqrt(K[i, i] K[j, j])
//! m["index"]        # int64 (N,): the probe examples' training-set indices
//! m["true_label"], m["noisy_label"], m["corrupt"]   # uint8 (N,)
//! ```
//!
//! Rows are in the probe's order (similarity_probe.csv: by true class, pristine before
//! corrupt, then index). The step is in the file's metadata as well as its name.

use std::path::Path;

use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use super::similarity::Probe;

/// C = K / sqrt(diag(K) diag(K)^T) in f32 (0 where an example's gradient is 0), from K
/// (n x n, row-major): the statistics' f64 cosines, rounded.
pub fn cosines(k: &[f32], n: usize) -> Vec<f32> {
    super::similarity::cosine_matrix(k, n)
        .into_iter()
        .map(|c| c as f32)
        .collect()
}

/// One saved matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedMatrix {
    pub step: u64,
    pub n: usize,
    /// n x n, row-major.
    pub cosine: Vec<f32>,
    pub index: Vec<i64>,
    pub true_label: Vec<u8>,
    pub noisy_label: Vec<u8>,
    pub corrupt: Vec<bool>,
}

/// Bytes per saved matrix of `n` probe examples (the tensors; the header adds about 500).
pub fn bytes_per_matrix(n: usize) -> u64 {
    4 * (n as u64) * (n as u64) + 11 * n as u64
}

/// The file of step `step`, relative to the run folder.
pub fn file_name(step: u64) -> String {
    format!("similarity/step-{step}.safetensors")
}

/// The safetensors bytes of the cosine matrix of K measured at `step` on `probe`.
pub fn to_safetensors(probe: &Probe, step: u64, k: &[f32]) -> Result<Vec<u8>> {
    let n = probe.len();
    let cosine = cosines(k, n);
    let index: Vec<i64> = probe.index.iter().map(|&e| e as i64).collect();
    let corrupt: Vec<u8> = probe.corrupt.iter().map(|&c| c as u8).collect();
    let views = vec![
        (
            "cosine",
            TensorView::new(Dtype::F32, vec![n, n], bytemuck::cast_slice(&cosine))?,
        ),
        (
            "index",
            TensorView::new(Dtype::I64, vec![n], bytemuck::cast_slice(&index))?,
        ),
        (
            "true_label",
            TensorView::new(Dtype::U8, vec![n], &probe.true_label)?,
        ),
        (
            "noisy_label",
            TensorView::new(Dtype::U8, vec![n], &probe.noisy_label)?,
        ),
        ("corrupt", TensorView::new(Dtype::U8, vec![n], &corrupt)?),
    ];
    let info = std::collections::HashMap::from([("step".to_string(), step.to_string())]);
    Ok(safetensors::serialize(views, Some(info))?)
}

/// Reads a saved matrix, checking every tensor's type and shape.
pub fn read(path: &Path) -> Result<SavedMatrix> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let what = || path.display().to_string();
    let st = SafeTensors::deserialize(&bytes)
        .with_context(|| format!("{}: not a safetensors file", what()))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .with_context(|| format!("{}: not a safetensors file", what()))?;
    let step: u64 = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("step"))
        .and_then(|s| s.parse().ok())
        .with_context(|| {
            format!(
                "{}: no `step` in its metadata; write it with `winsor train --similarity-save`",
                what()
            )
        })?;
    let tensor = |name: &str, dtype: Dtype, shape: &[usize]| -> Result<Vec<u8>> {
        let t = st
            .tensor(name)
            .with_context(|| format!("{}: no tensor `{name}`", what()))?;
        if t.dtype() != dtype || t.shape() != shape {
            bail!(
                "{}: tensor `{name}` is {:?} {:?}, expected {dtype:?} {shape:?}",
                what(),
                t.dtype(),
                t.shape()
            );
        }
        Ok(t.data().to_vec())
    };
    let n = st
        .tensor("index")
        .with_context(|| format!("{}: no tensor `index`", what()))?
        .shape()
        .first()
        .copied()
        .unwrap_or(0);
    let cosine = tensor("cosine", Dtype::F32, &[n, n])?;
    let index = tensor("index", Dtype::I64, &[n])?;
    Ok(SavedMatrix {
        step,
        n,
        cosine: bytemuck::pod_collect_to_vec(&cosine),
        index: bytemuck::pod_collect_to_vec(&index),
        true_label: tensor("true_label", Dtype::U8, &[n])?,
        noisy_label: tensor("noisy_label", Dtype::U8, &[n])?,
        corrupt: tensor("corrupt", Dtype::U8, &[n])?
            .into_iter()
            .map(|c| c != 0)
            .collect(),
    })
}

/// The saved matrices of a run folder, by step (none if it saved none).
pub fn list(run: &Path) -> Result<Vec<(u64, std::path::PathBuf)>> {
    let dir = run.join("similarity");
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = e?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(step) = name
            .strip_prefix("step-")
            .and_then(|s| s.strip_suffix(".safetensors"))
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push((step, path));
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_matrix_reads_back() {
        let probe = Probe {
            index: vec![7, 3, 11],
            true_label: vec![0, 0, 4],
            noisy_label: vec![0, 5, 4],
            corrupt: vec![false, true, false],
        };
        // K with a zero-gradient example (row 2 of a 3 x 3)
        let k = [4.0f32, 2.0, 0.0, 2.0, 9.0, 0.0, 0.0, 0.0, 0.0];
        let bytes = to_safetensors(&probe, 42, &k).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        std::fs::write(&path, bytes).unwrap();
        let m = read(&path).unwrap();
        assert_eq!(m.step, 42);
        assert_eq!(m.n, 3);
        assert_eq!(m.index, vec![7, 3, 11]);
        assert_eq!(m.noisy_label, vec![0, 5, 4]);
        assert_eq!(m.corrupt, vec![false, true, false]);
        let want = [1.0, 2.0 / 6.0, 0.0, 2.0 / 6.0, 1.0, 0.0, 0.0, 0.0, 0.0];
        for (g, w) in m.cosine.iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-7, "{g} vs {w}");
        }
        // a file that is not safetensors, one without the step, and one with a tensor of
        // the wrong type are refused, naming the file and what is wrong
        let refused = |bytes: &[u8], what: &str| {
            std::fs::write(&path, bytes).unwrap();
            let e = format!("{:#}", read(&path).unwrap_err());
            assert!(e.contains("m.safetensors") && e.contains(what), "{e}");
        };
        refused(b"not safetensors", "not a safetensors file");
        let index = [7i64, 3, 11];
        fn view(dtype: Dtype, data: &[u8]) -> TensorView<'_> {
            TensorView::new(dtype, vec![3], data).unwrap()
        }
        let no_step = safetensors::serialize(
            [("index", view(Dtype::I64, bytemuck::cast_slice(&index)))],
            None,
        )
        .unwrap();
        refused(&no_step, "no `step`");
        let step = std::collections::HashMap::from([("step".to_string(), "1".to_string())]);
        let floats = [0.0f32; 3];
        let wrong = safetensors::serialize(
            [
                ("index", view(Dtype::I64, bytemuck::cast_slice(&index))),
                ("cosine", view(Dtype::F32, bytemuck::cast_slice(&floats))),
            ],
            Some(step),
        )
        .unwrap();
        refused(&wrong, "tensor `cosine` is F32 [3], expected F32 [3, 3]");
    }
}
