//! The KV cache: keys and values of every cached token, f32, allocated once
//! for the context size, one pair of tensors per block.
//!
//! On the CPU a block's cache is laid out [kv_head, position, head_dim], so
//! that one head's keys (or values) for positions 0..len are a matrix with
//! rows of head_dim: attention reads them in place as a batched matmul
//! operand, and a batch of new tokens is a strided window to write into.
//! On a GPU it is [position, kv_head, head_dim], what the fused attention
//! kernel reads, so a batch of new tokens is one contiguous run to copy in.

use crate::context::Context;
use crate::dtype::DType;
use crate::error::Result;
use crate::tensor::Tensor;

pub struct KvCache {
    /// Keys and values of each block.
    blocks: Vec<(Tensor, Tensor)>,
}

impl KvCache {
    /// Storage for `capacity` positions (on the CPU zeroed pages, committed
    /// by the OS only as they are written).
    pub fn new(
        ctx: &Context,
        blocks: usize,
        kv_heads: usize,
        capacity: usize,
        head_dim: usize,
    ) -> Result<KvCache> {
        let shape = if ctx.device().is_cuda() {
            [capacity, kv_heads, head_dim]
        } else {
            [kv_heads, capacity, head_dim]
        };
        let tensor = || Tensor::empty(ctx.device(), DType::F32, &shape);
        let blocks = (0..blocks)
            .map(|_| Ok((tensor()?, tensor()?)))
            .collect::<Result<_>>()?;
        Ok(KvCache { blocks })
    }

    /// CPU layout: block `block`'s keys and values for positions 0..len,
    /// each [kv_heads, len, head_dim].
    pub fn prefix(&self, block: usize, len: usize) -> Result<(Tensor, Tensor)> {
        let (keys, values) = &self.blocks[block];
        Ok((keys.narrow(1, 0, len)?, values.narrow(1, 0, len)?))
    }

    /// CPU layout: block `block`'s slots for positions start..start + count,
    /// each [count, kv_heads, head_dim] (the order a projection produces).
    pub fn window(&self, block: usize, start: usize, count: usize) -> Result<(Tensor, Tensor)> {
        let view = |t: &Tensor| t.narrow(1, start, count)?.permute(&[1, 0, 2]);
        let (keys, values) = &self.blocks[block];
        Ok((view(keys)?, view(values)?))
    }

    /// GPU layout: block `block`'s whole keys and values, each
    /// [capacity, kv_heads, head_dim].
    pub fn block(&self, block: usize) -> (&Tensor, &Tensor) {
        let (keys, values) = &self.blocks[block];
        (keys, values)
    }
}
