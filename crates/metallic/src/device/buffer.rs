//! `Buffer`: one allocation on a device. Host buffers are either owned
//! (64-byte aligned, writable) or a read-only window of a memory map (GGUF
//! weights, zero-copy). Access goes through borrow guards checked at run
//! time, so a conflicting borrow is an error rather than a data race.

use super::aligned::AlignedBytes;
use super::borrow::{BorrowFlag, HostRead, HostWrite};
use super::Device;
use crate::error::{Error, Result};
use std::sync::Arc;

/// Memory on one device; tensors share it through `Arc<Buffer>`.
pub enum Buffer {
    /// Host memory (the CPU device).
    Host(HostBuffer),
    /// GPU memory; the host reaches it only by copies
    /// (`Tensor::to_device`), so `read`/`write` refuse it.
    #[cfg(feature = "cuda")]
    Cuda(super::cuda::CudaStorage),
}

/// Host memory with its borrow flag.
pub struct HostBuffer {
    storage: HostStorage,
    borrow: BorrowFlag,
}

enum HostStorage {
    Owned(AlignedBytes),
    Mapped {
        map: Arc<memmap2::Mmap>,
        offset: usize,
        len: usize,
    },
}

// SAFETY: the only interior mutability is the owned allocation, and every
// access to it goes through `read`/`write`, whose atomic borrow flag admits
// either any number of readers or one writer, never both.
unsafe impl Sync for HostBuffer {}

impl Buffer {
    /// `len` zeroed bytes on `device`.
    pub fn zeroed(device: &Device, len: usize) -> Result<Buffer> {
        match device {
            Device::Cpu => Ok(Buffer::Host(HostBuffer::owned(AlignedBytes::zeroed(len)?))),
            #[cfg(feature = "cuda")]
            Device::Cuda(cuda) => Ok(Buffer::Cuda(super::cuda::CudaStorage::new(
                super::cuda::CudaBuffer::zeroed(cuda, len)?,
            ))),
        }
    }

    /// A copy of `bytes` on `device`.
    pub fn from_bytes(device: &Device, bytes: &[u8]) -> Result<Buffer> {
        #[cfg(feature = "cuda")]
        if let Device::Cuda(cuda) = device {
            return Ok(Buffer::Cuda(super::cuda::CudaStorage::new(
                super::cuda::CudaBuffer::from_bytes(cuda, bytes)?,
            )));
        }
        let buffer = Buffer::zeroed(device, bytes.len())?;
        buffer.write()?.copy_from_slice(bytes);
        Ok(buffer)
    }

    /// A read-only host buffer over `map[offset..offset + len]`, without
    /// copying.
    pub fn from_mmap(map: Arc<memmap2::Mmap>, offset: usize, len: usize) -> Result<Buffer> {
        let end = offset.checked_add(len).filter(|&end| end <= map.len());
        if end.is_none() {
            return Err(Error::InvalidArgument(format!(
                "bytes {offset}..+{len} lie outside the {}-byte mapping",
                map.len()
            )));
        }
        Ok(Buffer::Host(HostBuffer {
            storage: HostStorage::Mapped { map, offset, len },
            borrow: BorrowFlag::new(),
        }))
    }

    pub fn device(&self) -> Device {
        match self {
            Buffer::Host(_) => Device::Cpu,
            #[cfg(feature = "cuda")]
            Buffer::Cuda(cuda) => Device::Cuda(cuda.device().clone()),
        }
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        match self {
            Buffer::Host(host) => host.len(),
            #[cfg(feature = "cuda")]
            Buffer::Cuda(cuda) => cuda.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `write` can succeed at all (a memory map is read-only).
    pub fn is_writable(&self) -> bool {
        match self {
            Buffer::Host(host) => matches!(host.storage, HostStorage::Owned(_)),
            #[cfg(feature = "cuda")]
            Buffer::Cuda(_) => true,
        }
    }

    /// Shared access to the bytes; fails while a writer holds the buffer.
    pub fn read(&self) -> Result<HostRead<'_>> {
        match self {
            Buffer::Host(host) => host.read(),
            #[cfg(feature = "cuda")]
            Buffer::Cuda(_) => Err(self.not_host()),
        }
    }

    /// Exclusive access to the bytes; fails while anyone else holds the
    /// buffer, and always for a read-only (mapped) buffer.
    pub fn write(&self) -> Result<HostWrite<'_>> {
        match self {
            Buffer::Host(host) => host.write(),
            #[cfg(feature = "cuda")]
            Buffer::Cuda(_) => Err(self.not_host()),
        }
    }

