//! The CPU's backends: mlx and the vendor library (the `gemm` crate), each
//! run on the operands' host bytes inside the Context's thread pool.

use std::sync::Arc;

use super::backend::{MatmulBackend, MatmulBackends};
use super::blas::VendorCpu;
use super::mlx::MlxCpu;
use super::problem::GemmProblem;
use super::route::{auto_rule, Backend};
use crate::error::Result;
use crate::tensor::Tensor;

/// A CPU backend's kernels: a problem over whole host buffers (element
/// offsets and strides come from the problem).
pub(crate) trait HostKernels: Send + Sync {
    fn run(&self, p: &GemmProblem, a: &[u8], b: &[u8], c: &mut [u8]) -> Result<()>;
}

impl HostKernels for MlxCpu {
    fn run(&self, p: &GemmProblem, a: &[u8], b: &[u8], c: &mut [u8]) -> Result<()> {
        MlxCpu::run(self, p, a, b, c)
    }
}

impl HostKernels for VendorCpu {
    fn run(&self, p: &GemmProblem, a: &[u8], b: &[u8], c: &mut [u8]) -> Result<()> {
        VendorCpu::run(self, p, a, b, c)
    }
}

/// A CPU backend: borrows the three host buffers (inputs shared, output
/// exclusive) and runs its kernels in the Context's pool, so rayon work they
/// start uses the Context's threads.
struct OnHost<K> {
    backend: Backend,
    kernels: K,
    pool: Arc<rayon::ThreadPool>,
}

impl<K: HostKernels> MatmulBackend for OnHost<K> {
    fn backend(&self) -> Backend {
        self.backend
    }

    fn run(&self, problem: &GemmProblem, a: &Tensor, b: &Tensor, c: &Tensor) -> Result<()> {
        let a_bytes = a.buffer().read()?;
        let b_bytes = b.buffer().read()?;
        let mut c_bytes = c.buffer().write()?;
        let (a_bytes, b_bytes, c_bytes) = (&a_bytes[..], &b_bytes[..], &mut c_bytes[..]);
        self.pool
            .install(|| self.kernels.run(problem, a_bytes, b_bytes, c_bytes))
    }
}

/// The CPU's registry: mlx and vendor, routed by the measured `auto_rule`.
pub(super) fn backends(pool: &Arc<rayon::ThreadPool>) -> MatmulBackends {
    MatmulBackends::new(
        vec![
            Box::new(OnHost {
                backend: Backend::Mlx,
                kernels: MlxCpu::new(),
                pool: Arc::clone(pool),
            }),
            Box::new(OnHost {
                backend: Backend::Vendor,
                kernels: VendorCpu::new(),
                pool: Arc::clone(pool),
            }),
        ],
        auto_rule,
    )
}
