//! The KV cache: keys and values of every cached token, f32, allocated once
//! for the context size. Laid out [block, kv_head, position, head_dim] so
//! that one head's keys (or values) for positions 0..len are a matrix with
//! rows of head_dim: attention reads them in place as a batched matmul
//! operand, and a batch of new tokens is a strided window to write into.

use crate::context::Context;
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::Tensor;

pub struct KvCache {
    keys: Tensor,
    values: Tensor,
}

impl KvCache {
    /// Zeroed storage for `capacity` positions (pages are committed by the
    /// OS only as they are written).
    pub fn new(
        ctx: &Context,
        blocks: usize,
        kv_heads: usize,
        capacity: usize,
        head_dim: usize,
    ) -> Result<KvCache> {
        let shape = [blocks, kv_heads, capacity, head_dim];
        Ok(KvCache {
            keys: Tensor::empty(ctx.device(), DType::F32, &shape)?,
            values: Tensor::empty(ctx.device(), DType::F32, &shape)?,
        })
    }

    /// Block `block`'s keys and values for positions 0..len, each
    /// [kv_heads, len, head_dim].
    pub fn prefix(&self, block: usize, len: usize) -> Result<(Tensor, Tensor)> {
        let view = |t: &Tensor| t.select(0, block)?.narrow(1, 0, len);
        Ok((view(&self.keys)?, view(&self.values)?))
    }

    /// Block `block`'s slots for positions start..start + count, each
    /// [count, kv_heads, head_dim] (the order a projection produces).
    pub fn window(&self, block: usize, start: usize, count: usize) -> Result<(Tensor, Tensor)> {
        let view = |t: &Tensor| {
            t.select(0, block)?
                .narrow(1, start, count)?
                .permute(&[1, 0, 2])
        };
        Ok((view(&self.keys)?, view(&self.values)?))
    }
}
