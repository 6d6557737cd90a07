//! RMSNorm over the last dimension: x / sqrt(mean(x²) + eps) · weight.

use super::cpu_rows::{expect_shape, write_rows, Rows};
use super::dispatch::{self, OpShape};
use crate::context::Context;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

impl Context {
    /// Writes RMSNorm(`x`) · `weight` into `out` (the shape of `x`); `weight`
    /// has one value per element of the last dimension. All f32.
    pub fn rms_norm(&self, x: &Tensor, weight: &Tensor, eps: f32, out: &Tensor) -> Result<()> {
        let n = *x.shape().last().ok_or_else(|| {
            Error::Shape("rms_norm of a scalar: x needs at least one dimension".into())
        })?;
        expect_shape(weight, &[n], "weight")?;
        expect_shape(out, x.shape(), "out")?;
        if !(eps.is_finite() && eps >= 0.0) {
            return Err(Error::InvalidArgument(format!(
                "rms_norm epsilon {eps} is not a finite non-negative number"
            )));
        }
        let shape = OpShape {
            rows: x.numel() / n.max(1),
            cols: n,
            k: 0,
        };
        dispatch::run(self, "rms_norm", shape, || match self.device() {
            Device::Cpu => rms_norm_cpu(x, weight, eps, out),
            #[cfg(feature = "cuda")]
            Device::Cuda(_) => super::cuda_dispatch::rms_norm(x, weight, eps, out),
        })
    }
}

fn rms_norm_cpu(x: &Tensor, weight: &Tensor, eps: f32, out: &Tensor) -> Result<()> {
    let x_bytes = x.buffer().read()?;
    let w_bytes = weight.buffer().read()?;
    let x_rows = Rows::new(&x_bytes, x, "x")?;
    let w = Rows::new(&w_bytes, weight, "weight")?.row(0);
    let mut out_bytes = out.buffer().write()?;
    write_rows(&mut out_bytes, out, |i, dst| {
        normalize_row(x_rows.row(i), w, eps, dst)
    })
}

fn normalize_row(x: &[f32], w: &[f32], eps: f32, dst: &mut [f32]) {
    // Summed in f64: rows are long and the squares all positive.
    let sum_sq: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    let mean = sum_sq / x.len().max(1) as f64;
    let scale = (1.0 / (mean + f64::from(eps)).sqrt()) as f32;
    for ((d, &v), &g) in dst.iter_mut().zip(x).zip(w) {
        *d = v * scale * g;
    }
}
