//! One batch of tokens through the network, after the cached ones: every op
//! a Context call, every intermediate in the batch's scratch buffers.

use super::config::Qwen2Config;
use super::scratch::Scratch;
use super::weights::{BlockWeights, Qwen2Weights};
use crate::context::Context;
use crate::error::Result;
use crate::ops::{AttentionInput, KvCache};
use crate::tensor::Tensor;

/// What one batch runs with.
pub struct Batch<'a> {
    pub config: &'a Qwen2Config,
    pub weights: &'a Qwen2Weights,
    pub cache: &'a mut KvCache,
    /// Buffers for the batch; its step input already set to the batch's
    /// ids and positions.
    pub scratch: &'a mut Scratch,
}

impl Batch<'_> {
    /// Queues the batch through every block, writing its keys and values
    /// into the cache, and returns the final hidden states [seq, hidden],
    /// normalized, for the last `n_out` tokens.
    pub fn layers(&mut self, ctx: &Context, n_out: usize) -> Result<Tensor> {
        let s = &*self.scratch;
        ctx.embed(&self.weights.token_embd, &s.step, &s.x)?;
        for (index, block) in self.weights.blocks.iter().enumerate() {
            self.attention(ctx, index, block)?;
            self.mlp(ctx, block)?;
        }
        // Every row is normalized (cheap, and no view at an offset for the
        // GPU kernels); only the last `n_out` are returned.
        let s = &*self.scratch;
        ctx.rms_norm(
            &s.x,
            &self.weights.output_norm,
            self.config.rms_eps,
            &s.normed,
        )?;
        s.normed.narrow(0, s.seq - n_out, n_out)
    }

    /// x += Attention(RMSNorm(x)), with this batch's keys and values cached.
    fn attention(&mut self, ctx: &Context, index: usize, w: &BlockWeights) -> Result<()> {
        let c = self.config;
        let s = &*self.scratch;
        let (seq, heads, kv_heads, d) = (s.seq, c.n_heads, c.n_kv_heads, c.head_dim);
        ctx.rms_norm(&s.x, &w.attn_norm, c.rms_eps, &s.normed)?;
        project(ctx, &s.normed, &w.q, &s.q_proj)?;
        project(ctx, &s.normed, &w.k, &s.k_proj)?;
        project(ctx, &s.normed, &w.v, &s.v_proj)?;
        ctx.add(&s.q_proj, &w.q_bias, &s.q_biased)?;
        ctx.add(&s.k_proj, &w.k_bias, &s.k_biased)?;
        let input = AttentionInput {
            q: &s.q_biased.reshape(&[seq, heads, d])?,
            k: &s.k_biased.reshape(&[seq, kv_heads, d])?,
            v: &s.v_proj.reshape(&[seq, kv_heads, d])?,
            v_bias: Some(&w.v_bias),
            rope_base: c.rope_base,
        };
        let out = s.attn.reshape(&[seq, heads, d])?;
        ctx.attention(&input, self.cache, index, &s.step, &out)?;
        add_projection(ctx, &s.attn, &w.output, &s.x)
    }

    /// x += down(silu(gate(h)) · up(h)), h = RMSNorm(x).
    fn mlp(&mut self, ctx: &Context, w: &BlockWeights) -> Result<()> {
        let s = &*self.scratch;
        ctx.rms_norm(&s.x, &w.ffn_norm, self.config.rms_eps, &s.normed)?;
        project(ctx, &s.normed, &w.gate, &s.gate)?;
        project(ctx, &s.normed, &w.up, &s.up)?;
        ctx.swiglu(&s.gate, &s.up, &s.act)?;
        add_projection(ctx, &s.act, &w.down, &s.x)
    }
}

/// residual += x · Wᵀ, in place: the product's epilogue adds it (β = 1),
/// one kernel instead of a product and an addition.
fn add_projection(ctx: &Context, x: &Tensor, weight: &Tensor, residual: &Tensor) -> Result<()> {
    ctx.matmul_alpha_beta(x, weight, Some(residual), false, true, 1.0, 1.0)?;
    Ok(())
}

/// out = x · Wᵀ for a weight stored [out, in] in its GGUF type.
fn project(ctx: &Context, x: &Tensor, weight: &Tensor, out: &Tensor) -> Result<()> {
    ctx.matmul_alpha_beta(x, weight, Some(out), false, true, 1.0, 0.0)?;
    Ok(())
}
