//! `GemmProblem`: the one validated description of a (batched) matrix
//! product that every backend consumes. It is the only place that turns
//! tensor views into m, n, k, leading dimensions, transposes, batch shape and
//! batch strides; a backend never re-derives strides. What a backend checks
//! against its buffers (`reach`: spans, bounds, the collapsed batch) is
//! written once here too.
//!
//! D[b] = alpha * A[b] · B[b] + beta * C[b], where A[b] is m×k, B[b] is k×n
//! and C[b] = D[b] is m×n (the output is updated in place when beta ≠ 0).
//! `b` runs over `batch_shape` in row-major order.

mod reach;

pub use reach::{BatchDim, Operand, Span};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::layout::broadcast_shapes;
use crate::tensor::Tensor;

/// How one operand's matrices lie in their buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatrixOperand {
    pub dtype: DType,
    /// `true`: element (r, c) is at `offset + r * ld + c` (row-major);
    /// `false`: at `offset + c * ld + r` (column-major, i.e. transposed).
    pub row_major: bool,
    /// Leading dimension in elements, at least the minor extent (padded rows
    /// or columns are allowed). For a quantized type it is a whole number of
    /// blocks, and the operand is column-major B (blocks run along k).
    pub ld: usize,
    /// Element offset of the first matrix in the buffer (a whole number of
    /// blocks for a quantized type).
    pub offset: usize,
    /// Element stride per batch dimension, one per entry of
    /// `GemmProblem::batch_shape`; 0 broadcasts the operand along it.
    pub batch_strides: Vec<usize>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GemmProblem {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// Leading batch dimensions of the output; empty for a plain product.
    pub batch_shape: Vec<usize>,
    pub a: MatrixOperand,
    pub b: MatrixOperand,
    /// The output (and, when beta ≠ 0, the addend).
    pub c: MatrixOperand,
    pub alpha: f32,
    pub beta: f32,
}

impl GemmProblem {
    /// Number of matrices in the batch (1 when unbatched).
    pub fn batch_count(&self) -> usize {
        self.batch_shape.iter().product()
    }

    /// Element offset of matrix `batch_index` of `operand` (batch index in
    /// row-major order over `batch_shape`).
    pub fn batch_offset(&self, operand: &MatrixOperand, batch_index: usize) -> usize {
        let mut rest = batch_index;
        let mut offset = operand.offset;
        for (dim, stride) in self.batch_shape.iter().zip(&operand.batch_strides).rev() {
            offset += (rest % dim) * stride;
            rest /= dim;
        }
        offset
    }
}

/// One operand's matrix dimensions and strides, split from its batch ones.
struct MatrixView<'a> {
    name: &'static str,
    batch_shape: &'a [usize],
    batch_strides: &'a [usize],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatrixView<'a> {
    fn split(name: &'static str, t: &'a Tensor) -> Result<MatrixView<'a>> {
        let rank = t.rank();
        if rank < 2 {
            return Err(Error::Shape(format!(
                "operand `{name}` has shape {:?}; a matrix product needs at least 2 dimensions",
                t.shape()
            )));
        }
        let (shape, strides) = (t.shape(), t.strides());
        Ok(MatrixView {
            name,
            batch_shape: &shape[..rank - 2],
            batch_strides: &strides[..rank - 2],
            rows: shape[rank - 2],
            cols: shape[rank - 1],
            row_stride: strides[rank - 2],
            col_stride: strides[rank - 1],
        })
    }

    /// The stored matrix as row-major (`true`) or column-major, with its
    /// leading dimension. A dimension of size 1 never constrains the other.
    fn storage(&self) -> Result<(bool, usize)> {
        let (rows, cols) = (self.rows, self.cols);
        let (rs, cs) = (self.row_stride, self.col_stride);
        if (cols <= 1 || cs == 1) && (rows <= 1 || rs >= cols) {
            return Ok((true, if rows <= 1 { cols.max(1) } else { rs }));
        }
        if (rows <= 1 || rs == 1) && (cols <= 1 || cs >= rows) {
            return Ok((false, if cols <= 1 { rows.max(1) } else { cs }));
        }
        Err(Error::Layout {
            operand: self.name,
            detail: format!(
                "a {rows}×{cols} matrix with strides ({rs}, {cs}) is neither row-major \
                 (column stride 1, row stride ≥ {cols}) nor column-major (row stride 1, \
                 column stride ≥ {rows})"
            ),
        })
    }

    /// The operand's description under the output's `batch_shape`: its
    /// batch dimensions align on the right, and a missing or size-1
    /// dimension broadcasts (stride 0).
    fn operand(
        &self,
        t: &Tensor,
        transposed: bool,
        batch_shape: &[usize],
    ) -> Result<MatrixOperand> {
        let (stored_row_major, ld) = self.storage()?;
        let pad = batch_shape.len() - self.batch_shape.len();
        let batch_strides = (0..batch_shape.len())
            .map(|i| match i.checked_sub(pad) {
                Some(j) if self.batch_shape[j] != 1 => self.batch_strides[j],
                _ => 0,
            })
            .collect();
        Ok(MatrixOperand {
            dtype: t.dtype(),
            row_major: stored_row_major != transposed,
            ld,
            offset: t.offset(),
            batch_strides,
        })
    }
}

