//! A run's checkpoint: everything needed to go on from a step as if training had never
//! stopped, in one safetensors file written atomically.
//!
//! Tensors: the weights (`layers.{i}.weight`, `layers.{i}.bias`, as in weights.safetensors),
//! the temporal rules' gradient history (`temporal.history`), the logged metrics
//! (`metrics`, one row of 10 f64 per logged step, NaN for an empty field), the per-example
//! learning steps (`learnt.first`, `learnt.last`, -1 for none) and the coherence state
//! (`coherence.cum`, `coherence.rows`). Every number is stored with its exact bits, so a
//! resumed run's files are byte-identical to an uninterrupted run's.
//!
//! The metadata `winsor-checkpoint` (JSON) holds the step and the seconds spent so far. The
//! random state needs no bytes of its own: label noise, initial weights and coherence
//! samples are drawn again from the seed, and the minibatch order is replayed to the step
//! ([`crate::data::BatchOrder::skip`]).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};

use super::metrics::{Learnt, Row};
use crate::model::{Layer, Params};
use crate::output::write_atomic;

pub const CHECKPOINT: &str = "checkpoint.safetensors";

/// Bumped whenever the contents change meaning; an older checkpoint is then refused.
const FORMAT: u32 = 1;
const META: &str = "winsor-checkpoint";

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Spent {
    pub wall_s: f64,
    pub train_s: f64,
    pub eval_s: f64,
    pub coherence_s: f64,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    format: u32,
    step: u64,
    spent: Spent,
}

/// The coherence measurement's running state (the rest derives from the seed).
#[derive(Debug, Clone, PartialEq)]
pub struct CoherenceState {
    pub cum: Vec<(f64, f64)>,
    pub rows: Vec<Vec<f64>>,
}

/// The similarity measurement's rows (the probe and the null worlds derive from the seed).
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarityState {
    pub rows: Vec<Vec<f64>>,
    pub class_rows: Vec<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Steps trained; every stop point up to it has been measured.
    pub step: u64,
    pub params: Params,
    /// The temporal rules' last three mean gradients, as the trainer holds them.
    pub history: Option<Vec<f32>>,
    pub rows: Vec<Row>,
    pub learnt: Learnt,
    pub coherence: Option<CoherenceState>,
    pub similarity: Option<SimilarityState>,
    pub spent: Spent,
}

const ROW_FIELDS: usize = 10;

fn row_to_f64(r: &Row) -> [f64; ROW_FIELDS] {
    let o = |v: Option<f64>| v.unwrap_or(f64::NAN);
    [
        r.step as f64,
        r.train_acc,
        r.train_loss,
        r.test_acc,
        r.test_loss,
        o(r.batch_acc),
        o(r.batch_loss),
        o(r.pristine_acc),
        o(r.corrupt_acc),
        r.overfit,
    ]
}

fn row_from_f64(v: &[f64]) -> Row {
    // the optional fields are ratios of counts or a checked finite loss, never NaN
    let o = |x: f64| (!x.is_nan()).then_some(x);
    Row {
        step: v[0] as u64,
        train_acc: v[1],
        train_loss: v[2],
        test_acc: v[3],
        test_loss: v[4],
        batch_acc: o(v[5]),
        batch_loss: o(v[6]),
        pristine_acc: o(v[7]),
        corrupt_acc: o(v[8]),
        overfit: v[9],
    }
}

fn steps_to_i64(v: &[Option<u64>]) -> Vec<i64> {
    v.iter().map(|s| s.map_or(-1, |x| x as i64)).collect()
}

fn steps_from_i64(v: &[i64]) -> Vec<Option<u64>> {
    v.iter().map(|&s| (s >= 0).then_some(s as u64)).collect()
}

