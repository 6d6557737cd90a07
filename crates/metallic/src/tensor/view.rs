//! Views: new shapes and strides over the same buffer, never a copy. Each
//! checks its arguments and returns an error naming the problem.

use super::{check_block_layout, layout, Tensor};
use crate::error::{Error, Result};
use std::ops::Range;

impl Tensor {
    /// Elements `range` of dimension `dim` (the other dimensions keep their
    /// strides, so slicing an inner dimension leaves padded rows).
    pub fn slice(&self, dim: usize, range: Range<usize>) -> Result<Tensor> {
        let size = self.dim(dim)?;
        if range.start > range.end || range.end > size {
            return Err(Error::Shape(format!(
                "slice {range:?} of dimension {dim} (size {size})"
            )));
        }
        let mut shape = self.shape.clone();
        shape[dim] = range.len();
        self.rebuild(
            shape,
            self.strides.clone(),
            self.offset + range.start * self.strides[dim],
        )
    }

    /// `len` elements of dimension `dim` from `start`.
    pub fn narrow(&self, dim: usize, start: usize, len: usize) -> Result<Tensor> {
        let end = start
            .checked_add(len)
            .ok_or_else(|| Error::Shape(format!("narrow {start}+{len} overflows")))?;
        self.slice(dim, start..end)
    }

    /// Element `index` of dimension `dim`, with that dimension removed (a
    /// row of an embedding table, one head, one batch).
    pub fn select(&self, dim: usize, index: usize) -> Result<Tensor> {
        let view = self.slice(dim, index..index.saturating_add(1))?;
        let mut shape = view.shape.clone();
        let mut strides = view.strides.clone();
        shape.remove(dim);
        strides.remove(dim);
        self.rebuild(shape, strides, view.offset)
    }

    /// Swaps dimensions `d0` and `d1`.
    pub fn transpose(&self, d0: usize, d1: usize) -> Result<Tensor> {
        self.dim(d0)?;
        self.dim(d1)?;
        let mut shape = self.shape.clone();
        let mut strides = self.strides.clone();
        shape.swap(d0, d1);
        strides.swap(d0, d1);
        self.rebuild(shape, strides, self.offset)
    }

    /// Reorders dimensions: dimension `i` of the result is `order[i]` of this
    /// tensor.
    pub fn permute(&self, order: &[usize]) -> Result<Tensor> {
        let mut seen = vec![false; self.rank()];
        let valid = order.len() == self.rank()
            && order
                .iter()
                .all(|&d| d < seen.len() && !std::mem::replace(&mut seen[d], true));
        if !valid {
            return Err(Error::Shape(format!(
                "{order:?} is not a permutation of {} dimensions",
                self.rank()
            )));
        }
        let shape = order.iter().map(|&d| self.shape[d]).collect();
        let strides = order.iter().map(|&d| self.strides[d]).collect();
        self.rebuild(shape, strides, self.offset)
    }

    /// The same elements in row-major order under `shape`, when the strides
    /// allow it without a copy (an error otherwise, e.g. flattening a
    /// transposed or padded view).
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        if layout::checked_numel(shape)? != self.numel() {
            return Err(Error::Shape(format!(
                "cannot reshape {:?} ({} elements) to {shape:?}",
                self.shape,
                self.numel()
            )));
        }
        let strides =
            layout::reshape_strides(&self.shape, &self.strides, shape).ok_or_else(|| {
                Error::Layout {
                    operand: "tensor",
                    detail: format!(
                        "shape {:?} with strides {:?} cannot be viewed as {shape:?} without a copy",
                        self.shape, self.strides
                    ),
                }
            })?;
        self.rebuild(shape.to_vec(), strides, self.offset)
    }

    /// Inserts a dimension of size 1 before dimension `dim` (`dim == rank`
    /// appends).
    pub fn unsqueeze(&self, dim: usize) -> Result<Tensor> {
        if dim > self.rank() {
            return Err(Error::Shape(format!(
                "unsqueeze at {dim} of a rank-{} tensor",
                self.rank()
            )));
        }
        let mut shape = self.shape.clone();
        let mut strides = self.strides.clone();
        let stride = self.strides.get(dim).map_or(1, |&s| s * self.shape[dim]);
        shape.insert(dim, 1);
        strides.insert(dim, stride);
        self.rebuild(shape, strides, self.offset)
    }

    /// Removes dimension `dim`, which must have size 1.
    pub fn squeeze(&self, dim: usize) -> Result<Tensor> {
        if self.dim(dim)? != 1 {
            return Err(Error::Shape(format!(
                "squeeze of dimension {dim} of size {}",
                self.shape[dim]
            )));
        }
        self.select(dim, 0)
    }

    /// Numpy-style broadcast to `shape`: dimensions align on the right, new
    /// leading dimensions and size-1 dimensions get stride 0.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        let fail = || Error::Shape(format!("cannot broadcast {:?} to {shape:?}", self.shape));
        let pad = shape.len().checked_sub(self.rank()).ok_or_else(fail)?;
        let mut strides = vec![0; shape.len()];
        for (i, (&dim, &stride)) in self.shape.iter().zip(&self.strides).enumerate() {
            let target = shape[pad + i];
            if dim == target {
                strides[pad + i] = stride;
            } else if dim != 1 {
                return Err(fail());
            }
        }
        layout::checked_numel(shape)?;
        self.rebuild(shape.to_vec(), strides, self.offset)
    }

    /// A view of the same buffer and dtype; the layout was derived from a
    /// valid one (so it stays in bounds) but may break the quantized-block
    /// rule, which is checked here.
    fn rebuild(&self, shape: Vec<usize>, strides: Vec<usize>, offset: usize) -> Result<Tensor> {
        check_block_layout(self.dtype, &shape, &strides, offset)?;
        Ok(Tensor {
            buffer: self.buffer.clone(),
            dtype: self.dtype,
            shape,
            strides,
            offset,
        })
    }
}
