//! A CUDA device's backends: mlx (the GEMV family and the tiled GEMM) and
//! the vendor library (cuBLAS), each behind the wrapper that widens operands
//! its float GEMM cannot take (`widen`).
//!
//! The device's matmul state — the cuBLAS handle and the widened weights the
//! two backends share — lives here, in the registry `ContextBuilder` fills,
//! and goes with the Context. (It cannot hang on `CudaDevice` itself: the
//! widened copies are device buffers that hold their device, a cycle that
//! would never be freed.)

mod widen;

use std::sync::Arc;

use super::backend::{MatmulBackend, MatmulBackends};
use super::blas::cublas::CublasGemm;
use super::mlx;
use super::problem::GemmProblem;
use super::route::{cuda_auto_rule, Backend};
use crate::device::cuda::{CudaBuffer, CudaDevice, CudaStorage};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use widen::WidenedWeights;

/// A CUDA backend's kernels: a float problem over device buffers.
trait DeviceKernels: Send + Sync {
    fn run(
        &self,
        p: &GemmProblem,
        a: &CudaBuffer,
        b: &CudaBuffer,
        c: &mut CudaBuffer,
    ) -> Result<()>;
}

impl DeviceKernels for CublasGemm {
    fn run(
        &self,
        p: &GemmProblem,
        a: &CudaBuffer,
        b: &CudaBuffer,
        c: &mut CudaBuffer,
    ) -> Result<()> {
        CublasGemm::run(self, p, a, b, c)
    }
}

/// mlx's kernels on one device.
struct MlxCuda(CudaDevice);

impl DeviceKernels for MlxCuda {
    fn run(
        &self,
        p: &GemmProblem,
        a: &CudaBuffer,
        b: &CudaBuffer,
        c: &mut CudaBuffer,
    ) -> Result<()> {
        mlx::cuda::run(&self.0, p, a, b, c)
    }
}

/// A CUDA backend: widens the operands `kernels` cannot take as they are
/// when `widens` says so, then borrows the buffers (inputs shared, output
/// exclusive) and runs the kernels.
struct Widening<K> {
    backend: Backend,
    kernels: K,
    widens: fn(&GemmProblem) -> bool,
    weights: Arc<WidenedWeights>,
}

impl<K: DeviceKernels> MatmulBackend for Widening<K> {
    fn backend(&self) -> Backend {
        self.backend
    }

    fn run(&self, problem: &GemmProblem, a: &Tensor, b: &Tensor, c: &Tensor) -> Result<()> {
        let widened = match (self.widens)(problem) {
            true => self.weights.widen(problem, a, b)?,
            false => None,
        };
        let a_read = storage(a, "a")?.read()?;
        let b_read = storage(b, "b")?.read()?;
        let mut c_write = storage(c, "c")?.write()?;
        match &widened {
            None => self.kernels.run(problem, &a_read, &b_read, &mut c_write),
            Some(w) => self.kernels.run(
                &w.problem,
                w.a.as_deref().unwrap_or(&a_read),
                w.b.as_deref().unwrap_or(&b_read),
                &mut c_write,
            ),
        }
    }
}

fn storage<'t>(t: &'t Tensor, name: &str) -> Result<&'t CudaStorage> {
    t.buffer()
        .cuda()
        .ok_or_else(|| Error::InvalidArgument(format!("operand `{name}` is not in CUDA memory")))
}

/// cuBLAS takes one float type: it always widens what needs it.
fn always(_: &GemmProblem) -> bool {
    true
}

/// The GEMV (m ≤ 8) reads GGUF blocks and mixed float types itself; the
/// tiled GEMM multiplies one half type.
fn beyond_gemv(p: &GemmProblem) -> bool {
    p.m > mlx::cuda::gemv::MAX_ROWS
}

/// `device`'s registry: mlx and cuBLAS sharing one cache of widened
/// weights, routed by `cuda_auto_rule`.
pub(super) fn backends(device: &CudaDevice) -> Result<MatmulBackends> {
    let weights = Arc::new(WidenedWeights::default());
    Ok(MatmulBackends::new(
        vec![
            Box::new(Widening {
                backend: Backend::Mlx,
                kernels: MlxCuda(device.clone()),
                widens: beyond_gemv,
                weights: Arc::clone(&weights),
            }),
            Box::new(Widening {
                backend: Backend::Vendor,
                kernels: CublasGemm::new(device)?,
                widens: always,
                weights,
            }),
        ],
        cuda_auto_rule,
    ))
}
