//! Rotary position embedding, NeoX style (Qwen2): in each head of `d`
//! values, element i pairs with element i + d/2 and the pair rotates by
//! pos · base^(−2i/d).

use super::cpu_rows::{expect_shape, write_rows, Rows};
use super::dispatch::{self, OpShape};
use crate::context::Context;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

impl Context {
    /// Rotates `x` [seq, heads, d] into `out` (same shape, any strides with
    /// a contiguous last dimension — e.g. a window of a KV cache). Token t
    /// of the batch sits at position `start + t`. All f32.
    pub fn rope(&self, x: &Tensor, start: usize, base: f32, out: &Tensor) -> Result<()> {
        let &[seq, heads, d] = x.shape() else {
            return Err(Error::Shape(format!(
                "rope takes x as [seq, heads, head_dim], got {:?}",
                x.shape()
            )));
        };
        if d % 2 != 0 {
            return Err(Error::Shape(format!(
                "rope rotates pairs: head dimension {d} is odd"
            )));
        }
        expect_shape(out, x.shape(), "out")?;
        if !(base.is_finite() && base > 0.0) {
            return Err(Error::InvalidArgument(format!(
                "rope base {base} is not a finite positive number"
            )));
        }
        start.checked_add(seq).ok_or_else(|| {
            Error::InvalidArgument(format!("rope positions {start}+{seq} overflow"))
        })?;
        let shape = OpShape {
            rows: seq * heads,
            cols: d,
            k: start,
        };
        dispatch::run(self, "rope", shape, || match self.device() {
            Device::Cpu => rope_cpu(x, start, base, out),
            #[cfg(feature = "cuda")]
            Device::Cuda(_) => super::cuda_dispatch::rope(x, start, base, out),
        })
    }
}

/// `x` [seq, heads, d] rotated into `out`, token t at `start + t`.
fn rope_cpu(x: &Tensor, start: usize, base: f32, out: &Tensor) -> Result<()> {
    let (seq, heads, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let table = RotationTable::new(start, seq, d, base);
    let x_bytes = x.buffer().read()?;
    let x_rows = Rows::new(&x_bytes, x, "x")?;
    let mut out_bytes = out.buffer().write()?;
    write_rows(&mut out_bytes, out, |i, dst| {
        table.rotate(i / heads.max(1), x_rows.row(i), dst)
    })
}

/// cos and sin of every (token, pair) angle of one call, computed in f64.
struct RotationTable {
    half: usize,
    cos_sin: Vec<(f32, f32)>,
}

impl RotationTable {
    fn new(start: usize, seq: usize, d: usize, base: f32) -> Self {
        let half = d / 2;
        let inv_freq: Vec<f64> = (0..half)
            .map(|i| f64::from(base).powf(-2.0 * i as f64 / d as f64))
            .collect();
        let cos_sin = (start..start + seq)
            .flat_map(|pos| {
                inv_freq.iter().map(move |f| {
                    let angle = pos as f64 * f;
                    (angle.cos() as f32, angle.sin() as f32)
                })
            })
            .collect();
        RotationTable { half, cos_sin }
    }

    fn rotate(&self, token: usize, x: &[f32], dst: &mut [f32]) {
        let angles = &self.cos_sin[token * self.half..(token + 1) * self.half];
        let (x_lo, x_hi) = x.split_at(self.half);
        let (d_lo, d_hi) = dst.split_at_mut(self.half);
        for i in 0..self.half {
            let (cos, sin) = angles[i];
            d_lo[i] = x_lo[i] * cos - x_hi[i] * sin;
            d_hi[i] = x_hi[i] * cos + x_lo[i] * sin;
        }
    }
}