    /// The GPU storage, for device kernels and libraries.
    #[cfg(feature = "cuda")]
    pub fn cuda(&self) -> Option<&super::cuda::CudaStorage> {
        match self {
            Buffer::Cuda(cuda) => Some(cuda),
            Buffer::Host(_) => None,
        }
    }

    /// A host copy of the buffer's bytes (for GPU memory, after the device
    /// work queued before).
    pub fn to_host_bytes(&self) -> Result<Vec<u8>> {
        match self {
            Buffer::Host(host) => Ok(host.read()?.to_vec()),
            #[cfg(feature = "cuda")]
            Buffer::Cuda(cuda) => cuda.read()?.to_bytes(),
        }
    }

    #[cfg(feature = "cuda")]
    fn not_host(&self) -> Error {
        Error::Unsupported(format!(
            "host access to {} memory; copy the tensor to the host first (Tensor::to_device)",
            self.device()
        ))
    }
}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.is_writable() {
            "owned"
        } else {
            "mapped"
        };
        write!(f, "Buffer({} {kind}, {} bytes)", self.device(), self.len())
    }
}

impl HostBuffer {
    fn owned(bytes: AlignedBytes) -> Self {
        HostBuffer {
            storage: HostStorage::Owned(bytes),
            borrow: BorrowFlag::new(),
        }
    }

    fn len(&self) -> usize {
        match &self.storage {
            HostStorage::Owned(bytes) => bytes.len(),
            HostStorage::Mapped { len, .. } => *len,
        }
    }

    fn read(&self) -> Result<HostRead<'_>> {
        self.borrow.acquire_read()?;
        let bytes: &[u8] = match &self.storage {
            // SAFETY: the allocation holds `len` initialized bytes and lives
            // as long as `self`; the read borrow just acquired excludes any
            // writer until the guard drops.
            HostStorage::Owned(bytes) => unsafe {
                std::slice::from_raw_parts(bytes.as_ptr(), bytes.len())
            },
            HostStorage::Mapped { map, offset, len } => &map[*offset..*offset + *len],
        };
        Ok(HostRead::new(bytes, &self.borrow))
    }

    fn write(&self) -> Result<HostWrite<'_>> {
        let HostStorage::Owned(bytes) = &self.storage else {
            return Err(Error::InvalidArgument(
                "buffer is a read-only memory map".into(),
            ));
        };
        self.borrow.acquire_write()?;
        // SAFETY: the allocation holds `len` initialized bytes and lives as
        // long as `self`; the write borrow just acquired excludes every other
        // reader and writer until the guard drops, so this is the only
        // reference to these bytes.
        let slice = unsafe { std::slice::from_raw_parts_mut(bytes.as_ptr(), bytes.len()) };
        Ok(HostWrite::new(slice, &self.borrow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_buffers_are_aligned_and_zeroed() {
        let buffer = Buffer::zeroed(&Device::Cpu, 100).unwrap();
        let bytes = buffer.read().unwrap();
        assert_eq!(
            bytes.as_ptr() as usize % super::super::aligned::HOST_ALIGN,
            0
        );
        assert!(bytes.iter().all(|&b| b == 0));
        assert_eq!(bytes.len(), 100);
    }

    #[test]
    fn conflicting_borrows_are_errors() {
        let buffer = Buffer::from_bytes(&Device::Cpu, &[1, 2, 3]).unwrap();
        {
            let r1 = buffer.read().unwrap();
            let r2 = buffer.read().unwrap();
            assert_eq!(&r1[..], &r2[..]);
            assert!(buffer.write().is_err());
        }
        {
            let mut w = buffer.write().unwrap();
            w[0] = 9;
            assert!(buffer.read().is_err());
            assert!(buffer.write().is_err());
        }
        assert_eq!(buffer.read().unwrap()[0], 9);
        assert!(buffer.write().is_ok());
    }

    #[test]
    fn empty_buffer_is_fine() {
        let buffer = Buffer::zeroed(&Device::Cpu, 0).unwrap();
        assert!(buffer.is_empty());
        assert!(buffer.read().unwrap().is_empty());
    }

    #[test]
    fn absurd_sizes_are_errors_not_aborts() {
        assert!(Buffer::zeroed(&Device::Cpu, usize::MAX - 8).is_err());
    }
}
