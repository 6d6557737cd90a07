//! The mlx backend on CUDA: the project's own kernels, compiled at run time
//! by NVRTC through the device's kernel cache. Decode-sized products
//! (m ≤ 8) go to the GEMV family.

pub mod gemv;

use crate::device::cuda::{CudaBuffer, CudaDevice};
use crate::error::{Error, Result};
use crate::ops::matmul::GemmProblem;

/// Runs `problem` on `device`'s stream: C = alpha · A · B + beta · C, C
/// updated in place (beta = 0 never reads it).
pub fn run(
    device: &CudaDevice,
    problem: &GemmProblem,
    a: &CudaBuffer,
    b: &CudaBuffer,
    c: &mut CudaBuffer,
) -> Result<()> {
    if problem.m <= gemv::MAX_ROWS {
        return gemv::run(device, problem, a, b, c);
    }
    Err(Error::Unsupported(format!(
        "the mlx backend on CUDA has no kernel yet for m = {} > {} rows",
        problem.m,
        gemv::MAX_ROWS
    )))
}
