//! SwiGLU, the gate of Qwen2's MLP: silu(gate) · up, elementwise.

use super::cpu_dispatch::{self, OpShape};
use super::cpu_rows::{expect_shape, write_rows, Rows};
use crate::context::Context;
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
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            return super::cuda_dispatch::swiglu(gate, up, out);
        }
        cpu_dispatch::run(self, "swiglu", shape, || {
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
        })
    }
}
