//! Operations on tensors, as methods of `Context`: the matmul family and the
//! row-wise ops a transformer block needs.

mod activation;
#[cfg(feature = "cuda")]
mod attention;
mod cpu_dispatch;
mod cpu_rows;
mod dequantize;
mod elementwise;
mod embedding;
#[cfg(feature = "cuda")]
mod indexed;
pub mod matmul;
mod rms_norm;
mod rope;
mod softmax;

#[cfg(feature = "cuda")]
pub mod cuda;
#[cfg(feature = "cuda")]
mod cuda_dispatch;

#[cfg(test)]
mod tests;
