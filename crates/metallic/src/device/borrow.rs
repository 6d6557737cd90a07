//! Run-time borrow checking for shared buffers: like `RefCell`, but `Sync`
//! (one atomic word), and a conflicting borrow is an `Error`, never a panic.

use crate::error::{Error, Result};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Number of live readers, or `WRITING` while one writer holds the buffer.
pub(crate) struct BorrowFlag(AtomicUsize);

const WRITING: usize = usize::MAX;

impl BorrowFlag {
    pub(crate) const fn new() -> Self {
        BorrowFlag(AtomicUsize::new(0))
    }

    pub(crate) fn acquire_read(&self) -> Result<()> {
        let mut current = self.0.load(Ordering::Relaxed);
        loop {
            if current == WRITING {
                return Err(Error::InvalidArgument(
                    "buffer is being written; it cannot be read at the same time".into(),
                ));
            }
            if current == WRITING - 1 {
                return Err(Error::InvalidArgument(
                    "too many readers of one buffer".into(),
                ));
            }
            match self.0.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(seen) => current = seen,
            }
        }
    }

    pub(crate) fn acquire_write(&self) -> Result<()> {
        self.0
            .compare_exchange(0, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .map(|_| ())
            .map_err(|_| {
                Error::InvalidArgument(
                    "buffer is already borrowed; it cannot be written at the same time".into(),
                )
            })
    }

    pub(crate) fn release_read(&self) {
        self.0.fetch_sub(1, Ordering::Release);
    }

    pub(crate) fn release_write(&self) {
        self.0.store(0, Ordering::Release);
    }
}

/// Shared access to a host buffer's bytes; other readers may coexist, a
/// writer may not.
pub struct HostRead<'a> {
    bytes: &'a [u8],
    flag: &'a BorrowFlag,
}

impl<'a> HostRead<'a> {
    /// Wraps bytes whose read borrow on `flag` the caller has acquired.
    pub(crate) fn new(bytes: &'a [u8], flag: &'a BorrowFlag) -> Self {
        HostRead { bytes, flag }
    }
}

impl Deref for HostRead<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

impl Drop for HostRead<'_> {
    fn drop(&mut self) {
        self.flag.release_read();
    }
}

/// Exclusive access to a host buffer's bytes.
pub struct HostWrite<'a> {
    bytes: &'a mut [u8],
    flag: &'a BorrowFlag,
}

impl<'a> HostWrite<'a> {
    /// Wraps bytes whose write borrow on `flag` the caller has acquired.
    pub(crate) fn new(bytes: &'a mut [u8], flag: &'a BorrowFlag) -> Self {
        HostWrite { bytes, flag }
    }
}

impl Deref for HostWrite<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

impl DerefMut for HostWrite<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.bytes
    }
}

impl Drop for HostWrite<'_> {
    fn drop(&mut self) {
        self.flag.release_write();
    }
}
