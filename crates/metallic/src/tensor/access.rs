//! Borrowed access to a contiguous f32 view's values in place, for host
//! operations (norms, rotary embedding, softmax) that read or update a
//! tensor without a copy.

use super::Tensor;
use crate::dtype::DType;
use crate::error::{Error, Result};

impl Tensor {
    /// Calls `f` with the view's values, borrowed from its buffer (shared:
    /// other readers may run, writers are refused meanwhile).
    pub fn with_f32<R>(&self, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
        let range = self.contiguous_f32_bytes()?;
        let bytes = self.buffer.read()?;
        let values = bytemuck::try_cast_slice(&bytes[range]).map_err(|e| misaligned(&e))?;
        Ok(f(values))
    }

    /// Calls `f` with the view's values, borrowed mutably from its buffer
    /// (exclusive: fails while anyone else holds the buffer).
    pub fn with_f32_mut<R>(&self, f: impl FnOnce(&mut [f32]) -> R) -> Result<R> {
        let range = self.contiguous_f32_bytes()?;
        let mut bytes = self.buffer.write()?;
        let values = bytemuck::try_cast_slice_mut(&mut bytes[range]).map_err(|e| misaligned(&e))?;
        Ok(f(values))
    }

    /// Byte range of a contiguous f32 view.
    fn contiguous_f32_bytes(&self) -> Result<std::ops::Range<usize>> {
        if self.dtype != DType::F32 || !self.is_contiguous() {
            return Err(Error::Unsupported(format!(
                "in-place f32 access to a {} view of shape {:?} and strides {:?}; it must be a contiguous F32 view",
                self.dtype, self.shape, self.strides
            )));
        }
        let start = self.offset * 4;
        Ok(start..start + self.numel() * 4)
    }
}

fn misaligned(e: &bytemuck::PodCastError) -> Error {
    Error::Unsupported(format!("f32 values not aligned in their buffer: {e:?}"))
}
