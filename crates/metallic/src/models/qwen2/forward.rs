//! One batch of tokens through the network, after the cached ones: every op
//! a Context call, every intermediate in the batch's scratch buffers.

use super::config::Qwen2Config;
use super::kv_cache::KvCache;
use super::scratch::Scratch;
use super::weights::{BlockWeights, Qwen2Weights};
use crate::context::Context;
use crate::error::Result;
use crate::tensor::Tensor;

/// What one batch runs with.
pub struct Batch<'a> {
    pub config: &'a Qwen2Config,
    pub weights: &'a Qwen2Weights,
    pub cache: &'a KvCache,
    pub scratch: &'a mut Scratch,
    /// Position of the batch's first token (the number of cached tokens).
    pub start: usize,
}

impl Batch<'_> {
    /// Runs `tokens` (as many as the scratch holds) through every block,
    /// writing their keys and values into the cache, and returns the final
    /// hidden states [seq, hidden], normalized, for the last `n_out` tokens.
    pub fn run(&mut self, ctx: &Context, tokens: &[u32], n_out: usize) -> Result<Tensor> {
        ctx.embedding(&self.weights.token_embd, tokens, &self.scratch.x)?;
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
        let s = &mut *self.scratch;
        ctx.rms_norm(&s.x, &w.attn_norm, c.rms_eps, &s.normed)?;
        project(ctx, &s.normed, &w.q, &s.q_proj)?;
        project(ctx, &s.normed, &w.k, &s.k_proj)?;
        project(ctx, &s.normed, &w.v, &s.v_proj)?;
        ctx.add(&s.q_proj, &w.q_bias, &s.q_biased)?;
        ctx.add(&s.k_proj, &w.k_bias, &s.k_biased)?;
        if ctx.device().is_cuda() {
            self.fused_attention(ctx, index, w)?;
        } else {
            self.composed_attention(ctx, index, w)?;
        }
        let s = &mut *self.scratch;
        project(ctx, &s.attn, &w.output, &s.attn_out)?;
        ctx.add(&s.x, &s.attn_out, &s.x_next)?;
        std::mem::swap(&mut s.x, &mut s.x_next);
        Ok(())
    }

    /// Attention on the CPU: RoPE into the cache window, then Q·Kᵀ, a
    /// causal softmax and P·V as batched matmuls; the result in `attn`.
    fn composed_attention(&mut self, ctx: &Context, index: usize, w: &BlockWeights) -> Result<()> {
        let c = self.config;
        let s = &mut *self.scratch;
        let (seq, start) = (s.seq, self.start);
        let len = start + seq;
        let (heads, kv_heads, d) = (c.n_heads, c.n_kv_heads, c.head_dim);
        let group = heads / kv_heads;

        let (k_slots, v_slots) = self.cache.window(index, start, seq)?;
        let q_heads = s.q.permute(&[1, 0, 2])?;
        ctx.rope(
            &s.q_biased.reshape(&[seq, heads, d])?,
            start,
            c.rope_base,
            &q_heads,
        )?;
        ctx.rope(
            &s.k_biased.reshape(&[seq, kv_heads, d])?,
            start,
            c.rope_base,
            &k_slots,
        )?;
        ctx.add(
            &s.v_proj.reshape(&[seq, kv_heads, d])?,
            &w.v_bias.reshape(&[kv_heads, d])?,
            &v_slots,
        )?;

        // Scores: the `group` query heads sharing a KV head are one matrix
        // [group·seq, d] against that head's keys [len, d].
        let (keys, values) = self.cache.prefix(index, len)?;
        let queries = s.q.reshape(&[kv_heads, group * seq, d])?;
        let scores = s.scores.narrow(2, 0, len)?;
        let scale = 1.0 / (d as f32).sqrt();
        ctx.matmul_alpha_beta(&queries, &keys, Some(&scores), false, true, scale, 0.0)?;
        let per_head = [kv_heads, group, seq, len];
        let probs = s.probs.narrow(2, 0, len)?.reshape(&per_head)?;
        ctx.softmax(&scores.reshape(&per_head)?, Some(start), &probs)?;

        // P·V per KV head, heads-major like the queries; then token-major.
        let heads_out = s.attn_heads.reshape(&[kv_heads, group * seq, d])?;
        let probs = probs.reshape(&[kv_heads, group * seq, len])?;
        ctx.matmul_alpha_beta(&probs, &values, Some(&heads_out), false, false, 1.0, 0.0)?;
        ctx.copy(
            &s.attn_heads.permute(&[1, 0, 2])?,
            &s.attn.reshape(&[seq, heads, d])?,
        )
    }

    /// Attention on a GPU: RoPE in place, the new keys and values copied
    /// into the cache, then the fused attention kernel; the result in `attn`.
    fn fused_attention(&mut self, ctx: &Context, index: usize, w: &BlockWeights) -> Result<()> {
        let c = self.config;
        let s = &mut *self.scratch;
        let (seq, start) = (s.seq, self.start);
        let (heads, kv_heads, d) = (c.n_heads, c.n_kv_heads, c.head_dim);
        let q = s.q_biased.reshape(&[seq, heads, d])?;
        let k = s.k_biased.reshape(&[seq, kv_heads, d])?;
        ctx.rope(&q, start, c.rope_base, &q)?;
        ctx.rope(&k, start, c.rope_base, &k)?;
        ctx.add(&s.v_proj, &w.v_bias, &s.v_biased)?;
        let (keys, values) = self.cache.block(index);
        ctx.copy(&k, &keys.narrow(0, start, seq)?)?;
        ctx.copy(
            &s.v_biased.reshape(&[seq, kv_heads, d])?,
            &values.narrow(0, start, seq)?,
        )?;
        ctx.attention(&q, keys, values, start, &s.attn.reshape(&[seq, heads, d])?)
    }

    /// x += down(silu(gate(h)) · up(h)), h = RMSNorm(x).
    fn mlp(&mut self, ctx: &Context, w: &BlockWeights) -> Result<()> {
        let s = &mut *self.scratch;
        ctx.rms_norm(&s.x, &w.ffn_norm, self.config.rms_eps, &s.normed)?;
        project(ctx, &s.normed, &w.gate, &s.gate)?;
        project(ctx, &s.normed, &w.up, &s.up)?;
        ctx.swiglu(&s.gate, &s.up, &s.act)?;
        project(ctx, &s.act, &w.down, &s.down)?;
        ctx.add(&s.x, &s.down, &s.x_next)?;
        std::mem::swap(&mut s.x, &mut s.x_next);
        Ok(())
    }
}

/// out = x · Wᵀ for a weight stored [out, in] in its GGUF type.
fn project(ctx: &Context, x: &Tensor, weight: &Tensor, out: &Tensor) -> Result<()> {
    ctx.matmul_alpha_beta(x, weight, Some(out), false, true, 1.0, 0.0)?;
    Ok(())
}
