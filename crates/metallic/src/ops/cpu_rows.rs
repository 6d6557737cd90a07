//! Plumbing shared by the row-wise CPU kernels: an f32 tensor seen as rows
//! (the innermost dimension contiguous, outer dimensions any strides, zero
//! strides included), read through a borrow guard, and an output whose rows
//! are split into disjoint slices and written in parallel.

use crate::device::{HostRead, HostWrite};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::{layout::StridedIndices, Tensor};
use rayon::prelude::*;

/// Element offsets of each row of `t` (row-major over the outer dimensions)
/// and the row length; `t` must be f32 with a contiguous innermost dimension.
fn row_offsets(t: &Tensor, operand: &'static str) -> Result<(Vec<usize>, usize)> {
    if t.dtype() != DType::F32 {
        return Err(Error::Unsupported(format!(
            "operand `{operand}` is {}; this operation takes f32",
            t.dtype()
        )));
    }
    let rank = t.rank();
    if rank == 0 {
        return Err(Error::Shape(format!(
            "operand `{operand}` is a scalar; rows need at least one dimension"
        )));
    }
    let len = t.shape()[rank - 1];
    if len > 1 && t.strides()[rank - 1] != 1 {
        return Err(Error::Layout {
            operand,
            detail: format!(
                "innermost stride {} is not 1 (strides {:?})",
                t.strides()[rank - 1],
                t.strides()
            ),
        });
    }
    let outer = StridedIndices::new(&t.shape()[..rank - 1], &t.strides()[..rank - 1], t.offset());
    Ok((outer.collect(), len))
}

/// The rows of an f32 tensor being read.
pub(crate) struct Rows<'g> {
    data: &'g [f32],
    offsets: Vec<usize>,
    len: usize,
}

impl<'g> Rows<'g> {
    /// Rows of `t`, whose buffer `guard` is a read borrow of.
    pub(crate) fn new(guard: &'g HostRead<'_>, t: &Tensor, operand: &'static str) -> Result<Self> {
        let (offsets, len) = row_offsets(t, operand)?;
        Ok(Rows {
            data: as_f32(guard, operand)?,
            offsets,
            len,
        })
    }

    /// Row `i` (views are bounds-checked when made, so every row is inside).
    pub(crate) fn row(&self, i: usize) -> &'g [f32] {
        let start = self.offsets[i];
        &self.data[start..start + self.len]
    }
}

/// Runs `kernel(row_index, row)` over every row of `out`, in parallel on the
/// current rayon pool. The rows must not overlap (a broadcast or otherwise
/// self-overlapping output is an error); each is handed out exactly once.
pub(crate) fn write_rows(
    guard: &mut HostWrite<'_>,
    out: &Tensor,
    kernel: impl Fn(usize, &mut [f32]) + Sync,
) -> Result<()> {
    let (offsets, len) = row_offsets(out, "out")?;
    let data: &mut [f32] =
        bytemuck::try_cast_slice_mut(&mut guard[..]).map_err(|e| Error::Layout {
            operand: "out",
            detail: format!("buffer is not f32-aligned: {e}"),
        })?;
    let mut rows = disjoint_rows(data, &offsets, len)?;
    // Short rows are batched per task so the pool's overhead stays small.
    let min_rows = (4096 / len.max(1)).max(1);
    rows.par_iter_mut()
        .with_min_len(min_rows)
        .for_each(|(i, row)| kernel(*i, row));
    Ok(())
}

/// Splits `data` into the rows at `offsets`, each `len` long, paired with
/// its row index; overlapping rows are an error.
fn disjoint_rows<'d>(
    data: &'d mut [f32],
    offsets: &[usize],
    len: usize,
) -> Result<Vec<(usize, &'d mut [f32])>> {
    let mut order: Vec<usize> = (0..offsets.len()).collect();
    order.sort_unstable_by_key(|&i| offsets[i]);
    let overlap = || Error::Layout {
        operand: "out",
        detail: "rows overlap (a broadcast or self-overlapping view cannot be written)".into(),
    };
    let mut rows = Vec::with_capacity(order.len());
    let mut rest = data;
    let mut consumed = 0usize;
    for i in order {
        let gap = offsets[i].checked_sub(consumed).ok_or_else(overlap)?;
        if gap + len > rest.len() {
            return Err(overlap());
        }
        let (_, tail) = std::mem::take(&mut rest).split_at_mut(gap);
        let (row, tail) = tail.split_at_mut(len);
        rows.push((i, row));
        rest = tail;
        consumed = offsets[i] + len;
    }
    Ok(rows)
}

fn as_f32<'g>(bytes: &'g [u8], operand: &'static str) -> Result<&'g [f32]> {
    bytemuck::try_cast_slice(bytes).map_err(|e| Error::Layout {
        operand,
        detail: format!("buffer is not f32-aligned: {e}"),
    })
}

/// Checks that `t` has exactly `shape`.
pub(crate) fn expect_shape(t: &Tensor, shape: &[usize], operand: &'static str) -> Result<()> {
    if t.shape() != shape {
        return Err(Error::Shape(format!(
            "operand `{operand}` has shape {:?}, expected {shape:?}",
            t.shape()
        )));
    }
    Ok(())
}
