//! Operands the `gemm` crate cannot take as they are (bf16, or a mix of
//! float types) are converted to f32 over the span the batch touches,
//! keeping their layout; a converted output is written back to its own type
//! element by element, so padding between rows is never overwritten.

use std::ops::Deref;
use std::sync::Arc;

use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};

use super::layout::Geometry;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::matmul::problem::Span;

/// An operand's span as f32 values: the buffer itself, a per-call
/// conversion, or a cached dequantized weight.
pub(super) enum F32Values<'a> {
    Borrowed(&'a [f32]),
    Converted(Vec<f32>),
    Cached(Arc<Vec<f32>>),
}

impl Deref for F32Values<'_> {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match self {
            F32Values::Borrowed(v) => v,
            F32Values::Converted(v) => v,
            F32Values::Cached(v) => v,
        }
    }
}

/// The elements of `span` of a plain-float buffer as f32.
pub(super) fn widen<'a>(
    name: &'static str,
    dtype: DType,
    bytes: &'a [u8],
    span: Span,
) -> Result<F32Values<'a>> {
    let size = dtype.block_bytes();
    let bytes = &bytes[span.start * size..span.end * size];
    Ok(match dtype {
        DType::F32 => F32Values::Borrowed(elements(name, bytes)?),
        DType::F16 => {
            let mut out = vec![0.0; span.len()];
            elements::<f16>(name, bytes)?.convert_to_f32_slice(&mut out);
            F32Values::Converted(out)
        }
        DType::BF16 => {
            let mut out = vec![0.0; span.len()];
            elements::<bf16>(name, bytes)?.convert_to_f32_slice(&mut out);
            F32Values::Converted(out)
        }
        other => {
            return Err(Error::Unsupported(format!(
                "operand `{name}` of type {other} cannot be widened"
            )))
        }
    })
}

/// The output's span as f32: its current values when they are needed
/// (β ≠ 0), zeros otherwise, so that NaN in an output never read stays out.
pub(super) fn output_scratch(
    dtype: DType,
    bytes: &[u8],
    span: Span,
    read: bool,
) -> Result<Vec<f32>> {
    if read {
        return Ok(match widen("c", dtype, bytes, span)? {
            F32Values::Converted(v) => v,
            other => other.to_vec(),
        });
    }
    Ok(vec![0.0; span.len()])
}

/// Writes the m×n elements of each output matrix (starting at the absolute
/// element offsets `starts`) from `values`, which holds the span from
/// `span.start`, into the output buffer in its own type.
pub(super) fn write_output(
    dtype: DType,
    bytes: &mut [u8],
    span: Span,
    values: &[f32],
    g: &Geometry,
    starts: impl Iterator<Item = usize>,
) -> Result<()> {
    let size = dtype.block_bytes();
    let out: &mut [u16] = bytemuck::try_cast_slice_mut(&mut bytes[..span.end * size])
        .map_err(|_| misaligned("c", size))?;
    let encode: fn(f32) -> u16 = match dtype {
        DType::F16 => |v| f16::from_f32(v).to_bits(),
        DType::BF16 => |v| bf16::from_f32(v).to_bits(),
        other => {
            return Err(Error::Unsupported(format!(
                "output type {other} cannot be narrowed to"
            )))
        }
    };
    for start in starts {
        for row in 0..g.rows {
            for col in 0..g.cols {
                let at = g.element(start, row, col);
                out[at] = encode(values[at - span.start]);
            }
        }
    }
    Ok(())
}

/// A byte slice as elements of `T`; the buffer must be aligned to them.
pub(super) fn elements<'a, T: bytemuck::Pod>(
    name: &'static str,
    bytes: &'a [u8],
) -> Result<&'a [T]> {
    bytemuck::try_cast_slice(bytes).map_err(|_| misaligned(name, size_of::<T>()))
}

pub(super) fn elements_mut<'a, T: bytemuck::Pod>(
    name: &'static str,
    bytes: &'a mut [u8],
) -> Result<&'a mut [T]> {
    bytemuck::try_cast_slice_mut(bytes).map_err(|_| misaligned(name, size_of::<T>()))
}

fn misaligned(name: &'static str, size: usize) -> Error {
    Error::Layout {
        operand: name,
        detail: format!("its buffer is not aligned to its {size}-byte elements"),
    }
}
