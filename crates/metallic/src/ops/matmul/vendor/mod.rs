//! Vendor GEMM libraries behind the `vendor` backend.

#[cfg(feature = "cuda")]
pub mod cublas;
