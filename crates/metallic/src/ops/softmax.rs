//! Softmax over the last dimension, optionally with a causal mask for
//! attention scores whose queries sit after a number of cached tokens.

use super::cpu_rows::{expect_shape, write_rows, Rows};
use super::dispatch::{self, OpShape};
use crate::context::Context;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

impl Context {
    /// Writes softmax(`x`) over the last dimension into `out` (same shape).
    ///
    /// With `causal = Some(offset)`, `x` is [..., queries, keys] and query t
    /// (its index along the second-to-last dimension) sees keys
    /// 0 ..= offset + t only: the rest get probability 0. It needs
    /// offset + queries ≤ keys. All f32.
    pub fn softmax(&self, x: &Tensor, causal: Option<usize>, out: &Tensor) -> Result<()> {
        let rank = x.rank();
        let keys = *x.shape().last().ok_or_else(|| {
            Error::Shape("softmax of a scalar: x needs at least one dimension".into())
        })?;
        expect_shape(out, x.shape(), "out")?;
        let queries = match causal {
            None => 1,
            Some(offset) => {
                let queries = if rank >= 2 {
                    x.shape()[rank - 2]
                } else {
                    return Err(Error::Shape(format!(
                        "a causal softmax takes [..., queries, keys], got {:?}",
                        x.shape()
                    )));
                };
                if offset.checked_add(queries).is_none_or(|end| end > keys) {
                    return Err(Error::Shape(format!(
                        "{queries} queries after {offset} cached tokens need more than {keys} keys"
                    )));
                }
                queries
            }
        };
        let shape = OpShape {
            rows: x.numel() / keys.max(1),
            cols: keys,
            k: causal.unwrap_or(0),
        };
        dispatch::run(self, "softmax", shape, || match self.device() {
            Device::Cpu => softmax_cpu(x, causal, queries, out),
            // The fused attention keeps its softmax inside.
            #[cfg(feature = "cuda")]
            Device::Cuda(_) => Err(Error::Unsupported(
                "softmax on CUDA: attention fuses its own; no kernel of its own".into(),
            )),
        })
    }
}

/// Softmax of each row of `x` into `out`; with `causal = Some(offset)`, row
/// i (query i % `queries`) sees its first offset + i % queries + 1 keys.
fn softmax_cpu(x: &Tensor, causal: Option<usize>, queries: usize, out: &Tensor) -> Result<()> {
    let keys = *x.shape().last().unwrap_or(&0);
    let x_bytes = x.buffer().read()?;
    let x_rows = Rows::new(&x_bytes, x, "x")?;
    let mut out_bytes = out.buffer().write()?;
    write_rows(&mut out_bytes, out, |i, dst| {
        let visible = causal.map_or(keys, |offset| offset + i % queries + 1);
        softmax_row(&x_rows.row(i)[..visible], dst, visible)
    })
}

/// Softmax of `x` into `dst[..visible]`; `dst[visible..]` becomes 0.
fn softmax_row(x: &[f32], dst: &mut [f32], visible: usize) {
    let (seen, masked) = dst.split_at_mut(visible);
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for (d, &v) in seen.iter_mut().zip(x) {
        *d = (v - max).exp();
        sum += f64::from(*d);
    }
    let inv = (1.0 / sum) as f32;
    seen.iter_mut().for_each(|d| *d *= inv);
    masked.fill(0.0);
}
