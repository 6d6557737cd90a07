//! Causal attention as one op, over a KV cache laid out [position, kv_head,
//! head_dim]: the GPU's fused kernel. The CPU forward pass composes it from
//! a matmul, a masked softmax and a second matmul instead.

use super::cpu_rows::expect_shape;
use super::cuda::BatchIndices;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

impl Context {
    /// Writes attention of `q` [seq, heads, d] — token t at position
    /// `positions[t]`, seeing cache positions 0..=positions[t] — over `keys`
    /// and `values` [capacity, kv_heads, d] into `out` (the shape of `q`).
    /// Query heads share KV heads in groups of heads / kv_heads; scores are
    /// scaled by 1/√d. CUDA only.
    pub fn attention(
        &self,
        q: &Tensor,
        keys: &Tensor,
        values: &Tensor,
        positions: &BatchIndices,
        out: &Tensor,
    ) -> Result<()> {
        let (&[seq, heads, d], &[capacity, kv_heads, kd]) = (q.shape(), keys.shape()) else {
            return Err(Error::Shape(format!(
                "attention takes q [seq, heads, d] and a cache [capacity, kv_heads, d], got {:?} and {:?}",
                q.shape(),
                keys.shape()
            )));
        };
        expect_shape(values, keys.shape(), "values")?;
        expect_shape(out, q.shape(), "out")?;
        if kd != d || kv_heads == 0 || heads % kv_heads != 0 {
            return Err(Error::Shape(format!(
                "attention: {heads} query heads of {d} over {kv_heads} KV heads of {kd}"
            )));
        }
        if positions.seq() != seq || positions.capacity() > capacity {
            return Err(Error::Shape(format!(
                "attention: positions for {} tokens below {} for {seq} tokens over a cache of {capacity}",
                positions.seq(),
                positions.capacity()
            )));
        }
        if self.device().is_cuda() {
            return super::cuda_dispatch::attention(q, keys, values, positions, out);
        }
        Err(Error::Unsupported(format!(
            "fused attention on {}: CUDA only (the CPU composes matmul and softmax)",
            self.device()
        )))
    }
}