impl GemmProblem {
    /// The output shape of `a · b` (batch dimensions broadcast): the shape a
    /// caller allocates for `c`, whose dtype is `a`'s. Errors on mismatched
    /// K or batch shapes and on operand dtypes no backend takes.
    pub fn output_shape(
        a: &Tensor,
        b: &Tensor,
        transpose_a: bool,
        transpose_b: bool,
    ) -> Result<Vec<usize>> {
        check_input_dtypes(a, b, transpose_b)?;
        let (av, bv) = (MatrixView::split("a", a)?, MatrixView::split("b", b)?);
        let (m, ka) = if transpose_a {
            (av.cols, av.rows)
        } else {
            (av.rows, av.cols)
        };
        let (kb, n) = if transpose_b {
            (bv.cols, bv.rows)
        } else {
            (bv.rows, bv.cols)
        };
        if ka != kb {
            return Err(Error::Shape(format!(
                "a {:?} (transpose_a {transpose_a}) has K = {ka} but b {:?} (transpose_b {transpose_b}) has K = {kb}",
                a.shape(),
                b.shape()
            )));
        }
        let mut shape = broadcast_shapes(av.batch_shape, bv.batch_shape).ok_or_else(|| {
            Error::Shape(format!(
                "batch dimensions {:?} of a and {:?} of b do not broadcast",
                av.batch_shape, bv.batch_shape
            ))
        })?;
        shape.extend([m, n]);
        Ok(shape)
    }

    /// The problem `c = alpha · op(a) · op(b) + beta · c`, where `op` is the
    /// transpose when the flag is set (`a` stored [.., K, M], `b` stored
    /// [.., N, K]). Checks shapes and dtypes, takes every stride from the
    /// views without copying, and rejects layouts no backend can read: an
    /// operand that is neither row- nor column-major, a quantized operand
    /// other than `b` stored [.., N, K], and an output whose elements overlap.
    pub fn from_views(
        a: &Tensor,
        b: &Tensor,
        c: &Tensor,
        transpose_a: bool,
        transpose_b: bool,
        alpha: f32,
        beta: f32,
    ) -> Result<GemmProblem> {
        let shape = GemmProblem::output_shape(a, b, transpose_a, transpose_b)?;
        if c.dtype() != a.dtype() {
            return Err(Error::InvalidArgument(format!(
                "output c is {} but the product of {} activations is {}",
                c.dtype(),
                a.dtype(),
                a.dtype()
            )));
        }
        if c.shape() != shape {
            return Err(Error::Shape(format!(
                "output c has shape {:?}; a {:?} × b {:?} needs {shape:?}",
                c.shape(),
                a.shape(),
                b.shape()
            )));
        }
        let batch_shape = &shape[..shape.len() - 2];
        let (m, n) = (shape[shape.len() - 2], shape[shape.len() - 1]);
        let k = if transpose_a {
            a.shape()[a.rank() - 2]
        } else {
            a.shape()[a.rank() - 1]
        };
        check_disjoint_writes(c)?;
        Ok(GemmProblem {
            m,
            n,
            k,
            batch_shape: batch_shape.to_vec(),
            a: MatrixView::split("a", a)?.operand(a, transpose_a, batch_shape)?,
            b: MatrixView::split("b", b)?.operand(b, transpose_b, batch_shape)?,
            c: MatrixView::split("c", c)?.operand(c, false, batch_shape)?,
            alpha,
            beta,
        })
    }
}

/// A is a plain float; B is a float or a GGUF block type stored with its
/// blocks along K (`[.., N, K]`, i.e. `transpose_b`).
fn check_input_dtypes(a: &Tensor, b: &Tensor, transpose_b: bool) -> Result<()> {
    if a.dtype().is_quantized() {
        return Err(Error::Unsupported(format!(
            "operand `a` is {}: only `b` may be quantized",
            a.dtype()
        )));
    }
    if b.dtype().is_quantized() && !transpose_b {
        return Err(Error::Layout {
            operand: "b",
            detail: format!(
                "{} weights must be stored [.., N, K] and used with transpose_b, so blocks run along K",
                b.dtype()
            ),
        });
    }
    Ok(())
}

/// Every element of the output must be a distinct location, or parallel
/// writers would race: sorted by stride, each dimension must step past
/// everything the smaller-stride dimensions span (interleaved views such as
/// `[heads, seq, dim]` over a `[seq, heads·dim]` buffer pass).
fn check_disjoint_writes(c: &Tensor) -> Result<()> {
    let mut dims: Vec<(usize, usize)> = c
        .strides()
        .iter()
        .zip(c.shape())
        .filter(|(_, &size)| size > 1)
        .map(|(&stride, &size)| (stride, size))
        .collect();
    dims.sort_unstable();
    let mut extent = 1usize;
    for &(stride, size) in &dims {
        if stride < extent {
            return Err(Error::Layout {
                operand: "c",
                detail: format!(
                    "output shape {:?} with strides {:?} writes some elements more than once",
                    c.shape(),
                    c.strides()
                ),
            });
        }
        extent += stride * (size - 1);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
