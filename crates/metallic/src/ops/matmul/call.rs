//! The matmul API on `Context`: `ctx.matmul(&x, w.t())`, the builder
//! `ctx.gemm(&x, w.t()).out(&y).alpha(a).beta(1.0).run()` for an output, α,
//! β or a reused buffer, and the seed's `matmul_alpha_beta` calls as thin
//! wrappers over it. Every call becomes one validated `GemmProblem` that the
//! Context's backend registry routes.

use super::problem::GemmProblem;
use crate::context::Context;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::instrument::DispatchRecord;
use crate::resource_cache::ResourceCache;
use crate::tensor::{MatmulArg, Tensor};

/// The Context call a dispatch came from, as the profile names it.
#[derive(Clone, Copy)]
enum MatmulOp {
    Matmul,
    Gemm,
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
            MatmulOp::Gemm => with_weight_type!("gemm", b),
            MatmulOp::AlphaBeta => with_weight_type!("matmul_alpha_beta", b),
            MatmulOp::AlphaBetaCached => with_weight_type!("matmul_alpha_beta_with_cache", b),
        }
    }
}

/// One product being described: `out = α · a · b + β · out`. Made by
/// `Context::gemm`; nothing runs until `run`.
#[must_use = "a Gemm does nothing until `run`"]
pub struct Gemm<'t> {
    ctx: &'t Context,
    op: MatmulOp,
    a: MatmulArg<'t>,
    b: MatmulArg<'t>,
    out: Option<&'t Tensor>,
    cache: Option<&'t mut ResourceCache>,
    alpha: f32,
    beta: f32,
}

impl<'t> Gemm<'t> {
    /// Writes into `out` in place (returned as a view of it) instead of a
    /// new tensor. `out` must have exactly the product's shape and A's
    /// dtype, and may not share a buffer with `a` or `b`.
    pub fn out(mut self, out: &'t Tensor) -> Self {
        self.out = Some(out);
        self
    }

    /// Takes a new output from `cache` (a buffer reused once its last user
    /// is dropped) when no `out` is given.
    pub fn cache(mut self, cache: &'t mut ResourceCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Scales the product (default 1).
    pub fn alpha(mut self, alpha: f32) -> Self {
        self.alpha = alpha;
        self
    }

    /// Adds `beta · out` (default 0: `out` is only written). Needs `out`.
    pub fn beta(mut self, beta: f32) -> Self {
        self.beta = beta;
        self
    }

    /// Runs the product and returns the output.
    pub fn run(self) -> Result<Tensor> {
        let ctx = self.ctx;
        let (a, b) = (self.a.tensor(), self.b.tensor());
        let (transpose_a, transpose_b) = (self.a.is_transposed(), self.b.is_transposed());
        for (name, t) in [("a", Some(a)), ("b", Some(b)), ("c", self.out)] {
            if let Some(t) = t.filter(|t| &t.device() != ctx.device()) {
                return Err(Error::InvalidArgument(format!(
                    "operand `{name}` is on {} but the Context runs on {}",
                    t.device(),
                    ctx.device()
                )));
            }
        }
        let out = match (self.out, self.cache) {
            (Some(c), _) => c.clone(),
            (None, _) if self.beta != 0.0 => {
                return Err(Error::InvalidArgument(format!(
                    "beta = {} adds to the output, so the output tensor c is required",
                    self.beta
                )))
            }
            (None, None) => {
                let shape = GemmProblem::output_shape(a, b, transpose_a, transpose_b)?;
                Tensor::empty(ctx.device(), a.dtype(), &shape)?
            }
            (None, Some(cache)) => {
                let shape = GemmProblem::output_shape(a, b, transpose_a, transpose_b)?;
                cache.tensor(ctx.device(), a.dtype(), &shape)?
            }
        };
        for (name, input) in [("a", a), ("b", b)] {
            if out.shares_buffer(input) {
                return Err(Error::InvalidArgument(format!(
                    "the output shares a buffer with operand `{name}`; it must be a separate tensor"
                )));
            }
        }
        let problem =
            GemmProblem::from_views(a, b, &out, transpose_a, transpose_b, self.alpha, self.beta)?;
        if problem.is_empty() {
            return Ok(out);
        }
        if problem.k == 0 {
            // An empty sum: only the beta term remains.
            let scaled: Vec<f32> = match self.beta {
                0.0 => vec![0.0; out.numel()],
                beta => out.to_f32_vec()?.into_iter().map(|v| beta * v).collect(),
            };
            out.write_f32(&scaled)?;
            return Ok(out);
        }
        let backend = ctx
            .matmul_backends()
            .route(ctx.backend_choice(), &problem)?;
        if !ctx.instrumentation().enabled() {
            backend.run(&problem, a, b, &out)?;
            return Ok(out);
        }
        let ((), duration) = ctx.device().time(|| backend.run(&problem, a, b, &out))?;
        ctx.instrumentation().record(DispatchRecord {
            op: self.op.label(b.dtype()),
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

impl Context {
    /// `a · b` into a new row-major tensor of A's dtype. Leading batch
    /// dimensions broadcast numpy-style; a transpose is said by the operand
    /// (`w.t()`). `b` may be GGUF blocks stored [.., N, K], read as `w.t()`
    /// (the weight path `x · Wᵀ`).
    pub fn matmul<'t>(
        &'t self,
        a: impl Into<MatmulArg<'t>>,
        b: impl Into<MatmulArg<'t>>,
    ) -> Result<Tensor> {
        self.start(MatmulOp::Matmul, a.into(), b.into()).run()
    }

    /// `a · b` with an output, α, β or a buffer cache to set before `run`:
    /// `ctx.gemm(&x, w.t()).out(&y).beta(1.0).run()?` adds `x · Wᵀ` to `y`.
    pub fn gemm<'t>(
        &'t self,
        a: impl Into<MatmulArg<'t>>,
        b: impl Into<MatmulArg<'t>>,
    ) -> Gemm<'t> {
        self.start(MatmulOp::Gemm, a.into(), b.into())
    }

    /// `c = alpha · op(a) · op(b) + beta · c`, where `op` transposes the
    /// last two dimensions when its flag is set: the seed's call, kept as a
    /// wrapper of `gemm`. Without `c` the output is a new tensor and `beta`
    /// must be 0.
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
        let gemm = self.start(
            MatmulOp::AlphaBeta,
            arg(a, transpose_a),
            arg(b, transpose_b),
        );
        with_out(gemm, c).alpha(alpha).beta(beta).run()
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
        let gemm = self.start(
            MatmulOp::AlphaBetaCached,
            arg(a, transpose_a),
            arg(b, transpose_b),
        );
        with_out(gemm.cache(cache), c).alpha(alpha).beta(beta).run()
    }

    fn start<'t>(&'t self, op: MatmulOp, a: MatmulArg<'t>, b: MatmulArg<'t>) -> Gemm<'t> {
        Gemm {
            ctx: self,
            op,
            a,
            b,
            out: None,
            cache: None,
            alpha: 1.0,
            beta: 0.0,
        }
    }
}

/// `t`, transposed when `transposed` is set.
fn arg(t: &Tensor, transposed: bool) -> MatmulArg<'_> {
    match transposed {
        true => t.t(),
        false => t.into(),
    }
}

fn with_out<'t>(gemm: Gemm<'t>, out: Option<&'t Tensor>) -> Gemm<'t> {
    match out {
        Some(out) => gemm.out(out),
        None => gemm,
    }
}
