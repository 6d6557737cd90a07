//! Metallic: a Qwen2.5 inference engine whose matrix products go through a
//! `Context` that routes each one to the project's own MLX-style kernels or
//! to a vendor library. See docs/ARCHITECTURE.md for the layers.

pub mod device;
pub mod dtype;
pub mod error;
pub mod generate;
pub mod gguf;
pub mod instrument;
pub mod models;
pub mod ops;
pub mod testing;

pub use dtype::DType;
pub use error::{Error, Result};
