//! Elementwise addition with broadcasting (residual connections, biases)
//! and strided copies.

use super::cpu_rows::{expect_shape, write_rows, Rows};
use super::dispatch::{self, OpShape};
use crate::context::Context;
use crate::device::Device;
use crate::error::Result;
use crate::tensor::Tensor;

impl Context {
    /// Writes `a` + `b` into `out` (the shape of `a`); `b` broadcasts to
    /// `a`'s shape numpy-style (a bias [n] over rows [m, n]). f32.
    pub fn add(&self, a: &Tensor, b: &Tensor, out: &Tensor) -> Result<()> {
        let b = b.broadcast_to(a.shape())?;
        expect_shape(out, a.shape(), "out")?;
        let cols = a.shape().last().copied().unwrap_or(1);
        let shape = OpShape {
            rows: a.numel() / cols.max(1),
            cols,
            k: 0,
        };
        dispatch::run(self, "add", shape, || match self.device() {
            Device::Cpu => add_cpu(a, &b, out),
            #[cfg(feature = "cuda")]
            Device::Cuda(_) => super::cuda_dispatch::add(a, &b, out),
        })
    }
}

fn add_cpu(a: &Tensor, b: &Tensor, out: &Tensor) -> Result<()> {
    let a_bytes = a.buffer().read()?;
    let b_bytes = b.buffer().read()?;
    let a_rows = Rows::new(&a_bytes, a, "a")?;
    let b_rows = Rows::new(&b_bytes, b, "b")?;
    let mut out_bytes = out.buffer().write()?;
    write_rows(&mut out_bytes, out, |i, dst| {
        for ((d, &x), &y) in dst.iter_mut().zip(a_rows.row(i)).zip(b_rows.row(i)) {
            *d = x + y;
        }
    })
}

impl Context {
    /// Copies `src` into `dst` (same shape, any strides with a contiguous
    /// last dimension): a layout change, such as heads-major attention
    /// output back to token-major rows. f32.
    pub fn copy(&self, src: &Tensor, dst: &Tensor) -> Result<()> {
        expect_shape(dst, src.shape(), "dst")?;
        let cols = src.shape().last().copied().unwrap_or(1);
        let shape = OpShape {
            rows: src.numel() / cols.max(1),
            cols,
            k: 0,
        };
        dispatch::run(self, "copy", shape, || match self.device() {
            Device::Cpu => copy_cpu(src, dst),
            #[cfg(feature = "cuda")]
            Device::Cuda(_) => super::cuda_dispatch::copy(src, dst),
        })
    }
}

fn copy_cpu(src: &Tensor, dst: &Tensor) -> Result<()> {
    let src_bytes = src.buffer().read()?;
    let src_rows = Rows::new(&src_bytes, src, "src")?;
    let mut dst_bytes = dst.buffer().write()?;
    write_rows(&mut dst_bytes, dst, |i, row| {
        row.copy_from_slice(src_rows.row(i))
    })
}
