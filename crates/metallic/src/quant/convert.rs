//! Whole-tensor conversions between block formats and floats: the public
//! dequantize and quantize calls, with their length checks.

use super::{kquants, legacy};
use crate::dtype::DType;
use crate::error::{Error, Result};
use half::{bf16, f16, slice::HalfFloatSliceExt};

/// Checks that `n` values of `dtype` are whole blocks taking `bytes` bytes.
fn check_sizes(dtype: DType, n: usize, bytes: usize) -> Result<()> {
    let need = dtype.bytes_for(n).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "{n} values are not a whole number of {dtype} blocks of {}",
            dtype.block_size()
        ))
    })?;
    if bytes != need {
        return Err(Error::InvalidArgument(format!(
            "{n} values of {dtype} take {need} bytes, got {bytes}"
        )));
    }
    Ok(())
}

/// Dequantize `n` values (whole blocks) from `src` into `dst` (len n).
/// Every `DType`, plain floats included.
pub fn dequantize_f32(dtype: DType, src: &[u8], dst: &mut [f32]) -> Result<()> {
    check_sizes(dtype, dst.len(), src.len())?;
    dequantize_checked(dtype, src, dst);
    Ok(())
}

/// `dequantize_f32` once the sizes are known to match.
pub(crate) fn dequantize_checked(dtype: DType, src: &[u8], dst: &mut [f32]) {
    match dtype {
        DType::F32 => {
            for (o, b) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        DType::F16 => {
            for (o, b) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *o = f16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
        DType::BF16 => {
            for (o, b) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *o = bf16::from_le_bytes([b[0], b[1]]).to_f32();
            }
        }
        DType::Q4_0 | DType::Q4_1 | DType::Q5_0 | DType::Q5_1 | DType::Q8_0 => {
            legacy::dequantize(dtype, src, dst)
        }
        _ => kquants::dequantize(dtype, src, dst),
    }
}

/// Dequantizes through an f32 buffer of a few blocks, converting each piece.
fn dequantize_via_f32(
    dtype: DType,
    src: &[u8],
    n: usize,
    mut put: impl FnMut(usize, &[f32]),
) -> Result<()> {
    check_sizes(dtype, n, src.len())?;
    const PIECE: usize = 1024; // a multiple of every block size
    let mut buf = [0.0f32; PIECE];
    let piece_bytes = PIECE / dtype.block_size() * dtype.block_bytes();
    for (i, bytes) in src.chunks(piece_bytes).enumerate() {
        let values = bytes.len() / dtype.block_bytes() * dtype.block_size();
        dequantize_checked(dtype, bytes, &mut buf[..values]);
        put(i * PIECE, &buf[..values]);
    }
    Ok(())
}

/// Dequantize `n` values (whole blocks) from `src` into `dst` (len n).
pub fn dequantize_f16(dtype: DType, src: &[u8], dst: &mut [f16]) -> Result<()> {
    if dtype == DType::F16 {
        check_sizes(dtype, dst.len(), src.len())?;
        for (o, b) in dst.iter_mut().zip(src.chunks_exact(2)) {
            *o = f16::from_le_bytes([b[0], b[1]]);
        }
        return Ok(());
    }
    let n = dst.len();
    dequantize_via_f32(dtype, src, n, |at, v| {
        dst[at..at + v.len()].convert_from_f32_slice(v)
    })
}

/// Dequantize `n` values (whole blocks) from `src` into `dst` (len n).
pub fn dequantize_bf16(dtype: DType, src: &[u8], dst: &mut [bf16]) -> Result<()> {
    if dtype == DType::BF16 {
        check_sizes(dtype, dst.len(), src.len())?;
        for (o, b) in dst.iter_mut().zip(src.chunks_exact(2)) {
            *o = bf16::from_le_bytes([b[0], b[1]]);
        }
        return Ok(());
    }
    let n = dst.len();
    dequantize_via_f32(dtype, src, n, |at, v| {
        dst[at..at + v.len()].convert_from_f32_slice(v)
    })
}

/// Quantize f32 values (whole blocks) to `dtype`: plain floats, the 32-value
/// formats (rounding as ggml's reference quantizers) and Q8_K. The other K
/// formats need an importance search this engine does not do.
pub fn quantize(dtype: DType, src: &[f32], dst: &mut [u8]) -> Result<()> {
    check_sizes(dtype, src.len(), dst.len())?;
    match dtype {
        DType::F32 => {
            for (b, v) in dst.chunks_exact_mut(4).zip(src) {
                b.copy_from_slice(&v.to_le_bytes());
            }
        }
        DType::F16 => {
            for (b, v) in dst.chunks_exact_mut(2).zip(src) {
                b.copy_from_slice(&f16::from_f32(*v).to_le_bytes());
            }
        }
        DType::BF16 => {
            for (b, v) in dst.chunks_exact_mut(2).zip(src) {
                b.copy_from_slice(&bf16::from_f32(*v).to_le_bytes());
            }
        }
        DType::Q4_0 | DType::Q4_1 | DType::Q5_0 | DType::Q5_1 | DType::Q8_0 => {
            legacy::quantize(dtype, src, dst)
        }
        DType::Q8_K => kquants::quantize_q8k(src, dst),
        _ => return Err(Error::Unsupported(format!("quantizing to {dtype}"))),
    }
    Ok(())
}
