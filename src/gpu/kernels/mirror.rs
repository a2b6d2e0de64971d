//! Texture mirrors of buffer ranges, for the plan's `Operands::Textures`: a kernel binds an
//! rgba32float texture in place of a storage buffer, and its dispatch copies the buffer
//! range into the texture just before it runs, so the texture is never stale.
//!
//! Why: lavapipe turns each storage load into a loop over the SIMD lanes with a bounds
//! check per lane (about 19 cycles a lane on this machine's cores), whatever the address
//! pattern, while a texel fetch is straight-line code (about 1.7 cycles a lane per float);
//! the copy runs at memcpy speed. docs/benchmarks-history.md, "Operands through textures".
//!
//! Layout: texel `i` (floats 4i..4i+3 of the range) sits at (i % width, i / width) with a
//! power-of-two width (1 KiB rows, so every full row is one copy with a legal row pitch);
//! shaders/common/texel.wgsl reads it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use super::slice::Slice;
use crate::gpu::context::Gpu;

/// The device's live mirrors by buffer range, so that dispatches binding the same range share
/// one texture (the evaluation's row chunks all read the same activation rows: one mirror
/// each would hold hundreds of MB). Each dispatch still refreshes the mirror just before it
/// runs. Entries whose dispatches are all gone are pruned when the next mirror is made.
#[derive(Default)]
pub struct MirrorCache(Mutex<HashMap<(wgpu::Buffer, u64, u64), Weak<Mirror>>>);

/// Texels per row before widening: 64 rgba32float texels, 1 KiB (row pitches of copies must
/// be multiples of 256 bytes).
const WIDTH: u32 = 64;

pub struct Mirror {
    buffer: wgpu::Buffer,
    offset: u64,
    texels: u32,
    width: u32,
    pub(super) view: wgpu::TextureView,
    texture: wgpu::Texture,
}

impl Mirror {
    /// The device's mirror of `slice` (whole texels: offset and size multiples of 16
    /// bytes), made if no live dispatch has one.
    pub fn shared(gpu: &Gpu, slice: &Slice<'_>) -> Arc<Mirror> {
        let key = (slice.buf.clone(), slice.offset, slice.bytes());
        let cache = gpu.attached::<MirrorCache>();
        let mut cache = cache.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = cache.get(&key).and_then(Weak::upgrade) {
            return m;
        }
        cache.retain(|_, m| m.strong_count() > 0);
        let m = Arc::new(Mirror::new(gpu, slice));
        cache.insert(key, Arc::downgrade(&m));
        m
    }

    fn new(gpu: &Gpu, slice: &Slice<'_>) -> Mirror {
        let bytes = slice.bytes().max(16);
        assert!(
            slice.offset.is_multiple_of(16) && bytes.is_multiple_of(16),
            "a texture mirror covers whole texels (offset {}, {bytes} bytes)",
            slice.offset
        );
        let texels = u32::try_from(bytes / 16).expect("a storage binding is under 64 GiB");
        let max = gpu.limits.max_texture_dimension_2d;
        let mut width = WIDTH;
        while texels.div_ceil(width) > max && width < max {
            width *= 2;
        }
        let rows = texels.div_ceil(width);
        // max^2 texels is 1 GiB at wgpu's default 8192, above every storage binding limit
        // the trainer checks before it allocates
        assert!(
            rows <= max,
            "a texture mirror of {bytes} bytes exceeds {max} x {max} texels"
        );
        let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("operand mirror"),
            size: wgpu::Extent3d {
                width,
                height: rows,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Float,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        Mirror {
            buffer: slice.buf.clone(),
            offset: slice.offset,
            texels,
            width,
            view: texture.create_view(&Default::default()),
            texture,
        }
    }

    /// Copies the buffer range into the texture: the full rows, then the last partial one.
    pub fn record(&self, enc: &mut wgpu::CommandEncoder) {
        let full = self.texels / self.width;
        let rest = self.texels % self.width;
        let row_bytes = self.width as u64 * 16;
        let mut copy = |offset: u64, y: u32, width: u32, height: u32| {
            enc.copy_buffer_to_texture(
                wgpu::TexelCopyBufferInfo {
                    buffer: &self.buffer,
                    layout: wgpu::TexelCopyBufferLayout {
                        offset,
                        bytes_per_row: Some(row_bytes as u32),
                        rows_per_image: None,
                    },
                },
                wgpu::TexelCopyTextureInfo {
                    texture: &self.texture,
                    mip_level: 0,
                    origin: wgpu::Origin3d { x: 0, y, z: 0 },
                    aspect: wgpu::TextureAspect::All,
                },
                wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
            );
        };
        if full > 0 {
            copy(self.offset, 0, self.width, full);
        }
        if rest > 0 {
            copy(self.offset + full as u64 * row_bytes, full, rest, 1);
        }
    }
}
