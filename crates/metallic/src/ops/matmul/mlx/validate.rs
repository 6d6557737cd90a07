//! What the kernels rely on, checked before any runs: one float type,
//! leading dimensions at least the minor extent, every element inside its
//! buffer (with overflow-checked arithmetic), buffers aligned to the
//! element, and output matrices that do not overlap (tasks write them in
//! parallel).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::matmul::{GemmProblem, MatrixOperand};

pub(super) fn check(p: &GemmProblem, a: &[u8], b: &[u8], c: &[u8]) -> Result<()> {
    let dtype = p.c.dtype;
    if !matches!(dtype, DType::F32 | DType::F16 | DType::BF16) {
        return Err(Error::Unsupported(format!(
            "the mlx CPU kernels write F32, F16 or BF16 outputs, not {dtype}"
        )));
    }
    for (name, operand) in [("a", &p.a), ("b", &p.b)] {
        if operand.dtype != dtype {
            return Err(Error::Unsupported(format!(
                "the mlx CPU kernels need one float type: operand `{name}` is {} but the output is {dtype}",
                operand.dtype
            )));
        }
    }
    check_operand("a", &p.a, p.m, p.k, a, &p.batch_shape)?;
    check_operand("b", &p.b, p.k, p.n, b, &p.batch_shape)?;
    check_operand("c", &p.c, p.m, p.n, c, &p.batch_shape)?;
    check_output_disjoint(p)
}

/// Checks one operand's rank, leading dimension, alignment and extent for
/// rows×cols matrices over `batch_shape`.
pub(super) fn check_operand(
    name: &'static str,
    operand: &MatrixOperand,
    rows: usize,
    cols: usize,
    buffer: &[u8],
    batch_shape: &[usize],
) -> Result<()> {
    let layout = |detail: String| Error::Layout {
        operand: name,
        detail,
    };
    if operand.batch_strides.len() != batch_shape.len() {
        return Err(Error::Shape(format!(
            "operand `{name}` has {} batch strides for {} batch dimensions",
            operand.batch_strides.len(),
            batch_shape.len()
        )));
    }
    let minor = if operand.row_major { cols } else { rows };
    if operand.ld < minor {
        return Err(layout(format!(
            "leading dimension {} is less than the minor extent {minor}",
            operand.ld
        )));
    }
    let size = operand.dtype.block_bytes();
    if operand.dtype.block_size() == 1 && !(buffer.as_ptr() as usize).is_multiple_of(size) {
        return Err(layout(format!("buffer is not aligned to {size} bytes")));
    }
    if rows == 0 || cols == 0 || batch_shape.contains(&0) {
        return Ok(());
    }
    let last = last_element(operand, rows, cols, batch_shape)
        .ok_or_else(|| layout("element offsets overflow".into()))?;
    let held = buffer.len() / size * operand.dtype.block_size();
    if last >= held {
        return Err(layout(format!(
            "reaches element {last} but the buffer holds {held} {} elements",
            operand.dtype
        )));
    }
    Ok(())
}

/// Index of the operand's last element (the largest index it touches).
fn last_element(
    operand: &MatrixOperand,
    rows: usize,
    cols: usize,
    batch_shape: &[usize],
) -> Option<usize> {
    let mut last = operand.offset;
    for (&dim, &stride) in batch_shape.iter().zip(&operand.batch_strides) {
        last = last.checked_add((dim - 1).checked_mul(stride)?)?;
    }
    let (row_stride, col_stride) = if operand.row_major {
        (operand.ld, 1)
    } else {
        (1, operand.ld)
    };
    last.checked_add((rows - 1).checked_mul(row_stride)?)?
        .checked_add((cols - 1).checked_mul(col_stride)?)
}

/// Sufficient for output elements that never alias (tasks write them in
/// parallel): with every dimension of C (batch dimensions, rows, columns)
/// sorted by stride, each stride steps past everything the smaller ones
/// reach. Interleaved batches pass (an attention output `[seq, heads·d]`
/// written head by head has batch stride d inside rows of ld = heads·d).
fn check_output_disjoint(p: &GemmProblem) -> Result<()> {
    let c = &p.c;
    let (row_stride, col_stride) = if c.row_major { (c.ld, 1) } else { (1, c.ld) };
    let mut dims: Vec<(usize, usize)> = p
        .batch_shape
        .iter()
        .zip(&c.batch_strides)
        .map(|(&dim, &stride)| (stride, dim))
        .chain([(row_stride, p.m), (col_stride, p.n)])
        .filter(|&(_, dim)| dim > 1)
        .collect();
    dims.sort_unstable();
    let mut reach = 0usize;
    for (stride, dim) in dims {
        if stride <= reach {
            return Err(Error::Layout {
                operand: "c",
                detail: format!(
                    "output elements overlap: a dimension of {dim} with stride {stride} lands \
                     within the {} elements the smaller strides reach",
                    reach + 1
                ),
            });
        }
        reach = stride
            .checked_mul(dim - 1)
            .and_then(|span| span.checked_add(reach))
            .ok_or_else(|| Error::Layout {
                operand: "c",
                detail: "element offsets overflow".into(),
            })?;
    }
    Ok(())
}
