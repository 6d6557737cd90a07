//! The `mlx` backend on CUDA: the project's own kernels after MLX's "steel"
//! design, compiled by NVRTC per specialization through the device's kernel
//! cache. Decode-sized products (m ≤ 8) go to the GEMV family, larger ones
//! to the tiled GEMM.

pub mod gemm;
mod gemm_key;
pub mod gemv;
pub mod tile_table;

pub use gemm::{run_gemm, run_gemm_with_plan};
pub use gemm_key::GemmKey;
pub use tile_table::{CudaGemmPlan, CudaTile};

use crate::device::cuda::{CudaBuffer, CudaDevice};
use crate::error::Result;
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
    run_gemm(device, problem, a, b, c)
}
