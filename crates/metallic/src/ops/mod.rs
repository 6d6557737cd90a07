//! Operations on tensors, as methods of `Context`: the matmul family, the
//! row-wise ops a transformer block needs, and attention over a KV cache.
//! Each op checks its operands once, then runs through `dispatch` on the
//! Context's device (a CPU kernel here, a GPU launcher in `cuda_dispatch`).

mod activation;
pub mod attention;
mod cpu_rows;
mod dequantize;
mod dispatch;
mod elementwise;
mod embedding;
pub mod matmul;
mod rms_norm;
mod rope;
mod softmax;
pub mod step_input;

#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(feature = "cuda")]
mod cuda_dispatch;

pub use attention::{AttentionInput, KvCache, KvShape};
pub use step_input::StepInput;

#[cfg(test)]
mod tests;
