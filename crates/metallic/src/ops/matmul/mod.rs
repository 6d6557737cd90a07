//! Matrix products: the public API on `Context` (`call`), one validated
//! problem (`problem`), the backend trait and registry (`backend`), the
//! routing rule (`route`), and the backends of each device (`host` for the
//! CPU, `on_cuda`; the kernels themselves in `mlx` and `blas`).

pub mod backend;
pub mod blas;
mod call;
mod host;
pub mod mlx;
#[cfg(feature = "cuda")]
mod on_cuda;
pub mod problem;
pub mod route;

pub use backend::{MatmulBackend, MatmulBackends};
pub use call::Gemm;
pub use problem::{GemmProblem, MatrixOperand};
pub use route::{Backend, BackendChoice};
