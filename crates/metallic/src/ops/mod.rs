//! Operations on tensors, as methods of `Context`: the matmul family and the
//! row-wise ops a transformer block needs.

mod activation;
mod cpu_dispatch;
mod cpu_rows;
mod elementwise;
mod embedding;
pub mod matmul;
mod rms_norm;
mod rope;
mod softmax;

#[cfg(feature = "cuda")]
pub mod cuda;

#[cfg(test)]
mod tests;