impl Checkpoint {
    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        let mut put = |name: String, dtype, shape: Vec<usize>, bytes: &[u8]| {
            owned.push((name, dtype, shape, bytes.to_vec()));
        };
        for (i, l) in self.params.layers.iter().enumerate() {
            let w: &[u8] = bytemuck::cast_slice(&l.w);
            put(
                format!("layers.{i}.weight"),
                Dtype::F32,
                vec![l.fan_out, l.fan_in],
                w,
            );
            put(
                format!("layers.{i}.bias"),
                Dtype::F32,
                vec![l.fan_out],
                bytemuck::cast_slice(&l.b),
            );
        }
        if let Some(h) = &self.history {
            put(
                "temporal.history".into(),
                Dtype::F32,
                vec![h.len()],
                bytemuck::cast_slice(h),
            );
        }
        let rows: Vec<f64> = self.rows.iter().flat_map(row_to_f64).collect();
        put(
            "metrics".into(),
            Dtype::F64,
            vec![self.rows.len(), ROW_FIELDS],
            bytemuck::cast_slice(&rows),
        );
        for (name, v) in [
            ("learnt.first", &self.learnt.first),
            ("learnt.last", &self.learnt.last),
        ] {
            put(
                name.into(),
                Dtype::I64,
                vec![v.len()],
                bytemuck::cast_slice(&steps_to_i64(v)),
            );
        }
        if let Some(c) = &self.coherence {
            let cum: Vec<f64> = c.cum.iter().flat_map(|&(p, q)| [p, q]).collect();
            put(
                "coherence.cum".into(),
                Dtype::F64,
                vec![c.cum.len(), 2],
                bytemuck::cast_slice(&cum),
            );
            let cols = c.rows.first().map_or(0, Vec::len);
            if c.rows.iter().any(|r| r.len() != cols) {
                bail!("coherence rows of different lengths");
            }
            let flat: Vec<f64> = c.rows.concat();
            put(
                "coherence.rows".into(),
                Dtype::F64,
                vec![c.rows.len(), cols],
                bytemuck::cast_slice(&flat),
            );
        }
        if let Some(s) = &self.similarity {
            for (name, rows) in [
                ("similarity.rows", &s.rows),
                ("similarity.classes", &s.class_rows),
            ] {
                let cols = rows.first().map_or(0, Vec::len);
                if rows.iter().any(|r| r.len() != cols) {
                    bail!("{name} of different lengths");
                }
                let flat: Vec<f64> = rows.concat();
                put(
                    name.into(),
                    Dtype::F64,
                    vec![rows.len(), cols],
                    bytemuck::cast_slice(&flat),
                );
            }
        }
        let views = owned
            .iter()
            .map(|(n, d, s, b)| Ok((n.clone(), TensorView::new(*d, s.clone(), b)?)))
            .collect::<Result<Vec<_>>>()?;
        let meta = Meta {
            format: FORMAT,
            step: self.step,
            spent: self.spent,
        };
        let info = HashMap::from([(META.to_string(), serde_json::to_string(&meta)?)]);
        Ok(safetensors::serialize(views, Some(info))?)
    }

    /// Writes `dir`/checkpoint.safetensors atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        write_atomic(&dir.join(CHECKPOINT), &self.to_bytes()?)
    }

    /// Reads `dir`'s checkpoint, if it has one. A file that cannot be read is an error that
    /// names it (the run is not silently restarted from step 0).
    pub fn load(dir: &Path) -> Result<Option<Checkpoint>> {
        let path = dir.join(CHECKPOINT);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Self::from_bytes(&bytes)
            .map(Some)
            .with_context(|| format!("{}: not a readable winsor checkpoint; pass --force to start the run again from step 0", path.display()))
    }

    /// The step of `dir`'s checkpoint, from its header alone; None without a readable one.
    pub fn step_of_header(bytes: &[u8]) -> Option<u64> {
        read_meta(bytes).ok().map(|m| m.step)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint> {
        let meta = read_meta(bytes)?;
        let st = SafeTensors::deserialize(bytes)?;
        let get = |name: &str, dtype: Dtype| -> Result<Option<(Vec<usize>, Vec<u8>)>> {
            match st.tensor(name) {
                Ok(t) if t.dtype() == dtype => Ok(Some((t.shape().to_vec(), t.data().to_vec()))),
                Ok(t) => bail!("tensor {name} is {:?}, not {dtype:?}", t.dtype()),
                Err(_) => Ok(None),
            }
        };
        let need = |name: &str, dtype| {
            get(name, dtype)?.with_context(|| format!("tensor {name} is missing"))
        };
        let f32s = |b: &[u8]| -> Vec<f32> {
            b.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect()
        };
        let f64s = |b: &[u8]| -> Vec<f64> {
            b.chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect()
        };
        let i64s = |b: &[u8]| -> Vec<i64> {
            b.chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect()
        };

        let mut layers = Vec::new();
        while let Some((shape, w)) = get(&format!("layers.{}.weight", layers.len()), Dtype::F32)? {
            let i = layers.len();
            let (_, b) = need(&format!("layers.{i}.bias"), Dtype::F32)?;
            let [fan_out, fan_in] = shape[..] else {
                bail!("layers.{i}.weight has shape {shape:?}, not (out, in)");
            };
            let (w, b) = (f32s(&w), f32s(&b));
            if b.len() != fan_out {
                bail!(
                    "layers.{i}.bias holds {} values for {fan_out} units",
                    b.len()
                );
            }
            layers.push(Layer {
                fan_in,
                fan_out,
                w,
                b,
            });
        }
        if layers.is_empty() {
            bail!("it holds no weights");
        }
        let history = get("temporal.history", Dtype::F32)?.map(|(_, b)| f32s(&b));
        let (shape, rows) = need("metrics", Dtype::F64)?;
        if shape.get(1) != Some(&ROW_FIELDS) {
            bail!("metrics has shape {shape:?}, not (rows, {ROW_FIELDS})");
        }
        let rows = f64s(&rows).chunks(ROW_FIELDS).map(row_from_f64).collect();
        let first = steps_from_i64(&i64s(&need("learnt.first", Dtype::I64)?.1));
        let last = steps_from_i64(&i64s(&need("learnt.last", Dtype::I64)?.1));
        if first.len() != last.len() {
            bail!("learnt.first and learnt.last differ in length");
        }
        let coherence = match get("coherence.cum", Dtype::F64)? {
            None => None,
            Some((_, cum)) => {
                let (shape, r) = need("coherence.rows", Dtype::F64)?;
                let cols = shape.get(1).copied().unwrap_or(0).max(1);
                Some(CoherenceState {
                    cum: f64s(&cum).chunks(2).map(|c| (c[0], c[1])).collect(),
                    rows: f64s(&r).chunks(cols).map(<[f64]>::to_vec).collect(),
                })
            }
        };
        let table = |name: &str| -> Result<Vec<Vec<f64>>> {
            let (shape, r) = need(name, Dtype::F64)?;
            let cols = shape.get(1).copied().unwrap_or(0).max(1);
            Ok(f64s(&r).chunks(cols).map(<[f64]>::to_vec).collect())
        };
        let similarity = match get("similarity.rows", Dtype::F64)? {
            None => None,
            Some(_) => Some(SimilarityState {
                rows: table("similarity.rows")?,
                class_rows: table("similarity.classes")?,
            }),
        };
        Ok(Checkpoint {
            step: meta.step,
            params: Params { layers },
            history,
            rows,
            learnt: Learnt { first, last },
            coherence,
            similarity,
            spent: meta.spent,
        })
    }
}

