//! A `CudaBuffer` as tensor storage (`Buffer::Cuda`): tensors share it
//! through `Arc<Buffer>`, so it takes the same run-time borrow rule as host
//! memory — any number of readers or one writer — checked by the same flag.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};

use super::{CudaBuffer, CudaDevice};
use crate::device::borrow::BorrowFlag;
use crate::error::Result;

pub struct CudaStorage {
    buffer: UnsafeCell<CudaBuffer>,
    borrow: BorrowFlag,
    /// Copies of the buffer's length and device, readable while a writer
    /// holds the buffer.
    len: usize,
    device: CudaDevice,
}

// SAFETY: the only interior mutability is the buffer in the cell, and every
// access to it goes through `read`/`write`, whose atomic borrow flag admits
// either any number of readers or one writer, never both. `CudaBuffer` itself
// is safe to use from any thread (its device calls go through cudarc's
// thread-safe handles onto one stream).
unsafe impl Sync for CudaStorage {}

impl CudaStorage {
    pub(crate) fn new(buffer: CudaBuffer) -> Self {
        CudaStorage {
            len: buffer.len(),
            device: buffer.device().clone(),
            buffer: UnsafeCell::new(buffer),
            borrow: BorrowFlag::new(),
        }
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

    /// Shared access (kernel inputs); fails while a writer holds it.
    pub fn read(&self) -> Result<CudaRead<'_>> {
        self.borrow.acquire_read()?;
        // SAFETY: the read borrow just acquired excludes any writer until the
        // guard drops, so no `&mut` to the buffer exists meanwhile.
        let buffer = unsafe { &*self.buffer.get() };
        Ok(CudaRead {
            buffer,
            flag: &self.borrow,
        })
    }

    /// Exclusive access (a kernel's output); fails while anyone else holds it.
    pub fn write(&self) -> Result<CudaWrite<'_>> {
        self.borrow.acquire_write()?;
        // SAFETY: the write borrow just acquired excludes every other reader
        // and writer until the guard drops, so this is the only reference.
        let buffer = unsafe { &mut *self.buffer.get() };
        Ok(CudaWrite {
            buffer,
            flag: &self.borrow,
        })
    }
}

pub struct CudaRead<'a> {
    buffer: &'a CudaBuffer,
    flag: &'a BorrowFlag,
}

impl Deref for CudaRead<'_> {
    type Target = CudaBuffer;
    fn deref(&self) -> &CudaBuffer {
        self.buffer
    }
}

impl Drop for CudaRead<'_> {
    fn drop(&mut self) {
        self.flag.release_read();
    }
}

pub struct CudaWrite<'a> {
    buffer: &'a mut CudaBuffer,
    flag: &'a BorrowFlag,
}

impl Deref for CudaWrite<'_> {
    type Target = CudaBuffer;
    fn deref(&self) -> &CudaBuffer {
        self.buffer
    }
}

impl DerefMut for CudaWrite<'_> {
    fn deref_mut(&mut self) -> &mut CudaBuffer {
        self.buffer
    }
}

impl Drop for CudaWrite<'_> {
    fn drop(&mut self) {
        self.flag.release_write();
    }
}
