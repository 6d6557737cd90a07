//! Where each operand's matrices lie for the `gemm` crate: strides per row
//! and column, and whether the output's elements are distinct. The checks
//! that keep every access inside a buffer are the problem's
//! (`GemmProblem::span_within`).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::matmul::problem::{GemmProblem, MatrixOperand, Operand, Span};

/// An operand's logical size (rows × cols, after its transpose) and strides.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl Geometry {
    pub fn of(op: &MatrixOperand, rows: usize, cols: usize) -> Geometry {
        let (rs, cs) = if op.row_major { (op.ld, 1) } else { (1, op.ld) };
        Geometry { rows, cols, rs, cs }
    }

    /// Index of element (row, col) of the matrix starting at `offset`.
    pub fn element(&self, offset: usize, row: usize, col: usize) -> usize {
        offset + row * self.rs + col * self.cs
    }

    /// Elements from a matrix's first to one past its last (0 when empty).
    pub fn extent(&self) -> Option<usize> {
        if self.rows == 0 || self.cols == 0 {
            return Some(0);
        }
        (self.rows - 1)
            .checked_mul(self.rs)?
            .checked_add((self.cols - 1).checked_mul(self.cs)?)?
            .checked_add(1)
    }
}

/// One operand's geometry and the span of its buffer the batch reaches,
/// checked against the buffer's length in bytes (`GemmProblem::span_within`).
pub(super) fn check_operand(
    p: &GemmProblem,
    which: Operand,
    buffer_bytes: usize,
) -> Result<(Geometry, Span)> {
    let span = p.span_within(which, buffer_bytes)?;
    let (rows, cols) = p.extent(which);
    Ok((Geometry::of(p.operand(which), rows, cols), span))
}

/// Whether distinct (batch, row, column) indices always reach distinct
/// elements, so that work on disjoint index ranges writes disjoint memory.
/// Sufficient test: with the dimensions ordered by stride, each stride
/// exceeds the farthest offset the smaller ones reach.
pub(super) fn is_injective(p: &GemmProblem, op: &MatrixOperand, g: &Geometry) -> bool {
    let mut dims: Vec<(usize, usize)> = p
        .batch_shape
        .iter()
        .zip(&op.batch_strides)
        .map(|(&extent, &stride)| (stride, extent))
        .chain([(g.rs, g.rows), (g.cs, g.cols)])
        .filter(|&(_, extent)| extent > 1)
        .collect();
    dims.sort_unstable();
    let mut reach = 0usize;
    for (stride, extent) in dims {
        if stride <= reach {
            return false;
        }
        match (extent - 1)
            .checked_mul(stride)
            .and_then(|s| s.checked_add(reach))
        {
            Some(r) => reach = r,
            None => return false,
        }
    }
    true
}

/// The dtypes a backend may see for A and C: plain floats.
pub(super) fn check_float(name: &'static str, dtype: DType) -> Result<()> {
    match dtype {
        DType::F32 | DType::F16 | DType::BF16 => Ok(()),
        other => Err(Error::Unsupported(format!(
            "operand `{name}` of type {other}: only B may be quantized"
        ))),
    }
}
