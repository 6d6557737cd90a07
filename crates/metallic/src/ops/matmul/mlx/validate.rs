//! What the kernels rely on, checked before any runs: one float type, the
//! problem's own checks (leading dimensions, every element inside its
//! buffer), buffers aligned to the element, and output matrices that do not
//! overlap (tasks write them in parallel).

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::matmul::problem::{GemmProblem, Operand};

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
    check_operand(p, Operand::A, a)?;
    check_operand(p, Operand::B, b)?;
    check_operand(p, Operand::C, c)?;
    check_output_disjoint(p)
}

/// Checks that `which`'s matrices lie inside `buffer` (see
/// `GemmProblem::span_within`) and that a float buffer is aligned to its
/// elements.
pub(super) fn check_operand(p: &GemmProblem, which: Operand, buffer: &[u8]) -> Result<()> {
    let dtype = p.operand(which).dtype;
    let size = dtype.block_bytes();
    if dtype.block_size() == 1 && !(buffer.as_ptr() as usize).is_multiple_of(size) {
        return Err(Error::Layout {
            operand: which.name(),
            detail: format!("buffer is not aligned to {size} bytes"),
        });
    }
    p.span_within(which, buffer.len())?;
    Ok(())
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
