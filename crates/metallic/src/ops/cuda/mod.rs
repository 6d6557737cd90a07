//! The GPU ops of the Qwen2 forward pass, one CUDA C++ source per op family
//! beside the Rust that launches it. Each launcher is the safe wrapper over
//! its kernel: it checks dtypes, sizes and strides against the buffers before
//! queuing the launch on the device's stream.
//!
//! Activations are F32, F16 or BF16 (arithmetic in f32); a second operand
//! (weights, bias, table, KV cache) may have another float type, and tables
//! and weights to dequantize may be quantized.

mod argmax;
mod attention;
mod dequantize;
mod elementwise;
mod embedding;
mod indices;
mod rms_norm;
mod rope;

pub use argmax::argmax;
pub use attention::{attention, AttentionShape};
pub use dequantize::dequantize;
pub use elementwise::{add_rows, store_rows, swiglu, RowLayout};
pub use embedding::embedding;
pub use indices::BatchIndices;
pub use rms_norm::rms_norm;
pub use rope::{rope, RopeShape};

use std::borrow::Cow;

use crate::device::cuda::{CudaBuffer, KernelKey, KernelSource};
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Threads per block for the simple kernels.
const BLOCK: u32 = 256;

/// Fails unless `dtype` is an activation type.
fn check_float(dtype: DType, what: &str) -> Result<()> {
    match dtype {
        DType::F32 | DType::F16 | DType::BF16 => Ok(()),
        other => Err(Error::Unsupported(format!(
            "{what} of dtype {other} on CUDA (F32, F16 or BF16 only)"
        ))),
    }
}

/// Fails unless `buffer` holds `rows` rows of `cols` values of `dtype`,
/// `row_stride` values apart (the last row need not be padded).
fn check_rows(
    buffer: &CudaBuffer,
    dtype: DType,
    rows: usize,
    cols: usize,
    row_stride: usize,
    what: &str,
) -> Result<()> {
    if rows > 1 && row_stride < cols && row_stride != 0 {
        return Err(Error::InvalidArgument(format!(
            "{what}: row stride {row_stride} is below the row length {cols}"
        )));
    }
    let needed = rows
        .saturating_sub(1)
        .checked_mul(row_stride)
        .and_then(|v| v.checked_add(cols))
        .and_then(|n| dtype.bytes_for(n));
    match needed {
        Some(bytes) if bytes <= buffer.len() => Ok(()),
        Some(bytes) => Err(Error::Shape(format!(
            "{what}: needs {bytes} bytes, buffer holds {}",
            buffer.len()
        ))),
        None => Err(Error::Shape(format!(
            "{what}: {rows} rows of {cols} {dtype} values overflow or split a block"
        ))),
    }
}

/// The key of `entry` in `source` for the given types.
fn key(source: &'static KernelSource, entry: &'static str, act: DType, aux: DType) -> KernelKey {
    KernelKey {
        source,
        entry: Cow::Borrowed(entry),
        act,
        aux,
        param: 0,
        flags: Cow::Borrowed(""),
    }
}

/// Blocks for a grid-stride loop over `n` elements.
fn blocks_for(n: usize) -> u32 {
    n.div_ceil(BLOCK as usize).clamp(1, 65_536) as u32
}
