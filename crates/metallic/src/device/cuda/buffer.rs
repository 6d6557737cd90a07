//! `CudaBuffer`: bytes in device memory, with copies to and from the host.
//! Kernels see it through its raw device address; the element type is the
//! caller's (a tensor's dtype), like a CPU buffer of bytes.

use cudarc::driver::{sys::CUresult, CudaSlice, DevicePtr};

use super::{driver_error, CudaDevice};
use crate::error::{Error, Result};

pub struct CudaBuffer {
    slice: CudaSlice<u8>,
    /// Bytes the caller asked for (the allocation holds at least one byte,
    /// since the driver refuses empty allocations).
    len: usize,
    device: CudaDevice,
}

impl std::fmt::Debug for CudaBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CudaBuffer({} bytes on {:?})", self.len, self.device)
    }
}

impl CudaBuffer {
    /// `len` bytes of uninitialized device memory.
    pub fn alloc(device: &CudaDevice, len: usize) -> Result<Self> {
        // SAFETY: the memory is uninitialized, which is fine for bytes on the
        // device: every bit pattern is a valid u8, and the host never reads
        // it without a copy.
        let slice = unsafe { device.stream().alloc::<u8>(len.max(1)) }.map_err(|e| {
            if e.0 == CUresult::CUDA_ERROR_OUT_OF_MEMORY {
                let free = device.memory_info().map(|(free, _)| free).unwrap_or(0);
                Error::Device(format!(
                    "out of device memory: {len} bytes requested on {device:?}, {free} free"
                ))
            } else {
                driver_error(&format!("allocating {len} bytes"), e)
            }
        })?;
        Ok(CudaBuffer {
            slice,
            len,
            device: device.clone(),
        })
    }

    /// `len` zero bytes.
    pub fn zeroed(device: &CudaDevice, len: usize) -> Result<Self> {
        let mut buffer = Self::alloc(device, len)?;
        let stream = device.stream().clone();
        stream
            .memset_zeros(&mut buffer.slice)
            .map_err(|e| driver_error("zeroing device memory", e))?;
        Ok(buffer)
    }

    /// A device copy of `bytes`.
    pub fn from_bytes(device: &CudaDevice, bytes: &[u8]) -> Result<Self> {
        let mut buffer = Self::alloc(device, bytes.len())?;
        buffer.write(0, bytes)?;
        Ok(buffer)
    }

    /// A device copy of `values` (their bytes, in host order).
    pub fn from_slice<T: bytemuck::Pod>(device: &CudaDevice, values: &[T]) -> Result<Self> {
        Self::from_bytes(device, bytemuck::cast_slice(values))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn device(&self) -> &CudaDevice {
        &self.device
    }

    /// Copies `bytes` into the buffer at byte `offset`.
    pub fn write(&mut self, offset: usize, bytes: &[u8]) -> Result<()> {
        let end = offset
            .checked_add(bytes.len())
            .filter(|&end| end <= self.len)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "writing {} bytes at offset {offset} into a buffer of {} bytes",
                    bytes.len(),
                    self.len
                ))
            })?;
        if bytes.is_empty() {
            return Ok(());
        }
        let stream = self.device.stream().clone();
        let mut dst = self.slice.slice_mut(offset..end);
        stream
            .memcpy_htod(bytes, &mut dst)
            .map_err(|e| driver_error("copying to the device", e))
    }

    /// Copies `len` bytes of `src` from byte `src_offset` to this buffer's
    /// byte `dst_offset`, on the device (queued on the stream, no wait).
    pub fn copy_from_device(
        &mut self,
        dst_offset: usize,
        src: &CudaBuffer,
        src_offset: usize,
        len: usize,
    ) -> Result<()> {
        let fits = |offset: usize, total: usize| offset.checked_add(len).filter(|&e| e <= total);
        let (Some(dst_end), Some(src_end)) =
            (fits(dst_offset, self.len), fits(src_offset, src.len))
        else {
            return Err(Error::InvalidArgument(format!(
                "copying {len} bytes from offset {src_offset} of {} bytes to offset \
                 {dst_offset} of {} bytes",
                src.len, self.len
            )));
        };
        self.device.check_buffers(&[src], "device copy")?;
        if len == 0 {
            return Ok(());
        }
        let stream = self.device.stream().clone();
        let from = src.slice.slice(src_offset..src_end);
        let mut to = self.slice.slice_mut(dst_offset..dst_end);
        stream
            .memcpy_dtod(&from, &mut to)
            .map_err(|e| driver_error("copying on the device", e))
    }

    /// The buffer's bytes on the host; waits for the work queued before.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut host = vec![0u8; self.len];
        if self.len > 0 {
            let stream = self.device.stream();
            stream
                .memcpy_dtoh(&self.slice.slice(..self.len), &mut host)
                .map_err(|e| driver_error("copying to the host", e))?;
        }
        // Kernel faults surface at the synchronization that the copy does.
        self.device.synchronize()?;
        Ok(host)
    }

    /// The buffer read as values of `T`; its length must be a multiple of
    /// `T`'s size.
    pub fn to_vec<T: bytemuck::Pod>(&self) -> Result<Vec<T>> {
        let size = std::mem::size_of::<T>();
        if !self.len.is_multiple_of(size) {
            return Err(Error::InvalidArgument(format!(
                "a buffer of {} bytes is not a whole number of {size}-byte values",
                self.len
            )));
        }
        Ok(self
            .to_bytes()?
            .chunks_exact(size)
            .map(bytemuck::pod_read_unaligned)
            .collect())
    }

    /// The raw device address, for kernel arguments and library calls.
    pub(crate) fn device_ptr(&self) -> u64 {
        // Event tracking is off (one stream per device), so the guard that
        // cudarc returns records nothing; dropping it at once is fine.
        let (ptr, _guard) = self.slice.device_ptr(self.device.stream());
        ptr
    }
}
