//! SwiGLU, the gate of Qwen2's MLP: silu(gate) · up, elementwise.

use super::cpu_rows::{expect_shape, write_rows, Rows};
use super::dispatch::{self, OpShape};
use crate::context::Context;
use crate::device::Device;
use crate::error::Result;
use crate::tensor::Tensor;

impl Context {
    /// Writes silu(`gate`) · `up` into `out`; all three share one shape. f32.
    pub fn swiglu(&self, gate: &Tensor, up: &Tensor, out: &Tensor) -> Result<()> {
        expect_shape(up, gate.shape(), "up")?;
        expect_shape(out, gate.shape(), "out")?;
        let cols = gate.shape().last().copied().unwrap_or(1);
        let shape = OpShape {
            rows: gate.numel() / cols.max(1),
            cols,
            k: 0,
        };
        dispatch::run(self, "swiglu", shape, || match self.device() {
            Device::Cpu => swiglu_cpu(gate, up, out),
            #[cfg(feature = "cuda")]
            Device::Cuda(_) => super::cuda_dispatch::swiglu(gate, up, out),
        })
    }
}

fn swiglu_cpu(gate: &Tensor, up: &Tensor, out: &Tensor) -> Result<()> {
    let gate_bytes = gate.buffer().read()?;
    let up_bytes = up.buffer().read()?;
    let gate_rows = Rows::new(&gate_bytes, gate, "gate")?;
    let up_rows = Rows::new(&up_bytes, up, "up")?;
    let mut out_bytes = out.buffer().write()?;
    write_rows(&mut out_bytes, out, |i, dst| {
        for ((d, &g), &u) in dst.iter_mut().zip(gate_rows.row(i)).zip(up_rows.row(i)) {
            *d = g / (1.0 + (-g).exp()) * u;
        }
    })
}
