//! `ResourceCache`: reusable output and scratch buffers, keyed by device,
//! dtype and shape. A buffer is handed out again only once every tensor
//! that used it has been dropped, so a cached buffer is never shared.

use crate::device::{Buffer, Device};
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::{layout, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

type Key = (Device, DType, Vec<usize>);

/// Buffers kept for reuse across calls (decode steps repeat the same shapes).
#[derive(Default)]
pub struct ResourceCache {
    buffers: HashMap<Key, Vec<Arc<Buffer>>>,
}

impl ResourceCache {
    pub fn new() -> Self {
        ResourceCache::default()
    }

    /// A contiguous tensor of `shape` over a buffer no live tensor holds:
    /// a cached one when free, else a new (zeroed) one that joins the cache.
    /// A reused buffer keeps whatever its last user wrote.
    pub fn tensor(&mut self, device: &Device, dtype: DType, shape: &[usize]) -> Result<Tensor> {
        let strides = layout::contiguous_strides(shape);
        let slot = self
            .buffers
            .entry((device.clone(), dtype, shape.to_vec()))
            .or_default();
        // Strong count 1 means only the cache holds it, and the cache is
        // borrowed mutably here, so no one can clone it meanwhile.
        if let Some(free) = slot.iter().find(|b| Arc::strong_count(b) == 1) {
            return Tensor::from_parts(free.clone(), dtype, shape, &strides, 0);
        }
        let fresh = Tensor::empty(device, dtype, shape)?;
        slot.push(fresh.buffer().clone());
        Ok(fresh)
    }

    /// Number of buffers held (free or in use).
    pub fn buffer_count(&self) -> usize {
        self.buffers.values().map(Vec::len).sum()
    }

    /// Drops every cached buffer (tensors still using one keep it alive).
    pub fn clear(&mut self) {
        self.buffers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_only_when_free() {
        let mut cache = ResourceCache::new();
        let a = cache.tensor(&Device::Cpu, DType::F32, &[2, 3]).unwrap();
        let b = cache.tensor(&Device::Cpu, DType::F32, &[2, 3]).unwrap();
        assert!(!a.shares_buffer(&b));
        assert_eq!(cache.buffer_count(), 2);
        let a_buffer = a.buffer().clone();
        drop(a);
        // Still held through `a_buffer`: not free.
        let c = cache.tensor(&Device::Cpu, DType::F32, &[2, 3]).unwrap();
        assert_eq!(cache.buffer_count(), 3);
        drop(a_buffer);
        let d = cache.tensor(&Device::Cpu, DType::F32, &[2, 3]).unwrap();
        assert_eq!(cache.buffer_count(), 3);
        assert!(!d.shares_buffer(&b) && !d.shares_buffer(&c));
        let other = cache.tensor(&Device::Cpu, DType::F16, &[2, 3]).unwrap();
        assert_eq!(other.dtype(), DType::F16);
        assert_eq!(cache.buffer_count(), 4);
    }
}
