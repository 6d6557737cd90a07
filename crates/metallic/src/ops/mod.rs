pub mod matmul;

#[cfg(feature = "cuda")]
pub mod cuda;
