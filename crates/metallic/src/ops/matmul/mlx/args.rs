//! What a kernel instance receives: the validated problem (C row-major),
//! the operand bytes, the tile, the microkernels, and the output buffer
//! shared by the tasks that write its disjoint tiles.

use super::element::Element;
use super::key::Tile;
use super::microkernel::MicroKernels;
use crate::ops::matmul::GemmProblem;
use std::marker::PhantomData;

/// A kernel instance: one monomorphized driver.
pub(crate) type KernelFn = fn(&KernelArgs<'_>);

pub(crate) struct KernelArgs<'a> {
    /// Validated by `validate::check`, with C row-major.
    pub problem: &'a GemmProblem,
    pub a: &'a [u8],
    pub b: &'a [u8],
    pub c: OutBuffer<'a>,
    pub tile: Tile,
    pub micro: &'static MicroKernels,
}

/// An operand buffer as elements. Validation checked the alignment, so the
/// cast cannot fail; a trailing partial element is not part of any matrix.
pub(crate) fn elements<E: Element>(bytes: &[u8]) -> &[E] {
    let whole = bytes.len() / size_of::<E>() * size_of::<E>();
    bytemuck::cast_slice(&bytes[..whole])
}

/// The output bytes, lent to several tasks at once.
pub(crate) struct OutBuffer<'a> {
    ptr: *mut u8,
    len: usize,
    _borrow: PhantomData<&'a mut [u8]>,
}

// SAFETY: an `OutBuffer` is a `&mut [u8]` handed to tasks that, by
// `slice_mut`'s contract, touch disjoint element ranges.
unsafe impl Send for OutBuffer<'_> {}
unsafe impl Sync for OutBuffer<'_> {}

impl<'a> OutBuffer<'a> {
    pub fn new(bytes: &'a mut [u8]) -> Self {
        OutBuffer {
            ptr: bytes.as_mut_ptr(),
            len: bytes.len(),
            _borrow: PhantomData,
        }
    }

    /// Elements `start..start + len` as `E`. Bounds and alignment are
    /// checked here (a failure panics: validation rules it out).
    ///
    /// # Safety
    /// No other slice obtained from this buffer and alive at the same time
    /// may overlap the range.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice_mut<E: Element>(&self, start: usize, len: usize) -> &mut [E] {
        let end = start
            .checked_add(len)
            .and_then(|end| end.checked_mul(size_of::<E>()));
        assert!(
            end.is_some_and(|end| end <= self.len),
            "output range out of bounds"
        );
        let first = self.ptr.cast::<E>();
        assert!(first.is_aligned(), "output buffer not aligned");
        // SAFETY: the range lies inside the borrowed buffer and is aligned
        // (checked above); the caller guarantees no overlapping live slice.
        unsafe { std::slice::from_raw_parts_mut(first.add(start), len) }
    }
}
