//! The `mlx` backend on CUDA: the project's own kernels after MLX's "steel"
//! design, compiled by NVRTC per specialization.

pub mod gemm;
mod gemm_key;
pub mod tile_table;

pub use gemm::{run_gemm, run_gemm_with_plan};
pub use gemm_key::GemmKey;
pub use tile_table::{GemmPlan, Tile};

use crate::device::cuda::{CudaBuffer, CudaDevice};
use crate::error::Result;
use crate::ops::matmul::GemmProblem;

/// Runs `problem` on `device`: the tiled GEMM.
pub fn run(
    device: &CudaDevice,
    problem: &GemmProblem,
    a: &CudaBuffer,
    b: &CudaBuffer,
    c: &mut CudaBuffer,
) -> Result<()> {
    run_gemm(device, problem, a, b, c)
}
