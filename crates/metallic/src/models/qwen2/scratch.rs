//! Activation buffers for one batch size, reused across forward calls of
//! that size (every decode step), so a step allocates almost nothing.

use super::config::Qwen2Config;
use crate::context::Context;
use crate::dtype::DType;
use crate::error::Result;
use crate::ops::StepInput;
use crate::tensor::Tensor;

pub struct Scratch {
    /// Tokens per batch these buffers hold.
    pub seq: usize,
    /// The batch's token ids and positions, where the device reads them.
    pub step: StepInput,
    /// The residual stream [seq, hidden], updated in place.
    pub x: Tensor,
    /// RMSNorm output [seq, hidden].
    pub normed: Tensor,
    /// Projections before and after their biases (the value's bias is added
    /// as attention stores it).
    pub q_proj: Tensor,
    pub q_biased: Tensor,
    pub k_proj: Tensor,
    pub k_biased: Tensor,
    pub v_proj: Tensor,
    /// Attention output, token-major [seq, heads·head_dim] for the output
    /// projection.
    pub attn: Tensor,
    /// MLP [seq, ffn].
    pub gate: Tensor,
    pub up: Tensor,
    pub act: Tensor,
}

impl Scratch {
    pub fn new(ctx: &Context, config: &Qwen2Config, seq: usize, capacity: usize) -> Result<Self> {
        let c = config;
        let buffer = |shape: &[usize]| Tensor::empty(ctx.device(), DType::F32, shape);
        Ok(Scratch {
            seq,
            step: ctx.step_input(seq, c.vocab_size, capacity)?,
            x: buffer(&[seq, c.hidden_size])?,
            normed: buffer(&[seq, c.hidden_size])?,
            q_proj: buffer(&[seq, c.hidden_size])?,
            q_biased: buffer(&[seq, c.hidden_size])?,
            k_proj: buffer(&[seq, c.kv_dim()])?,
            k_biased: buffer(&[seq, c.kv_dim()])?,
            v_proj: buffer(&[seq, c.kv_dim()])?,
            attn: buffer(&[seq, c.hidden_size])?,
            gate: buffer(&[seq, c.ffn_size])?,
            up: buffer(&[seq, c.ffn_size])?,
            act: buffer(&[seq, c.ffn_size])?,
        })
    }
}
