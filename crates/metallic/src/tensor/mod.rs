//! `Tensor`: a typed, strided view (shape, strides and offset in elements)
//! over a shared device `Buffer`. Views never copy; host constructors and
//! `to_*_vec` are the ways in and out.
//!
//! Quantized tensors keep whole blocks along their innermost dimension:
//! that dimension is contiguous and a whole number of blocks, and every
//! other stride and the offset are whole blocks, so views may rearrange only
//! outer dimensions and slice the innermost one only at block boundaries.

mod access;
mod host;
pub mod layout;
mod matmul_arg;
mod transfer;
mod view;

pub use matmul_arg::MatmulArg;

use crate::device::{Buffer, Device};
use crate::dtype::DType;
use crate::error::{Error, Result};
use std::sync::Arc;

/// A strided view over a shared buffer. Cloning is cheap (the buffer is
/// shared, not copied).
#[derive(Clone)]
pub struct Tensor {
    buffer: Arc<Buffer>,
    dtype: DType,
    shape: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
}

impl Tensor {
    /// A view over `buffer`, checked: every element lies inside the buffer
    /// and a quantized view keeps whole blocks along its innermost dimension.
    pub fn from_parts(
        buffer: Arc<Buffer>,
        dtype: DType,
        shape: &[usize],
        strides: &[usize],
        offset: usize,
    ) -> Result<Tensor> {
        if shape.len() != strides.len() {
            return Err(Error::Shape(format!(
                "shape {shape:?} and strides {strides:?} differ in rank"
            )));
        }
        layout::checked_numel(shape)?;
        check_block_layout(dtype, shape, strides, offset)?;
        if let Some(last) = layout::max_element_index(shape, strides, offset)? {
            let capacity = buffer.len() / dtype.block_bytes() * dtype.block_size();
            if last >= capacity {
                return Err(Error::Shape(format!(
                    "view {shape:?} with strides {strides:?} at offset {offset} reaches element {last}, \
                     beyond the buffer's {capacity} {dtype} elements"
                )));
            }
        }
        Ok(Tensor {
            buffer,
            dtype,
            shape: shape.to_vec(),
            strides: strides.to_vec(),
            offset,
        })
    }

    /// A view sharing this tensor's buffer with another layout, checked like
    /// `from_parts`.
    pub fn as_strided(&self, shape: &[usize], strides: &[usize], offset: usize) -> Result<Tensor> {
        Tensor::from_parts(self.buffer.clone(), self.dtype, shape, strides, offset)
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Strides in elements, one per dimension.
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }

    /// Offset of the first element in the buffer, in elements.
    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// Size of dimension `dim`, or a shape error when it does not exist.
    pub fn dim(&self, dim: usize) -> Result<usize> {
        self.shape.get(dim).copied().ok_or_else(|| {
            Error::Shape(format!("dimension {dim} of a rank-{} tensor", self.rank()))
        })
    }

    /// Number of elements (checked not to overflow when the view was made).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn buffer(&self) -> &Arc<Buffer> {
        &self.buffer
    }

    pub fn device(&self) -> Device {
        self.buffer.device()
    }

    /// Whether both tensors view the same buffer.
    pub fn shares_buffer(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.buffer, &other.buffer)
    }

    /// Whether the elements lie in row-major order with no gaps.
    pub fn is_contiguous(&self) -> bool {
        let mut expected = 1usize;
        for (&dim, &stride) in self.shape.iter().zip(&self.strides).rev() {
            if dim != 1 && stride != expected {
                return false;
            }
            expected = expected.saturating_mul(dim);
        }
        true
    }

    /// Element indices of the view in row-major order of its shape.
    pub fn element_indices(&self) -> layout::StridedIndices<'_> {
        layout::StridedIndices::new(&self.shape, &self.strides, self.offset)
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tensor")
            .field("dtype", &self.dtype)
            .field("shape", &self.shape)
            .field("strides", &self.strides)
            .field("offset", &self.offset)
            .field("buffer", &self.buffer)
            .finish()
    }
}

/// Checks that a quantized layout keeps whole, contiguous blocks along the
/// innermost dimension (plain float layouts always pass).
fn check_block_layout(
    dtype: DType,
    shape: &[usize],
    strides: &[usize],
    offset: usize,
) -> Result<()> {
    let block = dtype.block_size();
    if block == 1 {
        return Ok(());
    }
    let bad = |detail: String| {
        Err(Error::Layout {
            operand: "tensor",
            detail: format!("{dtype}: {detail}"),
        })
    };
    let (Some(&inner), Some(&inner_stride)) = (shape.last(), strides.last()) else {
        return bad("a quantized tensor needs at least one dimension".into());
    };
    if inner % block != 0 {
        return bad(format!(
            "innermost dimension {inner} is not a whole number of {block}-value blocks"
        ));
    }
    if inner_stride != 1 && inner > 1 {
        return bad(format!(
            "innermost stride {inner_stride} is not 1: blocks must stay contiguous"
        ));
    }
    let outer = &strides[..strides.len() - 1];
    if !offset.is_multiple_of(block) || outer.iter().any(|s| !s.is_multiple_of(block)) {
        return bad(format!(
            "offset {offset} and strides {strides:?} must be whole blocks of {block} values"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
