//! Activation buffers for one batch size, reused across forward calls of
//! that size (every decode step), so a step allocates almost nothing.

use super::config::Qwen2Config;
use crate::context::Context;
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::Tensor;

pub struct Scratch {
    /// Tokens per batch these buffers hold.
    pub seq: usize,
    /// The residual stream [seq, hidden], updated in place.
    pub x: Tensor,
    /// RMSNorm output [seq, hidden].
    pub normed: Tensor,
    /// Projections before and after their biases.
    pub q_proj: Tensor,
    pub q_biased: Tensor,
    pub k_proj: Tensor,
    pub k_biased: Tensor,
    pub v_proj: Tensor,
    /// Rotated queries [heads, seq, head_dim]: grouped by KV head, so the
    /// queries sharing one are a single [group·seq, head_dim] matrix.
    pub q: Tensor,
    /// Attention scores and probabilities [kv_heads, group·seq, capacity];
    /// a call uses the first `len` columns (rows stay `capacity` apart).
    /// Empty (capacity 0) on a GPU, whose attention kernel keeps its scores.
    pub scores: Tensor,
    pub probs: Tensor,
    /// Attention output per head [heads, seq, head_dim], and token-major
    /// [seq, heads·head_dim] for the output projection.
    pub attn_heads: Tensor,
    pub attn: Tensor,
    /// MLP [seq, ffn].
    pub gate: Tensor,
    pub up: Tensor,
    pub act: Tensor,
    /// On a GPU, the batch's token ids and positions in device memory (the
    /// kernels read them there; see `ops::cuda::BatchIndices`).
    #[cfg(feature = "cuda")]
    pub indices: Option<crate::ops::cuda::BatchIndices>,
}

impl Scratch {
    pub fn new(ctx: &Context, config: &Qwen2Config, seq: usize, capacity: usize) -> Result<Self> {
        let c = config;
        let group = c.n_heads / c.n_kv_heads;
        let buffer = |shape: &[usize]| Tensor::empty(ctx.device(), DType::F32, shape);
        #[cfg(feature = "cuda")]
        let indices = device_indices(ctx, config, seq, capacity)?;
        let capacity = if ctx.device().is_cuda() { 0 } else { capacity };
        Ok(Scratch {
            seq,
            x: buffer(&[seq, c.hidden_size])?,
            normed: buffer(&[seq, c.hidden_size])?,
            q_proj: buffer(&[seq, c.hidden_size])?,
            q_biased: buffer(&[seq, c.hidden_size])?,
            k_proj: buffer(&[seq, c.kv_dim()])?,
            k_biased: buffer(&[seq, c.kv_dim()])?,
            v_proj: buffer(&[seq, c.kv_dim()])?,
            q: buffer(&[c.n_heads, seq, c.head_dim])?,
            scores: buffer(&[c.n_kv_heads, group * seq, capacity])?,
            probs: buffer(&[c.n_kv_heads, group * seq, capacity])?,
            attn_heads: buffer(&[c.n_heads, seq, c.head_dim])?,
            attn: buffer(&[seq, c.hidden_size])?,
            gate: buffer(&[seq, c.ffn_size])?,
            up: buffer(&[seq, c.ffn_size])?,
            act: buffer(&[seq, c.ffn_size])?,
            #[cfg(feature = "cuda")]
            indices,
        })
    }
}

/// On a GPU, room for the batch's ids and positions over `capacity`
/// positions; `None` on the CPU.
#[cfg(feature = "cuda")]
fn device_indices(
    ctx: &Context,
    config: &Qwen2Config,
    seq: usize,
    capacity: usize,
) -> Result<Option<crate::ops::cuda::BatchIndices>> {
    match ctx.device() {
        crate::device::Device::Cuda(cuda) => Ok(Some(crate::ops::cuda::BatchIndices::new(
            cuda,
            seq,
            config.vocab_size,
            capacity,
        )?)),
        _ => Ok(None),
    }
}
