//! Matrix products: the public API on `Context`, one validated problem, and
//! the backends that run it.

pub mod backend;
pub mod blas;
mod host;
pub mod mlx;
#[cfg(feature = "cuda")]
mod on_cuda;
pub mod problem;
pub mod route;

pub use backend::{MatmulBackend, MatmulBackends};
pub use problem::{GemmProblem, MatrixOperand};
pub use route::{Backend, BackendChoice};

use crate::context::Context;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::instrument::DispatchRecord;
use crate::resource_cache::ResourceCache;
use crate::tensor::Tensor;

/// The Context call a dispatch came from, as the profile names it.
#[derive(Clone, Copy)]
enum MatmulOp {
    Matmul,
    AlphaBeta,
    AlphaBetaCached,
}

/// `op` with a quantized weight type appended (`"matmul[Q4_K]"`), as a
/// static string; `op` itself for a float `b`.
macro_rules! with_weight_type {
    ($op:literal, $b:expr) => {
        match $b {
            DType::Q4_0 => concat!($op, "[Q4_0]"),
            DType::Q4_1 => concat!($op, "[Q4_1]"),
            DType::Q5_0 => concat!($op, "[Q5_0]"),
            DType::Q5_1 => concat!($op, "[Q5_1]"),
            DType::Q8_0 => concat!($op, "[Q8_0]"),
            DType::Q2_K => concat!($op, "[Q2_K]"),
            DType::Q3_K => concat!($op, "[Q3_K]"),
            DType::Q4_K => concat!($op, "[Q4_K]"),
            DType::Q5_K => concat!($op, "[Q5_K]"),
            DType::Q6_K => concat!($op, "[Q6_K]"),
            DType::Q8_K => concat!($op, "[Q8_K]"),
            DType::F32 | DType::F16 | DType::BF16 => $op,
        }
    };
}

impl MatmulOp {
    /// The recorded op: the call's name, and for a quantized `b` its type
    /// (the record's dtype is the activations').
    fn label(self, b: DType) -> &'static str {
        match self {
            MatmulOp::Matmul => with_weight_type!("matmul", b),
            MatmulOp::AlphaBeta => with_weight_type!("matmul_alpha_beta", b),
            MatmulOp::AlphaBetaCached => with_weight_type!("matmul_alpha_beta_with_cache", b),
        }
    }
}

/// Where a product's output comes from when the caller gives no `c`.
enum Output<'a> {
    Allocate,
    Cached(&'a mut ResourceCache),
}

impl Context {
    /// `op(a) · op(b)` into a new row-major tensor of A's dtype, where `op`
    /// transposes the last two dimensions when its flag is set (`a` stored
    /// [.., K, M], `b` stored [.., N, K]). Leading batch dimensions broadcast
    /// numpy-style. `b` may be a GGUF block type stored [.., N, K] with
    /// `transpose_b` (the weight path `x · Wᵀ`).
    pub fn matmul(
        &self,
        a: &Tensor,
        b: &Tensor,
        transpose_a: bool,
        transpose_b: bool,
    ) -> Result<Tensor> {
        self.run_matmul(
            MatmulOp::Matmul,
            a,
            b,
            None,
            transpose_a,
            transpose_b,
            1.0,
            0.0,
            Output::Allocate,
        )
    }

    /// `c = alpha · op(a) · op(b) + beta · c`, written in place into `c` when
    /// given (and returned as a view of it); otherwise into a new tensor, in
    /// which case `beta` must be 0. `c` must have exactly the product's shape
    /// and may not share a buffer with `a` or `b`.
    #[allow(clippy::too_many_arguments)]
    pub fn matmul_alpha_beta(
        &self,
        a: &Tensor,
        b: &Tensor,
        c: Option<&Tensor>,
        transpose_a: bool,
        transpose_b: bool,
        alpha: f32,
        beta: f32,
    ) -> Result<Tensor> {
        self.run_matmul(
            MatmulOp::AlphaBeta,
            a,
            b,
            c,
            transpose_a,
            transpose_b,
            alpha,
            beta,
            Output::Allocate,
        )
    }

    /// `matmul_alpha_beta`, taking the output from `cache` when no `c` is
    /// given (a buffer reused across calls once its last user is dropped).
    #[allow(clippy::too_many_arguments)]
    pub fn matmul_alpha_beta_with_cache(
        &self,
        a: &Tensor,
        b: &Tensor,
        c: Option<&Tensor>,
        transpose_a: bool,
        transpose_b: bool,
        alpha: f32,
        beta: f32,
        cache: &mut ResourceCache,
    ) -> Result<Tensor> {
        self.run_matmul(
            MatmulOp::AlphaBetaCached,
            a,
            b,
            c,
            transpose_a,
            transpose_b,
            alpha,
            beta,
            Output::Cached(cache),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn run_matmul(
        &self,
        op: MatmulOp,
        a: &Tensor,
        b: &Tensor,
        c: Option<&Tensor>,
        transpose_a: bool,
        transpose_b: bool,
        alpha: f32,
        beta: f32,
        output: Output<'_>,
    ) -> Result<Tensor> {
        for (name, t) in [("a", Some(a)), ("b", Some(b)), ("c", c)] {
            if let Some(t) = t.filter(|t| &t.device() != self.device()) {
                return Err(Error::InvalidArgument(format!(
                    "operand `{name}` is on {} but the Context runs on {}",
                    t.device(),
                    self.device()
                )));
            }
        }
        let out = match (c, output) {
            (Some(c), _) => c.clone(),
            (None, _) if beta != 0.0 => {
                return Err(Error::InvalidArgument(format!(
                    "beta = {beta} adds to the output, so the output tensor c is required"
                )))
            }
            (None, Output::Allocate) => {
                let shape = GemmProblem::output_shape(a, b, transpose_a, transpose_b)?;
                Tensor::empty(self.device(), a.dtype(), &shape)?
            }
            (None, Output::Cached(cache)) => {
                let shape = GemmProblem::output_shape(a, b, transpose_a, transpose_b)?;
                cache.tensor(self.device(), a.dtype(), &shape)?
            }
        };
        for (name, input) in [("a", a), ("b", b)] {
            if out.shares_buffer(input) {
                return Err(Error::InvalidArgument(format!(
                    "the output shares a buffer with operand `{name}`; it must be a separate tensor"
                )));
            }
        }
        let problem = GemmProblem::from_views(a, b, &out, transpose_a, transpose_b, alpha, beta)?;
        if problem.m == 0 || problem.n == 0 || problem.batch_count() == 0 {
            return Ok(out);
        }
        if problem.k == 0 {
            // An empty sum: only the beta term remains.
            let scaled: Vec<f32> = match beta {
                0.0 => vec![0.0; out.numel()],
                _ => out.to_f32_vec()?.into_iter().map(|v| beta * v).collect(),
            };
            out.write_f32(&scaled)?;
            return Ok(out);
        }
        let backend = self
            .matmul_backends()
            .route(self.backend_choice(), &problem)?;
        if !self.instrumentation().enabled() {
            backend.run(&problem, a, b, &out)?;
            return Ok(out);
        }
        let ((), duration) = self.device().time(|| backend.run(&problem, a, b, &out))?;
        self.instrumentation().record(DispatchRecord {
            op: op.label(b.dtype()),
            backend: backend.backend().name(),
            dtype: a.dtype(),
            batch: problem.batch_count(),
            m: problem.m,
            n: problem.n,
            k: problem.k,
            transpose_a,
            transpose_b,
            duration,
        });
        Ok(out)
    }
}
