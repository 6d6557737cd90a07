//! Running a kernel's independent tasks on the caller's rayon pool, and the
//! per-thread scratch the tasks pack into.

use rayon::prelude::*;
use std::cell::RefCell;

/// Below this many multiply-adds in all, waking the pool costs more than it
/// saves (a wake-up is several microseconds; 2^18 FMAs take about as long).
const PARALLEL_MIN_FMAS: usize = 1 << 18;

/// Runs `task(0..count)`, in parallel when the work is worth it.
pub(crate) fn for_each_task(count: usize, fmas_per_task: usize, task: &(dyn Fn(usize) + Sync)) {
    let worth_it = count.saturating_mul(fmas_per_task) >= PARALLEL_MIN_FMAS;
    if count > 1 && worth_it && rayon::current_num_threads() > 1 {
        (0..count).into_par_iter().for_each(task);
    } else {
        (0..count).for_each(task);
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Lends `f` this thread's scratch, grown to `len` (kept for the next task,
/// so packing never pays for fresh pages). `f` must not call back in.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        if scratch.len() < len {
            scratch.resize(len, 0.0);
        }
        f(&mut scratch[..len])
    })
}
