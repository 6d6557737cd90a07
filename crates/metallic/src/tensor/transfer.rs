//! Copies between devices. The copy takes the whole buffer and keeps the
//! view's layout (shape, strides, offset), so it is exact for any view; a
//! small view of a large buffer copies the large buffer.

use super::Tensor;
use crate::device::{Buffer, Device};
use crate::error::Result;
use std::sync::Arc;

impl Tensor {
    /// This tensor on `device`: itself when it is already there, else a copy
    /// (waiting for the source device's queued work).
    pub fn to_device(&self, device: &Device) -> Result<Tensor> {
        if &self.device() == device {
            return Ok(self.clone());
        }
        let bytes = self.buffer.to_host_bytes()?;
        let buffer = Arc::new(Buffer::from_bytes(device, &bytes)?);
        Tensor::from_parts(buffer, self.dtype, &self.shape, &self.strides, self.offset)
    }
}
