//! Reader for the IDX format used by MNIST, Fashion-MNIST and KMNIST, raw or gzipped.
//!
//! Only unsigned-byte tensors are accepted (dtype 0x08), which is what these sets use. Every
//! failure names the file and says what is wrong; nothing here panics on bad input.

use std::io::Read;
use std::path::{Path, PathBuf};

/// An IDX tensor of unsigned bytes.
#[derive(Debug, Clone)]
pub struct IdxU8 {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdxError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: gzip stream is corrupt or truncated ({source}); re-download or re-compress the file")]
    Gzip {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: file is {len} bytes, too short for an IDX header (at least 4 bytes)")]
    TooShort { path: PathBuf, len: usize },
    #[error("{path}: bad magic number {magic:02x?}: an IDX file starts with two zero bytes, a dtype byte and a rank byte")]
    BadMagic { path: PathBuf, magic: [u8; 4] },
    #[error("{path}: dtype 0x{dtype:02x} is not supported: only unsigned bytes (0x08) are")]
    BadDtype { path: PathBuf, dtype: u8 },
    #[error("{path}: expected a rank-{expected} tensor ({what}), found rank {found}")]
    BadRank {
        path: PathBuf,
        expected: usize,
        found: usize,
        what: &'static str,
    },
    #[error("{path}: header declares dimensions {dims:?}, more bytes than any file can hold: the header is corrupt; re-download the file")]
    Overflow { path: PathBuf, dims: Vec<usize> },
    #[error("{path}: header declares dimensions {dims:?} = {expected} data bytes, but the file holds {found}{hint}")]
    Length {
        path: PathBuf,
        dims: Vec<usize>,
        expected: usize,
        found: usize,
        hint: &'static str,
    },
}

impl IdxError {
    pub fn path(&self) -> &Path {
        match self {
            IdxError::Io { path, .. }
            | IdxError::Gzip { path, .. }
            | IdxError::TooShort { path, .. }
            | IdxError::BadMagic { path, .. }
            | IdxError::BadDtype { path, .. }
            | IdxError::BadRank { path, .. }
            | IdxError::Overflow { path, .. }
            | IdxError::Length { path, .. } => path,
        }
    }
}

/// Decompresses `bytes` if they start with the gzip magic, otherwise returns them unchanged.
pub fn maybe_gunzip(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>, IdxError> {
    if bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b {
        let mut out = Vec::with_capacity(bytes.len() * 4);
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|source| IdxError::Gzip {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

/// Parses decompressed IDX bytes. `path` is only used in error messages.
pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<IdxU8, IdxError> {
    let path_buf = || path.to_path_buf();
    if bytes.len() < 4 {
        return Err(IdxError::TooShort {
            path: path_buf(),
            len: bytes.len(),
        });
    }
    let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
    if magic[0] != 0 || magic[1] != 0 || magic[3] == 0 || magic[3] > 4 {
        return Err(IdxError::BadMagic {
            path: path_buf(),
            magic,
        });
    }
    if magic[2] != 0x08 {
        return Err(IdxError::BadDtype {
            path: path_buf(),
            dtype: magic[2],
        });
    }
    let rank = magic[3] as usize;
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(IdxError::Length {
            path: path_buf(),
            dims: vec![],
            expected: header,
            found: bytes.len(),
            hint: " (the header itself is truncated)",
        });
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let Some(expected) = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&e| e <= isize::MAX as usize)
    else {
        return Err(IdxError::Overflow {
            path: path_buf(),
            dims,
        });
    };
    let found = bytes.len() - header;
    if found != expected {
        return Err(IdxError::Length {
            path: path_buf(),
            dims,
            expected,
            found,
            hint: if found < expected {
                ": the file is truncated"
            } else {
                ": the file has trailing bytes"
            },
        });
    }
    let mut data = bytes;
    data.drain(..header);
    Ok(IdxU8 { dims, data })
}

/// Reads an IDX file from disk, gzipped or raw.
pub fn read(path: &Path) -> Result<IdxU8, IdxError> {
    let bytes = std::fs::read(path).map_err(|source| IdxError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, maybe_gunzip(path, bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn parses_a_small_tensor() {
        let t = parse(Path::new("x"), idx(&[2, 3], &[1, 2, 3, 4, 5, 6])).unwrap();
        assert_eq!(t.dims, vec![2, 3]);
        assert_eq!(t.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn rejects_truncation_and_trailing_bytes() {
        let e = parse(Path::new("x"), idx(&[2, 3], &[1, 2, 3])).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = parse(Path::new("x"), idx(&[1], &[1, 2])).unwrap_err();
        assert!(e.to_string().contains("trailing"), "{e}");
    }

    #[test]
    fn rejects_bad_magic_and_dtype() {
        let e = parse(Path::new("x"), vec![1, 2, 3, 4, 5]).unwrap_err();
        assert!(matches!(e, IdxError::BadMagic { .. }), "{e}");
        let e = parse(Path::new("x"), vec![0, 0, 0x0d, 1, 0, 0, 0, 0]).unwrap_err();
        assert!(matches!(e, IdxError::BadDtype { .. }), "{e}");
    }

    #[test]
    fn huge_dims_do_not_overflow() {
        // the header is corrupt, not the file truncated
        let e = parse(Path::new("x"), idx(&[u32::MAX, u32::MAX, u32::MAX], &[])).unwrap_err();
        assert!(matches!(e, IdxError::Overflow { .. }), "{e}");
        assert!(e.to_string().contains("the header is corrupt"), "{e}");
    }
}
