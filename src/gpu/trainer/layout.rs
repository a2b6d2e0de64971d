//! Where each layer's parameters live in the flat parameter (and gradient) buffer, and the
//! packing of the u8 data set into the words the gather shader reads.

use super::super::kernels::Slice;
use crate::model::{Layer, Params};

/// Where each layer's parameters live in the flat parameter (and gradient) buffer: the
/// weights (out x in, row-major) followed by the biases, each layer starting on a 256-byte
/// boundary so it can be bound on its own.
#[derive(Debug, Clone)]
pub struct ParamLayout {
    pub widths: Vec<usize>,
    /// Start of each layer's segment, in floats.
    pub offsets: Vec<usize>,
    pub total: usize,
}

impl ParamLayout {
    pub fn new(widths: &[usize]) -> Self {
        let mut offsets = Vec::new();
        let mut at = 0;
        for p in widths.windows(2) {
            offsets.push(at);
            at += (p[1] * (p[0] + 1)).next_multiple_of(64);
        }
        ParamLayout {
            widths: widths.to_vec(),
            offsets,
            total: at,
        }
    }

    pub fn layers(&self) -> usize {
        self.widths.len() - 1
    }

    /// (fan_in, fan_out) of layer l.
    pub fn fans(&self, l: usize) -> (usize, usize) {
        (self.widths[l], self.widths[l + 1])
    }

    /// Layer l's segment as a bindable slice of `buf`.
    pub fn segment<'a>(&self, buf: &'a wgpu::Buffer, l: usize) -> Slice<'a> {
        let (fi, fo) = self.fans(l);
        Slice::range(buf, self.offsets[l] as u64 * 4, (fo * (fi + 1)) as u64 * 4)
    }

    pub fn flatten(&self, p: &Params) -> Vec<f32> {
        let mut flat = vec![0.0f32; self.total];
        for (l, layer) in p.layers.iter().enumerate() {
            let o = self.offsets[l];
            flat[o..o + layer.w.len()].copy_from_slice(&layer.w);
            let ob = o + layer.w.len();
            flat[ob..ob + layer.b.len()].copy_from_slice(&layer.b);
        }
        flat
    }

    pub fn unflatten(&self, flat: &[f32]) -> Params {
        let layers = (0..self.layers())
            .map(|l| {
                let (fan_in, fan_out) = self.fans(l);
                let o = self.offsets[l];
                let nw = fan_in * fan_out;
                Layer {
                    fan_in,
                    fan_out,
                    w: flat[o..o + nw].to_vec(),
                    b: flat[o + nw..o + nw + fan_out].to_vec(),
                }
            })
            .collect();
        Params { layers }
    }
}

/// Packs bytes four to a u32 word (little-endian), the layout the gather shader reads.
pub fn pack_bytes(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect()
}
