//! The calls into the `gemm` crate: a safe wrapper that checks every
//! matrix of the batch lies inside its slice, then splits the work across
//! the current rayon pool.
//!
//! `gemm` computes dst = alpha·dst + beta·lhs·rhs and reads dst only when
//! `read_dst` is set; our D = α·A·B + β·C therefore passes (alpha, beta) =
//! (β, α) and sets `read_dst` only when β ≠ 0, so a C full of NaN is never
//! read when β = 0.

use std::ops::Range;

use gemm::Parallelism;
use rayon::prelude::*;

use super::layout::Geometry;
use crate::error::{Error, Result};

/// The element types the `gemm` crate accepts and this backend passes it
/// natively (`gemm::gemm` panics for any other type, so the set is closed).
pub(super) trait BlasElement: Copy + Send + Sync + 'static + sealed::Sealed {
    fn from_f32(v: f32) -> Self;
}

impl BlasElement for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
}

impl BlasElement for half::f16 {
    fn from_f32(v: f32) -> Self {
        half::f16::from_f32(v)
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for half::f16 {}
}

/// A batched product over slices: matrix `b` of each operand starts at
/// `offsets[b]` (A, B, C) in its slice and follows the operand's geometry;
/// the output slice is given to `run`.
pub(super) struct Product<'a, T> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: &'a [T],
    pub b: &'a [T],
    pub a_geometry: Geometry,
    pub b_geometry: Geometry,
    pub c_geometry: Geometry,
    pub offsets: Vec<[usize; 3]>,
    pub alpha: f32,
    pub beta: f32,
    /// Distinct output indices reach distinct elements of `c` (see
    /// `layout::is_injective`): only then may batches or column ranges run
    /// in parallel.
    pub c_injective: bool,
}

/// Columns of a gemv split across threads get at least this many each.
const MIN_SPLIT_COLUMNS: usize = 64;

struct Task {
    batch: usize,
    columns: Range<usize>,
}

impl<T: BlasElement> Product<'_, T> {
    pub fn run(&self, c: &mut [T]) -> Result<()> {
        if self.m == 0 || self.n == 0 {
            return Ok(());
        }
        self.check_bounds(c.len())?;
        // Every write below goes through this one pointer.
        let c = SharedOut(c.as_mut_ptr());
        let threads = rayon::current_num_threads().max(1);
        let batches = self.offsets.len();
        let parallel_tasks = threads > 1 && self.c_injective;
        if parallel_tasks && batches >= threads {
            let tasks = (0..batches).map(|batch| Task {
                batch,
                columns: 0..self.n,
            });
            self.run_parallel(&c, tasks.collect());
        } else if parallel_tasks && self.m == 1 {
            // `gemm` runs a single-row product (a gemv) on one thread;
            // splitting the columns keeps every core busy in decoding.
            let per_batch = threads
                .div_ceil(batches)
                .min(self.n.div_ceil(MIN_SPLIT_COLUMNS))
                .max(1);
            let width = self.n.div_ceil(per_batch);
            let tasks = (0..batches).flat_map(|batch| {
                (0..self.n).step_by(width).map(move |start| Task {
                    batch,
                    columns: start..(start + width).min(self.n),
                })
            });
            self.run_parallel(&c, tasks.collect());
        } else {
            for batch in 0..batches {
                let task = Task {
                    batch,
                    columns: 0..self.n,
                };
                // SAFETY: check_bounds kept every matrix inside its slice and
                // the loop runs one task at a time, so the output has a single
                // writer.
                unsafe { self.call(&task, c.0, Parallelism::Rayon(threads)) };
            }
        }
        Ok(())
    }

    fn run_parallel(&self, c: &SharedOut<T>, tasks: Vec<Task>) {
        tasks.par_iter().for_each(|task| {
            // SAFETY: check_bounds kept every matrix inside its slice; the
            // output is injective over (batch, row, column) and the tasks
            // partition that index space, so no two tasks write the same
            // element; the output slice stays mutably borrowed by `run`
            // until the loop ends, so nothing else touches it.
            unsafe { self.call(task, c.0, Parallelism::None) }
        });
    }

    /// Every matrix of every batch, at its full size, inside its slice; all
    /// strides representable as `isize`.
    fn check_bounds(&self, c_len: usize) -> Result<()> {
        let operands = [
            ("a", self.a.len(), &self.a_geometry),
            ("b", self.b.len(), &self.b_geometry),
            ("c", c_len, &self.c_geometry),
        ];
        for (i, (name, len, g)) in operands.into_iter().enumerate() {
            let outside = || Error::Layout {
                operand: name,
                detail: "a matrix of the batch lies outside the buffer".into(),
            };
            if isize::try_from(g.rs).is_err() || isize::try_from(g.cs).is_err() {
                return Err(outside());
            }
            let extent = g.extent().ok_or_else(outside)?;
            for offsets in &self.offsets {
                match offsets[i].checked_add(extent) {
                    Some(end) if end <= len => {}
                    _ => return Err(outside()),
                }
            }
        }
        Ok(())
    }

    /// # Safety
    /// `check_bounds` must have passed for the output slice whose first
    /// element `c` points at, and no other thread writes the elements of this task's
    /// output columns while it runs.
    unsafe fn call(&self, task: &Task, c: *mut T, parallelism: Parallelism) {
        let [oa, ob, oc] = self.offsets[task.batch];
        let (a, b, cg) = (&self.a_geometry, &self.b_geometry, &self.c_geometry);
        let first = task.columns.start;
        // Strides fit isize (check_bounds); offsets stay inside the slices
        // because the whole matrix does.
        gemm::gemm(
            self.m,
            task.columns.len(),
            self.k,
            c.add(oc + first * cg.cs),
            cg.cs as isize,
            cg.rs as isize,
            self.beta != 0.0,
            self.a.as_ptr().add(oa),
            a.cs as isize,
            a.rs as isize,
            self.b.as_ptr().add(ob + first * b.cs),
            b.cs as isize,
            b.rs as isize,
            T::from_f32(self.beta),
            T::from_f32(self.alpha),
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// The output pointer shared by parallel tasks that write disjoint elements.
struct SharedOut<T>(*mut T);

// SAFETY: tasks holding it write disjoint elements (see `run_parallel`);
// T is f32 or f16, plain data.
unsafe impl<T: Send> Sync for SharedOut<T> {}
unsafe impl<T: Send> Send for SharedOut<T> {}
