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
    /// The residual stream [seq, hidden] and its next value.
    pub x: Tensor,
    pub x_next: Tensor,
    /// RMSNorm output [seq, hidden].
    pub normed: Tensor,
    /// Projections before and after their biases.
    pub q_proj: Tensor,
    pub q_biased: Tensor,
    pub k_proj: Tensor,
    pub k_biased: Tensor,
    pub v_proj: Tensor,
    /// Values after their bias (the GPU path copies them into the cache).
    pub v_biased: Tensor,
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
    pub attn_out: Tensor,
    /// MLP [seq, ffn] and its output [seq, hidden].
    pub gate: Tensor,
    pub up: Tensor,
    pub act: Tensor,
    pub down: Tensor,
}

impl Scratch {
    pub fn new(ctx: &Context, config: &Qwen2Config, seq: usize, capacity: usize) -> Result<Self> {
        let c = config;
        let group = c.n_heads / c.n_kv_heads;
        let buffer = |shape: &[usize]| Tensor::empty(ctx.device(), DType::F32, shape);
        let capacity = if ctx.device().is_cuda() { 0 } else { capacity };
        Ok(Scratch {
            seq,
            x: buffer(&[seq, c.hidden_size])?,
            x_next: buffer(&[seq, c.hidden_size])?,
            normed: buffer(&[seq, c.hidden_size])?,
            q_proj: buffer(&[seq, c.hidden_size])?,
            q_biased: buffer(&[seq, c.hidden_size])?,
            k_proj: buffer(&[seq, c.kv_dim()])?,
            k_biased: buffer(&[seq, c.kv_dim()])?,
            v_proj: buffer(&[seq, c.kv_dim()])?,
            v_biased: buffer(&[seq, c.kv_dim()])?,
            q: buffer(&[c.n_heads, seq, c.head_dim])?,
            scores: buffer(&[c.n_kv_heads, group * seq, capacity])?,
            probs: buffer(&[c.n_kv_heads, group * seq, capacity])?,
            attn_heads: buffer(&[c.n_heads, seq, c.head_dim])?,
            attn: buffer(&[seq, c.hidden_size])?,
            attn_out: buffer(&[seq, c.hidden_size])?,
            gate: buffer(&[seq, c.ffn_size])?,
            up: buffer(&[seq, c.ffn_size])?,
            act: buffer(&[seq, c.ffn_size])?,
            down: buffer(&[seq, c.hidden_size])?,
        })
    }
}
