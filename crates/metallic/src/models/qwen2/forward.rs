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
        #[cfg(feature = "cuda")]
        self.set_tokens(tokens)?;
        self.layers(ctx, tokens, n_out)
    }

    /// On a GPU, writes the batch's ids and positions to device memory (the
    /// part of a step a captured graph does not contain).
    #[cfg(feature = "cuda")]
    pub fn set_tokens(&mut self, tokens: &[u32]) -> Result<()> {
        match &mut self.scratch.indices {
            Some(indices) => indices.set(tokens, self.start),
            None => Ok(()),
        }
    }

    /// `run` after `set_tokens`: every op queued on the Context.
    pub fn layers(&mut self, ctx: &Context, tokens: &[u32], n_out: usize) -> Result<Tensor> {
        self.embed(ctx, tokens)?;
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
        self.mix(ctx, index, w)?;
        let s = &*self.scratch;
        add_projection(ctx, &s.attn, &w.output, &s.x)
    }

    /// The batch's rows of the embedding table into `x`.
    fn embed(&mut self, ctx: &Context, tokens: &[u32]) -> Result<()> {
        let s = &*self.scratch;
        #[cfg(feature = "cuda")]
        if let Some(indices) = &s.indices {
            return ctx.embedding_at(&self.weights.token_embd, indices, &s.x);
        }
        ctx.embedding(&self.weights.token_embd, tokens, &s.x)
    }

    /// Attention proper, after the projections: fused on a GPU, composed of
    /// matmuls and a softmax on the CPU; the result in `attn`.
    fn mix(&mut self, ctx: &Context, index: usize, w: &BlockWeights) -> Result<()> {
        #[cfg(feature = "cuda")]
        if self.scratch.indices.is_some() {
            return self.fused_attention(ctx, index, w);
        }
        self.composed_attention(ctx, index, w)
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

    /// Attention on a GPU: RoPE in place, the new keys and values (with
    /// their bias) stored into the cache at their positions, then the fused
    /// attention kernel; the result in `attn`. Positions come from the
    /// batch's device indices, so a captured step replays anywhere.
    #[cfg(feature = "cuda")]
    fn fused_attention(&mut self, ctx: &Context, index: usize, w: &BlockWeights) -> Result<()> {
        let c = self.config;
        let s = &mut *self.scratch;
        let Some(indices) = &s.indices else {
            return Err(crate::error::Error::Unsupported(
                "fused attention without device indices".into(),
            ));
        };
        let seq = s.seq;
        let (heads, kv_heads, d) = (c.n_heads, c.n_kv_heads, c.head_dim);
        let q = s.q_biased.reshape(&[seq, heads, d])?;
        let k = s.k_biased.reshape(&[seq, kv_heads, d])?;
        ctx.rope_at(&q, indices, c.rope_base)?;
        ctx.rope_at(&k, indices, c.rope_base)?;
        let (keys, values) = self.cache.block(index);
        ctx.store_at(&k, None, indices, keys)?;
        let v = s.v_proj.reshape(&[seq, kv_heads, d])?;
        ctx.store_at(&v, Some(&w.v_bias), indices, values)?;
        ctx.attention(
            &q,
            keys,
            values,
            indices,
            &s.attn.reshape(&[seq, heads, d])?,
        )
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
