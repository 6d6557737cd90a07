//! Devices that hold tensor storage and run kernels.

#[cfg(feature = "cuda")]
pub mod cuda;
