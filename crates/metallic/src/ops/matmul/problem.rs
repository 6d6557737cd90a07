//! `GemmProblem`: the one validated description of a (batched) matrix
//! product that every backend consumes. It is the only place that turns
//! tensor views into m, n, k, leading dimensions, transposes, batch shape and
//! batch strides; a backend never re-derives strides.
//!
//! D[b] = alpha * A[b] · B[b] + beta * C[b], where A[b] is m×k, B[b] is k×n
//! and C[b] = D[b] is m×n (the output is updated in place when beta ≠ 0).
//! `b` runs over `batch_shape` in row-major order.

use crate::dtype::DType;

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
