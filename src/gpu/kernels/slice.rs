//! What a kernel binds: a range of a buffer, and the stride between runs' parts of it.

use std::num::NonZeroU64;

/// A buffer range to bind: whole buffer if `size` is None. `run`: bytes between one run's
/// part of the buffer and the next (0 when every run of a dispatch reads the same data); the
/// kernel finds it in its `runs` uniform (shaders/common/runs.wgsl).
#[derive(Clone, Copy)]
pub struct Slice<'a> {
    pub buf: &'a wgpu::Buffer,
    pub offset: u64,
    pub size: Option<u64>,
    pub run: u64,
}

impl<'a> Slice<'a> {
    /// The same range rounded up to whole vec4s, for a vec4 view of it (layer segments are
    /// padded to 256 bytes and buffers to 16, so this stays inside the buffer).
    pub fn whole_vec4s(self) -> Self {
        Slice {
            size: self.size.map(|s| s.next_multiple_of(16)),
            ..self
        }
    }

    /// The same slice cut to what `runs` runs read when each reads its first `floats`
    /// floats (whole vec4s): a texture mirror then copies only that (the activation
    /// buffers are sized for evaluation blocks far larger than a minibatch).
    pub fn reading(self, floats: u64, runs: u32) -> Self {
        let len = self.bytes();
        let want = (runs.max(1) as u64 - 1) * self.run + (floats * 4).next_multiple_of(16);
        Slice {
            size: Some(want.min(len)),
            ..self
        }
    }

    /// Bytes in the range (to the buffer's end if it has no size).
    pub fn bytes(&self) -> u64 {
        self.size.unwrap_or(self.buf.size() - self.offset)
    }

    pub fn all(buf: &'a wgpu::Buffer) -> Self {
        Slice {
            buf,
            offset: 0,
            size: None,
            run: 0,
        }
    }
    pub fn range(buf: &'a wgpu::Buffer, offset: u64, size: u64) -> Self {
        Slice {
            buf,
            offset,
            size: Some(size),
            run: 0,
        }
    }
    /// The whole buffer, holding one part per run, `stride` bytes apart.
    pub fn runs(buf: &'a wgpu::Buffer, stride: u64) -> Self {
        Slice {
            run: stride,
            ..Slice::all(buf)
        }
    }
    /// The same slice with one part per run, `stride` bytes apart.
    pub fn per_run(self, stride: u64) -> Self {
        Slice {
            run: stride,
            ..self
        }
    }
    pub(super) fn resource(&self) -> wgpu::BindingResource<'a> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: self.buf,
            offset: self.offset,
            size: self
                .size
                .map(|s| NonZeroU64::new(s.max(4)).expect("nonzero")),
        })
    }
}

impl<'a> From<&'a wgpu::Buffer> for Slice<'a> {
    fn from(buf: &'a wgpu::Buffer) -> Self {
        Slice::all(buf)
    }
}
