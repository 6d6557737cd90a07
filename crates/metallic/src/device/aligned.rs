//! An owned, zero-initialized, 64-byte aligned byte allocation: aligned so
//! that any element type (and any SIMD load of a cache line) may view it.

use crate::error::{Error, Result};
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;

/// Alignment of every owned host buffer, in bytes.
pub const HOST_ALIGN: usize = 64;

pub(crate) struct AlignedBytes {
    ptr: NonNull<u8>,
    len: usize,
    layout: Layout,
}

// SAFETY: `AlignedBytes` owns its allocation outright (no shared pointers),
// so moving it to another thread moves sole ownership.
unsafe impl Send for AlignedBytes {}

impl AlignedBytes {
    /// Allocates `len` zeroed bytes; an allocation failure is an error, not an
    /// abort, because `len` may come from a file or a caller's shape.
    pub(crate) fn zeroed(len: usize) -> Result<AlignedBytes> {
        // A zero-sized layout may not be allocated: keep at least one line.
        let layout = Layout::from_size_align(len.max(HOST_ALIGN), HOST_ALIGN)
            .map_err(|_| Error::Device(format!("cannot allocate {len} bytes")))?;
        // SAFETY: `layout` has a non-zero size (at least HOST_ALIGN bytes).
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw)
            .ok_or_else(|| Error::Device(format!("out of host memory allocating {len} bytes")))?;
        Ok(AlignedBytes { ptr, len, layout })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Start of the allocation; valid for `len` initialized bytes for as long
    /// as `self` lives. Callers decide who may read or write through it.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for AlignedBytes {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed` with exactly `layout` and is
        // freed only here, once.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}
