//! Attention on the CPU, composed of Context ops over a head-major cache
//! ([kv_head, position, head_dim]): RoPE straight into the queries' heads
//! and the cache's window, then Q·Kᵀ, a causal softmax and P·V as batched
//! matmuls that read the cache in place.

use super::{AttentionInput, KvShape};
use crate::context::Context;
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::Tensor;

/// The intermediates of a call, grown to the largest batch seen and viewed
/// at each call's size, so a decode step allocates nothing.
#[derive(Default)]
pub(super) struct Workspace {
    buffers: Option<Buffers>,
}

/// Flat f32 buffers with room for `seq` tokens, for a call viewed as:
struct Buffers {
    seq: usize,
    /// Rotated queries [heads, seq, head_dim]: grouped by KV head, so the
    /// queries sharing one are a single [group·seq, head_dim] matrix.
    q_heads: Tensor,
    /// Scores and probabilities [kv_heads, group·seq, capacity]; a call uses
    /// the first `len` columns (rows stay `capacity` apart).
    scores: Tensor,
    probs: Tensor,
    /// Output per head [heads, seq, head_dim].
    out_heads: Tensor,
}

impl Workspace {
    /// The buffers, with room for `seq` tokens.
    fn buffers(&mut self, ctx: &Context, shape: KvShape, seq: usize) -> Result<&Buffers> {
        let buffers = match self.buffers.take() {
            Some(buffers) if buffers.seq >= seq => buffers,
            _ => {
                let flat = |len: usize| Tensor::empty(ctx.device(), DType::F32, &[len]);
                let per_head = shape.heads * seq * shape.head_dim;
                let scores = shape.heads * seq * shape.capacity;
                Buffers {
                    seq,
                    q_heads: flat(per_head)?,
                    scores: flat(scores)?,
                    probs: flat(scores)?,
                    out_heads: flat(per_head)?,
                }
            }
        };
        Ok(self.buffers.insert(buffers))
    }
}

/// The first elements of the flat `buffer` as a contiguous `shape`.
fn view(buffer: &Tensor, shape: &[usize]) -> Result<Tensor> {
    buffer.narrow(0, 0, shape.iter().product())?.reshape(shape)
}

/// Stores the batch's keys and values at positions start.. of one layer's
/// `keys` and `values` [kv_heads, capacity, head_dim] and writes attention
/// of its queries into `out` [seq, heads, head_dim].
pub(super) fn attention(
    ctx: &Context,
    input: &AttentionInput<'_>,
    shape: KvShape,
    (keys, values): (&Tensor, &Tensor),
    workspace: &mut Workspace,
    start: usize,
    out: &Tensor,
) -> Result<()> {
    let KvShape {
        heads,
        kv_heads,
        head_dim: d,
        capacity,
        ..
    } = shape;
    let seq = input.q.shape()[0];
    let len = start + seq;
    let group = heads / kv_heads;
    let w = workspace.buffers(ctx, shape, seq)?;
    let q_heads = view(&w.q_heads, &[heads, seq, d])?;
    let out_heads = view(&w.out_heads, &[heads, seq, d])?;
    let scores = view(&w.scores, &[kv_heads, group * seq, capacity])?.narrow(2, 0, len)?;
    let probs = view(&w.probs, &[kv_heads, group * seq, capacity])?.narrow(2, 0, len)?;

    // The batch's slots [seq, kv_heads, d]: the order a projection produces.
    let window = |t: &Tensor| t.narrow(1, start, seq)?.permute(&[1, 0, 2]);
    ctx.rope(
        input.q,
        start,
        input.rope_base,
        &q_heads.permute(&[1, 0, 2])?,
    )?;
    ctx.rope(input.k, start, input.rope_base, &window(keys)?)?;
    match input.v_bias {
        Some(bias) => ctx.add(input.v, &bias.reshape(&[kv_heads, d])?, &window(values)?)?,
        None => ctx.copy(input.v, &window(values)?)?,
    }

    // Scores: the `group` query heads sharing a KV head are one matrix
    // [group·seq, d] against that head's keys [len, d].
    let (keys, values) = (keys.narrow(1, 0, len)?, values.narrow(1, 0, len)?);
    let queries = q_heads.reshape(&[kv_heads, group * seq, d])?;
    let scale = 1.0 / (d as f32).sqrt();
    ctx.matmul_alpha_beta(&queries, &keys, Some(&scores), false, true, scale, 0.0)?;
    let per_head = [kv_heads, group, seq, len];
    let probs_per_head = probs.reshape(&per_head)?;
    ctx.softmax(&scores.reshape(&per_head)?, Some(start), &probs_per_head)?;

    // P·V per KV head, heads-major like the queries; then token-major.
    let heads_out = out_heads.reshape(&[kv_heads, group * seq, d])?;
    ctx.matmul_alpha_beta(&probs, &values, Some(&heads_out), false, false, 1.0, 0.0)?;
    ctx.copy(&out_heads.permute(&[1, 0, 2])?, out)
}
