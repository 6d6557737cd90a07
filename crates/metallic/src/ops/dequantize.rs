//! Whole-tensor dequantization: a GGUF-typed weight turned into a float
//! tensor once, at load, for devices that multiply floats only.

use super::cpu_dispatch::{self, OpShape};
use crate::context::Context;
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
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            return super::cuda_dispatch::dequantize(src, dtype);
        }
        if dtype != DType::F32 {
            return Err(Error::Unsupported(format!(
                "dequantize to {dtype} on the CPU (F32 only)"
            )));
        }
        let out = Tensor::empty(self.device(), DType::F32, src.shape())?;
        let n = src.numel();
        let shape = OpShape {
            rows: 1,
            cols: n,
            k: 0,
        };
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
        cpu_dispatch::run(self, "dequantize", shape, || {
            let bytes = src.buffer().read()?;
            let mut dst = out.buffer().write()?;
            let src_bytes = bytes.get(begin..begin + len).ok_or_else(|| {
                Error::Shape(format!("{kind} tensor of {n} values overruns its buffer"))
            })?;
            dequantize_f32(kind, src_bytes, bytemuck::cast_slice_mut(&mut dst[..n * 4]))
        })?;
        Ok(out)
    }
}