/// The checkpoint's metadata from the file's header (the only part it needs), refused if
/// it is of another format.
fn read_meta(bytes: &[u8]) -> Result<Meta> {
    let (_, header) = SafeTensors::read_metadata(bytes)?;
    let meta = header
        .metadata()
        .as_ref()
        .and_then(|m| m.get(META))
        .context("no winsor-checkpoint metadata")?;
    let meta: Meta = serde_json::from_str(meta).context("the winsor-checkpoint metadata")?;
    if meta.format != FORMAT {
        bail!(
            "checkpoint format {} (this winsor reads {FORMAT})",
            meta.format
        );
    }
    Ok(meta)
}

/// The step `dir`'s checkpoint goes on from, if it has a readable one (reads only the
/// file's header).
pub fn step_of(dir: &Path) -> Option<u64> {
    use std::io::Read;
    let mut f = std::fs::File::open(dir.join(CHECKPOINT)).ok()?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).ok()?;
    let n = u64::from_le_bytes(len);
    // a header is a few kilobytes; a larger length is not a checkpoint's
    if n > 1 << 20 {
        return None;
    }
    let mut head = len.to_vec();
    head.resize(8 + n as usize, 0);
    f.read_exact(&mut head[8..]).ok()?;
    Checkpoint::step_of_header(&head)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        let mut params = Params::init(&[5, 3, 2], crate::model::Init::Code, 1);
        params.layers[0].w[0] = f32::from_bits(1); // a subnormal keeps its bits
        let row = |step, b: Option<f64>| Row {
            step,
            train_acc: 0.1 + step as f64 / 3.0,
            train_loss: f64::INFINITY,
            test_acc: 1.0 / 3.0,
            test_loss: 2.5,
            batch_acc: b,
            batch_loss: b,
            pristine_acc: Some(0.7),
            corrupt_acc: None,
            overfit: -1e-300,
        };
        Checkpoint {
            step: 17,
            history: Some(vec![0.5, -0.0, 1e-38]),
            params,
            rows: vec![row(0, None), row(10, Some(0.123456789012345))],
            learnt: Learnt {
                first: vec![None, Some(0), Some(10)],
                last: vec![None, Some(10), None],
            },
            coherence: Some(CoherenceState {
                cum: vec![(1.0, f64::NAN), (0.25, 3.0)],
                rows: vec![vec![0.0, f64::NAN, 1.5], vec![1.0, 2.0, 3.0]],
            }),
            similarity: Some(SimilarityState {
                rows: vec![vec![0.0, 4.0, f64::NAN], vec![10.0, 4.0, -0.5]],
                class_rows: vec![vec![0.0, 1.0, 2.0, 3.0, 4.0, 0.25, -1.0]],
            }),
            spent: Spent {
                wall_s: 3.5,
                train_s: 1.25,
                eval_s: 0.5,
                coherence_s: 0.0,
            },
        }
    }

    /// Bits, not values: NaN != NaN, so the comparison goes through the bytes again.
    #[test]
    fn round_trips_every_bit() {
        let c = sample();
        let bytes = c.to_bytes().unwrap();
        let back = Checkpoint::from_bytes(&bytes).unwrap();
        assert_eq!(back.to_bytes().unwrap(), bytes);
        assert_eq!(back.params, c.params);
        assert_eq!(back.learnt.first, c.learnt.first);
        assert_eq!(back.learnt.last, c.learnt.last);
        assert_eq!(back.rows[1].batch_acc, Some(0.123456789012345));
        assert_eq!(back.rows[0].batch_acc, None);
        assert_eq!(back.step, 17);
        assert_eq!(back.spent, c.spent);
    }

    #[test]
    fn refuses_what_is_not_a_checkpoint() {
        let d = tempfile::tempdir().unwrap();
        assert!(Checkpoint::load(d.path()).unwrap().is_none());
        std::fs::write(d.path().join(CHECKPOINT), b"not safetensors").unwrap();
        let e = format!("{:#}", Checkpoint::load(d.path()).unwrap_err());
        assert!(
            e.contains("not a readable winsor checkpoint") && e.contains("--force"),
            "{e}"
        );
        // a weights file is a safetensors file, but not a checkpoint
        let w = sample().params.to_safetensors().unwrap();
        std::fs::write(d.path().join(CHECKPOINT), w).unwrap();
        let e = format!("{:#}", Checkpoint::load(d.path()).unwrap_err());
        assert!(e.contains("winsor-checkpoint"), "{e}");
    }
}
