//! The GPU ops that take a batch's token ids and positions from device
//! memory (`BatchIndices`) rather than from the host: what a decode step
//! captured in a CUDA graph runs, so the replay works at any position.

use super::cpu_rows::expect_shape;
use super::cuda::BatchIndices;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

impl Context {
    /// Writes rows `indices`' ids of `table` [vocab, dim] into `out`
    /// [seq, dim]. CUDA only.
    pub fn embedding_at(&self, table: &Tensor, indices: &BatchIndices, out: &Tensor) -> Result<()> {
        let &[_, dim] = table.shape() else {
            return Err(Error::Shape(format!(
                "embedding table must be [vocab, dim], got {:?}",
                table.shape()
            )));
        };
        expect_shape(out, &[indices.seq(), dim], "out")?;
        self.cuda_only("embedding_at")?;
        super::cuda_dispatch::embedding_at(table, indices, out)
    }

    /// Rotates `x` [seq, heads, d] in place, token t at `positions[t]`.
    /// CUDA only.
    pub fn rope_at(&self, x: &Tensor, positions: &BatchIndices, base: f32) -> Result<()> {
        let &[seq, _, d] = x.shape() else {
            return Err(Error::Shape(format!(
                "rope takes x as [seq, heads, head_dim], got {:?}",
                x.shape()
            )));
        };
        if seq != positions.seq() || d % 2 != 0 {
            return Err(Error::Shape(format!(
                "rope_at: {seq} tokens of head size {d} for positions of {}",
                positions.seq()
            )));
        }
        self.cuda_only("rope_at")?;
        super::cuda_dispatch::rope_at(x, positions, base)
    }

    /// Writes `src` [seq, kv_heads, d] (+ `bias` [kv_heads·d], f32) into
    /// rows `positions` of `cache` [capacity, kv_heads, d]. CUDA only.
    pub fn store_at(
        &self,
        src: &Tensor,
        bias: Option<&Tensor>,
        positions: &BatchIndices,
        cache: &Tensor,
    ) -> Result<()> {
        let (&[seq, heads, d], &[capacity, cache_heads, cache_d]) = (src.shape(), cache.shape())
        else {
            return Err(Error::Shape(format!(
                "store_at takes src [seq, kv_heads, d] and a cache [capacity, kv_heads, d], got {:?} and {:?}",
                src.shape(),
                cache.shape()
            )));
        };
        if seq != positions.seq()
            || positions.capacity() > capacity
            || (heads, d) != (cache_heads, cache_d)
        {
            return Err(Error::Shape(format!(
                "store_at: {seq} rows of {heads}×{d} into a cache of {capacity} rows of \
                 {cache_heads}×{cache_d} at positions for {} tokens below {}",
                positions.seq(),
                positions.capacity()
            )));
        }
        if let Some(bias) = bias {
            expect_shape(bias, &[heads * d], "bias")?;
        }
        self.cuda_only("store_at")?;
        super::cuda_dispatch::store_at(src, bias, positions, cache)
    }

    fn cuda_only(&self, op: &str) -> Result<()> {
        if self.device().is_cuda() {
            Ok(())
        } else {
            Err(Error::Unsupported(format!(
                "{op} on {}: CUDA only",
                self.device()
            )))
        }
    }
}
