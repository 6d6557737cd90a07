//! Dequantization of weights, once, at load.

use super::embedding::check_table_dtype;
use super::{blocks_for, check_float, check_rows, key, BLOCK};
use crate::device::cuda::{launch, Arg, CudaBuffer, KernelSource};
use crate::dtype::DType;
use crate::error::{Error, Result};

static SOURCE: KernelSource = KernelSource {
    name: "dequantize",
    text: include_str!("dequantize.cu"),
};

/// Decodes `n` values of `src_dtype` (F32, F16, BF16, Q8_0, Q5_0, Q4_K or
/// Q6_K; `n` a whole number of blocks) into `n` values of `out_dtype`.
pub fn dequantize(
    out: &mut CudaBuffer,
    out_dtype: DType,
    src: &CudaBuffer,
    src_dtype: DType,
    n: usize,
) -> Result<()> {
    check_float(out_dtype, "dequantize out")?;
    check_table_dtype(src_dtype)?;
    if src_dtype.bytes_for(n).is_none() {
        return Err(Error::Shape(format!(
            "{n} values are not whole {src_dtype} blocks"
        )));
    }
    check_rows(src, src_dtype, 1, n, n, "dequantize src")?;
    check_rows(out, out_dtype, 1, n, n, "dequantize out")?;
    if n == 0 {
        return Ok(());
    }
    let device = out.device().clone();
    device.check_buffers(&[src], "dequantize")?;
    let args = [
        Arg::Ptr(out.device_ptr()),
        Arg::Ptr(src.device_ptr()),
        Arg::U64(n as u64),
    ];
    // SAFETY: the arguments follow `dequantize` in dequantize.cu; both buffers
    // were checked to hold n values of their types.
    unsafe {
        launch(
            &device,
            key(&SOURCE, "dequantize", out_dtype, src_dtype),
            (blocks_for(n), 1, 1),
            BLOCK,
            &args,
        )
    }
}
