//! One entry of a GGUF file's tensor index: name, dimensions, element type
//! and where the bytes lie.

use super::cursor::Cursor;
use crate::dtype::DType;
use crate::error::{Error, Result};

/// GGUF tensors have at most four dimensions (ggml's `GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// Dimensions in GGUF order: the fastest-varying (row length) first.
    pub dims: Vec<u64>,
    pub dtype: DType,
    /// Start of the tensor's bytes, relative to the data section.
    pub offset: u64,
    /// Start of the tensor's bytes in the file.
    pub file_offset: u64,
    /// Size of the tensor's bytes.
    pub bytes: usize,
}

impl TensorInfo {
    /// Number of elements (the product of the dimensions; checked when read).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Elements per row: the first (fastest) dimension, 1 for a scalar.
    pub fn row_len(&self) -> u64 {
        self.dims.first().copied().unwrap_or(1)
    }

    /// Number of rows: the product of every dimension after the first.
    pub fn rows(&self) -> u64 {
        self.dims.iter().skip(1).product()
    }

    /// Bytes per row (rows hold whole quantization blocks; checked when read).
    pub fn row_bytes(&self) -> usize {
        self.bytes / self.rows() as usize
    }

    /// Dimensions outermost first, as a row-major shape is written.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }
}

/// Reads one tensor index entry and checks it on its own: at most
/// [`MAX_DIMS`] nonzero dimensions whose product fits, a known type, and
/// rows of whole blocks. `file_offset` is left 0: the data section's start
/// is known only after the whole index.
pub(crate) fn read_tensor_info(cur: &mut Cursor<'_>, index: usize) -> Result<TensorInfo> {
    let name = cur.string(&format!("name of tensor {index}"))?;
    let bad = |detail: String| Error::Format(format!("tensor `{name}`: {detail}"));
    let n_dims = cur.u32(&format!("dimension count of `{name}`"))? as usize;
    if n_dims > MAX_DIMS {
        return Err(bad(format!("{n_dims} dimensions (at most {MAX_DIMS})")));
    }
    let mut dims = Vec::with_capacity(n_dims);
    for _ in 0..n_dims {
        dims.push(cur.u64(&format!("dimensions of `{name}`"))?);
    }
    let type_id = cur.u32(&format!("type of `{name}`"))?;
    let offset = cur.u64(&format!("data offset of `{name}`"))?;

    let dtype =
        DType::from_gguf_id(type_id).map_err(|_| bad(format!("unknown type id {type_id}")))?;
    if dims.contains(&0) {
        return Err(bad(format!("zero-sized dimension in {dims:?}")));
    }
    let n_elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| bad(format!("dimensions {dims:?} overflow")))?;
    let row_len = dims.first().copied().unwrap_or(1);
    if row_len % dtype.block_size() as u64 != 0 {
        return Err(bad(format!(
            "row length {row_len} is not a multiple of {dtype}'s block size {}",
            dtype.block_size()
        )));
    }
    let bytes = dtype
        .bytes_for(n_elements)
        .ok_or_else(|| bad(format!("byte size of {dims:?} {dtype} overflows")))?;
    Ok(TensorInfo {
        name,
        dims,
        dtype,
        offset,
        file_offset: 0,
        bytes,
    })
}
