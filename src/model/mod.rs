//! Network shapes, initialisation and parameters on the host.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::rng::{Rng, Stream};

/// The hidden part of an MLP as the user wrote it: `3x256`, `1x2048`, or an explicit list of
/// all widths such as `784,512,128,10`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arch {
    pub spec: String,
    hidden: Vec<usize>,
    /// Input and output widths if the user gave an explicit list (checked against the data).
    ends: Option<(usize, usize)>,
}

impl std::str::FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "--arch {s:?}: expected DEPTHxWIDTH (e.g. 3x256) or a list of all widths (e.g. 784,512,128,10)"
            )
        };
        let pos = |t: &str| -> Result<usize, String> {
            match t.trim().parse::<usize>() {
                Ok(v) if v > 0 => Ok(v),
                _ => Err(bad()),
            }
        };
        if let Some((d, w)) = s.split_once('x') {
            let (d, w) = (pos(d)?, pos(w)?);
            if d > 64 {
                return Err(format!("--arch {s:?}: at most 64 hidden layers"));
            }
            Ok(Arch {
                spec: s.to_string(),
                hidden: vec![w; d],
                ends: None,
            })
        } else {
            let ws: Vec<usize> = s.split(',').map(pos).collect::<Result<_, _>>()?;
            if ws.len() < 2 {
                return Err(format!(
                    "--arch {s:?}: a list needs at least the input and output widths"
                ));
            }
            Ok(Arch {
                spec: s.to_string(),
                hidden: ws[1..ws.len() - 1].to_vec(),
                ends: Some((ws[0], ws[ws.len() - 1])),
            })
        }
    }
}

impl Arch {
    /// The widest hidden layer (0 for a network without one).
    pub fn widest_hidden(&self) -> usize {
        self.hidden.iter().copied().max().unwrap_or(0)
    }

    /// All layer widths from input to output, checked against the data's shape.
    pub fn widths(&self, input: usize, classes: usize) -> Result<Vec<usize>> {
        if let Some((i, o)) = self.ends {
            if i != input || o != classes {
                bail!(
                    "--arch {}: the list starts with {i} and ends with {o}, but the data has {input} inputs and {classes} classes",
                    self.spec
                );
            }
        }
        let mut w = vec![input];
        w.extend(&self.hidden);
        w.push(classes);
        Ok(w)
    }
}

/// Initialisation scheme for weights (biases always start at 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// The author's code: N(0,1) * 2 / sqrt(fan_in + fan_out).
    Code,
    /// Glorot uniform: U(-l, l) with l = sqrt(6 / (fan_in + fan_out)).
    GlorotUniform,
    /// Glorot normal: N(0, 2 / (fan_in + fan_out)).
    GlorotNormal,
}

/// One dense layer: `w` is `fan_out x fan_in`, row-major; `b` has `fan_out` entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    pub fan_in: usize,
    pub fan_out: usize,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub layers: Vec<Layer>,
}

impl Params {
    pub fn init(widths: &[usize], init: Init, seed: u64) -> Self {
        let mut rng = Rng::new(seed, Stream::Init);
        let layers = widths
            .windows(2)
            .map(|p| {
                let (fan_in, fan_out) = (p[0], p[1]);
                let s = (fan_in + fan_out) as f64;
                let w = (0..fan_in * fan_out)
                    .map(|_| match init {
                        Init::Code => rng.normal() * 2.0 / s.sqrt(),
                        Init::GlorotUniform => {
                            let l = (6.0 / s).sqrt();
                            (2.0 * rng.uniform() - 1.0) * l
                        }
                        Init::GlorotNormal => rng.normal() * (2.0 / s).sqrt(),
                    } as f32)
                    .collect();
                Layer {
                    fan_in,
                    fan_out,
                    w,
                    b: vec![0.0; fan_out],
                }
            })
            .collect();
        Params { layers }
    }

    pub fn widths(&self) -> Vec<usize> {
        let mut w = vec![self.layers[0].fan_in];
        w.extend(self.layers.iter().map(|l| l.fan_out));
        w
    }

    pub fn count(&self) -> usize {
        self.layers.iter().map(|l| l.w.len() + l.b.len()).sum()
    }

    /// Writes the weights as safetensors: `layers.{i}.weight` (out x in) and `layers.{i}.bias`.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        use safetensors::tensor::{Dtype, TensorView};
        let mut views = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            views.push((
                format!("layers.{i}.weight"),
                TensorView::new(
                    Dtype::F32,
                    vec![l.fan_out, l.fan_in],
                    bytemuck::cast_slice(&l.w),
                )?,
            ));
            views.push((
                format!("layers.{i}.bias"),
                TensorView::new(Dtype::F32, vec![l.fan_out], bytemuck::cast_slice(&l.b))?,
            ));
        }
        Ok(safetensors::serialize(views, None)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arch_forms() {
        let a: Arch = "3x256".parse().unwrap();
        assert_eq!(a.widths(784, 10).unwrap(), vec![784, 256, 256, 256, 10]);
        let a: Arch = "1x2048".parse().unwrap();
        assert_eq!(a.widths(784, 10).unwrap(), vec![784, 2048, 10]);
        let a: Arch = "784,512,128,10".parse().unwrap();
        assert_eq!(a.widths(784, 10).unwrap(), vec![784, 512, 128, 10]);
        assert!(a.widths(100, 10).is_err());
        for bad in ["", "x", "0x5", "3x", "3x-1", "784", "a,b", "2x0"] {
            assert!(bad.parse::<Arch>().is_err(), "{bad}");
        }
    }

    #[test]
    fn init_scales_match_their_definitions() {
        let widths = [400, 600];
        let var = |p: &Params| {
            let w = &p.layers[0].w;
            w.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / w.len() as f64
        };
        let code = Params::init(&widths, Init::Code, 1);
        assert!((var(&code) - 4.0 / 1000.0).abs() < 2e-4, "{}", var(&code));
        let gu = Params::init(&widths, Init::GlorotUniform, 1);
        assert!((var(&gu) - 2.0 / 1000.0).abs() < 1e-4, "{}", var(&gu));
        let max = gu.layers[0].w.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(max <= (6.0f32 / 1000.0).sqrt());
        let gn = Params::init(&widths, Init::GlorotNormal, 1);
        assert!((var(&gn) - 2.0 / 1000.0).abs() < 1e-4, "{}", var(&gn));
        assert!(code.layers[0].b.iter().all(|&b| b == 0.0));
        assert_eq!(code, Params::init(&widths, Init::Code, 1));
    }
}
