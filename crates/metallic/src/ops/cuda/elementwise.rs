//! Residual and bias addition, the SwiGLU gate, and rows stored at their
//! positions (the KV cache write).

use super::{blocks_for, check_float, check_rows, key, BatchIndices, BLOCK};
use crate::device::cuda::{launch, u32_of, Arg, CudaBuffer, KernelSource};
use crate::dtype::DType;
use crate::error::{Error, Result};

static SOURCE: KernelSource = KernelSource {
    name: "elementwise",
    text: include_str!("elementwise.cu"),
};

/// A matrix of `rows` × `cols` values whose rows are `row_stride` apart.
#[derive(Clone, Copy, Debug)]
pub struct RowLayout {
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
}

/// x[r, c] += y[r, c] (residual add), or with `y_row_stride` 0, adds one row
/// `y` to every row of x (bias). x has dtype `act`, y dtype `y_dtype`.
pub fn add_rows(
    x: &mut CudaBuffer,
    act: DType,
    shape: RowLayout,
    y: &CudaBuffer,
    y_dtype: DType,
    y_row_stride: usize,
) -> Result<()> {
    check_float(act, "add_rows x")?;
    check_float(y_dtype, "add_rows y")?;
    if shape.rows > 1 && shape.row_stride < shape.cols {
        return Err(Error::InvalidArgument(format!(
            "add_rows: rows of x overlap (row stride {} below {} columns)",
            shape.row_stride, shape.cols
        )));
    }
    check_rows(
        x,
        act,
        shape.rows,
        shape.cols,
        shape.row_stride,
        "add_rows x",
    )?;
    check_rows(
        y,
        y_dtype,
        shape.rows,
        shape.cols,
        y_row_stride,
        "add_rows y",
    )?;
    if shape.rows * shape.cols == 0 {
        return Ok(());
    }
    let device = x.device().clone();
    device.check_buffers(&[y], "add_rows")?;
    let args = [
        Arg::Ptr(x.device_ptr()),
        Arg::Ptr(y.device_ptr()),
        Arg::U32(u32_of(shape.rows, "rows")?),
        Arg::U32(u32_of(shape.cols, "cols")?),
        Arg::U32(u32_of(shape.row_stride, "x row stride")?),
        Arg::U32(u32_of(y_row_stride, "y row stride")?),
    ];
    // SAFETY: the arguments follow `add_rows` in elementwise.cu; both buffers
    // were checked to hold every row the kernel reads or writes.
    unsafe {
        launch(
            &device,
            key(&SOURCE, "add_rows", act, y_dtype),
            (blocks_for(shape.rows * shape.cols), 1, 1),
            BLOCK,
            &args,
        )
    }
}

/// out = silu(gate) · up, elementwise over `rows` contiguous rows of
/// `cols` values, all of dtype `act`.
pub fn swiglu(
    out: &mut CudaBuffer,
    gate: &CudaBuffer,
    up: &CudaBuffer,
    act: DType,
    rows: usize,
    cols: usize,
) -> Result<()> {
    check_float(act, "swiglu")?;
    check_rows(out, act, rows, cols, cols, "swiglu out")?;
    check_rows(gate, act, rows, cols, cols, "swiglu gate")?;
    check_rows(up, act, rows, cols, cols, "swiglu up")?;
    if rows * cols == 0 {
        return Ok(());
    }
    let device = out.device().clone();
    device.check_buffers(&[gate, up], "swiglu")?;
    let stride = u32_of(cols, "cols")?;
    let args = [
        Arg::Ptr(out.device_ptr()),
        Arg::Ptr(gate.device_ptr()),
        Arg::Ptr(up.device_ptr()),
        Arg::U32(u32_of(rows, "rows")?),
        Arg::U32(stride),
        Arg::U32(stride),
        Arg::U32(stride),
        Arg::U32(stride),
    ];
    // SAFETY: the arguments follow `swiglu` in elementwise.cu; the three
    // buffers were checked to hold every row the kernel touches.
    unsafe {
        launch(
            &device,
            key(&SOURCE, "swiglu", act, act),
            (blocks_for(rows * cols), 1, 1),
            BLOCK,
            &args,
        )
    }
}

/// dst row `positions[t]` = src row t (+ `bias`, one f32 row), for the
/// `positions.seq()` rows of `src`: a batch's keys or values written into a
/// cache of `dst_dtype` with rows `dst_row_stride` apart, holding every
/// position below `positions.capacity()`.
#[allow(clippy::too_many_arguments)]
pub fn store_rows(
    dst: &mut CudaBuffer,
    dst_dtype: DType,
    dst_row_stride: usize,
    src: &CudaBuffer,
    src_dtype: DType,
    src_shape: RowLayout,
    bias: Option<&CudaBuffer>,
    positions: &BatchIndices,
) -> Result<()> {
    check_float(dst_dtype, "store_rows dst")?;
    check_float(src_dtype, "store_rows src")?;
    let RowLayout {
        rows,
        cols,
        row_stride,
    } = src_shape;
    if positions.seq() != rows {
        return Err(Error::InvalidArgument(format!(
            "store_rows: positions of {} rows for {rows}",
            positions.seq()
        )));
    }
    if dst_row_stride < cols {
        return Err(Error::InvalidArgument(format!(
            "store_rows: destination rows {dst_row_stride} apart are shorter than {cols}"
        )));
    }
    check_rows(src, src_dtype, rows, cols, row_stride, "store_rows src")?;
    let capacity = positions.capacity();
    check_rows(
        dst,
        dst_dtype,
        capacity,
        cols,
        dst_row_stride,
        "store_rows dst",
    )?;
    if let Some(bias) = bias {
        check_rows(bias, DType::F32, 1, cols, cols, "store_rows bias")?;
    }
    if rows * cols == 0 {
        return Ok(());
    }
    let device = dst.device().clone();
    device.check_buffers(&[src], "store_rows")?;
    if let Some(bias) = bias {
        device.check_buffers(&[bias], "store_rows")?;
    }
    positions.check_device(&device, "store_rows")?;
    let args = [
        Arg::Ptr(dst.device_ptr()),
        Arg::Ptr(src.device_ptr()),
        // The kernel reads the bias only when the flag is set.
        Arg::Ptr(bias.map_or(0, |b| b.device_ptr())),
        Arg::U32(u32::from(bias.is_some())),
        Arg::Ptr(positions.positions_ptr()),
        Arg::U32(u32_of(rows, "rows")?),
        Arg::U32(u32_of(cols, "cols")?),
        Arg::U32(u32_of(dst_row_stride, "dst row stride")?),
        Arg::U32(u32_of(row_stride, "src row stride")?),
    ];
    // SAFETY: the arguments follow `store_rows` in elementwise.cu; src holds
    // every row read, dst every position below the capacity `positions`
    // keeps its values under, and the bias (when given) one row.
    unsafe {
        launch(
            &device,
            key(&SOURCE, "store_rows", dst_dtype, src_dtype),
            (blocks_for(rows * cols), 1, 1),
            BLOCK,
            &args,
        )
    }
}
