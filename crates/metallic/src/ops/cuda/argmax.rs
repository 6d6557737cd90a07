//! Greedy sampling on the device: argmax of each row of logits.

use super::{check_float, check_rows, key, BLOCK};
use crate::device::cuda::{launch, u32_of, Arg, CudaBuffer, KernelSource};
use crate::dtype::DType;
use crate::error::{Error, Result};

static SOURCE: KernelSource = KernelSource {
    name: "argmax",
    text: include_str!("argmax.cu"),
};

/// Writes into `out` (u32 per row) the index of each row's largest logit:
/// the lowest index among ties; NaN never wins (an all-NaN row gives 0).
pub fn argmax(
    out: &mut CudaBuffer,
    logits: &CudaBuffer,
    act: DType,
    rows: usize,
    vocab: usize,
    row_stride: usize,
) -> Result<()> {
    check_float(act, "argmax")?;
    if vocab == 0 {
        return Err(Error::InvalidArgument("argmax over an empty row".into()));
    }
    check_rows(logits, act, rows, vocab, row_stride, "argmax logits")?;
    if out.len() < rows * 4 {
        return Err(Error::Shape(format!(
            "argmax: {rows} indices need {} bytes, buffer holds {}",
            rows * 4,
            out.len()
        )));
    }
    if rows == 0 {
        return Ok(());
    }
    let device = out.device().clone();
    device.check_buffers(&[logits], "argmax")?;
    let args = [
        Arg::Ptr(out.device_ptr()),
        Arg::Ptr(logits.device_ptr()),
        Arg::U32(u32_of(vocab, "vocab")?),
        Arg::U32(u32_of(row_stride, "row stride")?),
    ];
    // SAFETY: the arguments follow `argmax` in argmax.cu; one block of 256
    // (a power of two, within the kernel's 1024 slots) per row; logits and
    // out were checked to hold every row.
    unsafe {
        launch(
            &device,
            key(&SOURCE, "argmax", act, act),
            (u32_of(rows, "rows")?, 1, 1),
            BLOCK,
            &args,
        )
    }
}
