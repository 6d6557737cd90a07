//! RMSNorm over the rows of a matrix.

use super::{check_float, check_rows, key, RowLayout, BLOCK};
use crate::device::cuda::{launch, u32_of, Arg, CudaBuffer, KernelSource};
use crate::dtype::DType;
use crate::error::{Error, Result};

static SOURCE: KernelSource = KernelSource {
    name: "rms_norm",
    text: include_str!("rms_norm.cu"),
};

/// out[r] = x[r] / sqrt(mean(x[r]²) + eps) · weight, for each row of x
/// (`shape`); out is contiguous rows of the same dtype `act`; weight holds
/// `shape.cols` values of `weight_dtype`.
pub fn rms_norm(
    out: &mut CudaBuffer,
    x: &CudaBuffer,
    act: DType,
    shape: RowLayout,
    weight: &CudaBuffer,
    weight_dtype: DType,
    eps: f32,
) -> Result<()> {
    check_float(act, "rms_norm x")?;
    check_float(weight_dtype, "rms_norm weight")?;
    if !(eps >= 0.0 && eps.is_finite()) {
        return Err(Error::InvalidArgument(format!("rms_norm eps = {eps}")));
    }
    check_rows(
        x,
        act,
        shape.rows,
        shape.cols,
        shape.row_stride,
        "rms_norm x",
    )?;
    check_rows(out, act, shape.rows, shape.cols, shape.cols, "rms_norm out")?;
    check_rows(weight, weight_dtype, 1, shape.cols, 0, "rms_norm weight")?;
    if shape.rows * shape.cols == 0 {
        return Ok(());
    }
    let device = out.device().clone();
    device.check_buffers(&[x, weight], "rms_norm")?;
    let args = [
        Arg::Ptr(out.device_ptr()),
        Arg::Ptr(x.device_ptr()),
        Arg::Ptr(weight.device_ptr()),
        Arg::U32(u32_of(shape.cols, "cols")?),
        Arg::U32(u32_of(shape.row_stride, "x row stride")?),
        Arg::U32(u32_of(shape.cols, "out row stride")?),
        Arg::F32(eps),
    ];
    // SAFETY: the arguments follow `rms_norm` in rms_norm.cu; one block per
    // row, and all three buffers were checked to hold what they are read or
    // written at.
    unsafe {
        launch(
            &device,
            key(&SOURCE, "rms_norm", act, weight_dtype),
            (u32_of(shape.rows, "rows")?, 1, 1),
            BLOCK,
            &args,
        )
    }
}
