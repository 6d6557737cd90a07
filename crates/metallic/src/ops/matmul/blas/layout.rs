//! Where each operand's matrices lie: strides per row and column, the span
//! of elements the whole batch touches, and the checks that keep every
//! access inside the operand's buffer.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::matmul::problem::{GemmProblem, MatrixOperand};

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

/// The elements `[start, end)` of an operand's buffer that the batch reads
/// or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn len(&self) -> usize {
        self.end - self.start
    }
}

/// Checks one operand against the problem and its buffer length in bytes;
/// returns its geometry and span.
pub(super) fn check_operand(
    p: &GemmProblem,
    name: &'static str,
    op: &MatrixOperand,
    rows: usize,
    cols: usize,
    buffer_bytes: usize,
) -> Result<(Geometry, Span)> {
    let layout = |detail: String| Error::Layout {
        operand: name,
        detail,
    };
    if op.batch_strides.len() != p.batch_shape.len() {
        return Err(layout(format!(
            "{} batch strides for {} batch dimensions",
            op.batch_strides.len(),
            p.batch_shape.len()
        )));
    }
    let minor = if op.row_major { cols } else { rows };
    if op.ld < minor.max(1) {
        return Err(layout(format!(
            "leading dimension {} is below the minor extent {minor}",
            op.ld
        )));
    }
    let geometry = Geometry::of(op, rows, cols);
    let overflow = || layout("strides overflow the address space".into());
    let extent = geometry.extent().ok_or_else(overflow)?;
    if extent == 0 || p.batch_count() == 0 {
        return Ok((
            geometry,
            Span {
                start: op.offset,
                end: op.offset,
            },
        ));
    }
    let mut last_batch = op.offset;
    for (&dim, &stride) in p.batch_shape.iter().zip(&op.batch_strides) {
        last_batch = (dim - 1)
            .checked_mul(stride)
            .and_then(|s| s.checked_add(last_batch))
            .ok_or_else(overflow)?;
    }
    let span = Span {
        start: op.offset,
        end: last_batch.checked_add(extent).ok_or_else(overflow)?,
    };
    if op.dtype.is_quantized() {
        check_blocks(op, rows, &geometry, layout)?;
    }
    let need = op.dtype.bytes_for(span.end).ok_or_else(overflow)?;
    if need > buffer_bytes {
        return Err(layout(format!(
            "its matrices reach element {} ({need} bytes of {}), the buffer has {buffer_bytes} bytes",
            span.end, op.dtype
        )));
    }
    Ok((geometry, span))
}

/// A quantized operand is B stored column-major, so its blocks run along k;
/// every column, offset and batch stride must start on a block.
fn check_blocks(
    op: &MatrixOperand,
    k: usize,
    g: &Geometry,
    layout: impl Fn(String) -> Error,
) -> Result<()> {
    let block = op.dtype.block_size();
    if op.row_major {
        return Err(layout(format!(
            "a {} operand must be column-major B (blocks along k)",
            op.dtype
        )));
    }
    let whole = |v: usize| v.is_multiple_of(block);
    if !(whole(k) && whole(g.cs) && whole(op.offset) && op.batch_strides.iter().all(|&s| whole(s)))
    {
        return Err(layout(format!(
            "k {k}, leading dimension {}, offset {} and batch strides {:?} must be multiples of the {} block size {block}",
            op.ld, op.offset, op.batch_strides, op.dtype
        )));
    }
    Ok(())
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
