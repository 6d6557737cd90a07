//! Whole-tensor dequantization: a GGUF-typed weight turned into a float
//! tensor once, at load, for devices that multiply floats only.

use super::dispatch::{self, OpShape};
use crate::context::Context;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::quant::dequantize_f32;
use crate::tensor::Tensor;

impl Context {
    /// A new contiguous `dtype` tensor holding `src`'s values. `src` is a
    /// contiguous tensor of any GGUF type; on the CPU `dtype` must be F32,
    /// on CUDA F32, F16 or BF16.
    pub fn dequantize(&self, src: &Tensor, dtype: DType) -> Result<Tensor> {
        if !src.is_contiguous() {
            return Err(Error::Layout {
                operand: "src",
                detail: format!(
                    "dequantize needs a contiguous tensor, strides {:?}",
                    src.strides()
                ),
            });
        }
        let out = Tensor::empty(self.device(), dtype, src.shape())?;
        let shape = OpShape {
            rows: 1,
            cols: src.numel(),
            k: 0,
        };
        dispatch::run(self, "dequantize", shape, || match self.device() {
            Device::Cpu => dequantize_cpu(src, &out),
            #[cfg(feature = "cuda")]
            Device::Cuda(_) => super::cuda_dispatch::dequantize(src, &out),
        })?;
        Ok(out)
    }
}

/// `src`'s values into `out`, which is F32 (the CPU's only float output).
fn dequantize_cpu(src: &Tensor, out: &Tensor) -> Result<()> {
    if out.dtype() != DType::F32 {
        return Err(Error::Unsupported(format!(
            "dequantize to {} on the CPU (F32 only)",
            out.dtype()
        )));
    }
    let n = src.numel();
    let (kind, first) = (src.dtype(), src.offset());
    if !first.is_multiple_of(kind.block_size()) {
        return Err(Error::Layout {
            operand: "src",
            detail: format!("offset {first} splits a {kind} block"),
        });
    }
    let begin = first / kind.block_size() * kind.block_bytes();
    let len = kind
        .bytes_for(n)
        .ok_or_else(|| Error::Shape(format!("{n} values are not whole {kind} blocks")))?;
    let bytes = src.buffer().read()?;
    let mut dst = out.buffer().write()?;
    let src_bytes = bytes
        .get(begin..begin + len)
        .ok_or_else(|| Error::Shape(format!("{kind} tensor of {n} values overruns its buffer")))?;
    dequantize_f32(kind, src_bytes, bytemuck::cast_slice_mut(&mut dst[..n * 4]))
}
