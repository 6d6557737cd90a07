//! Metallic: a Qwen2.5 inference engine whose matrix products go through a
//! `Context` that routes each one to the project's own MLX-style kernels or
//! to a vendor library. See docs/ARCHITECTURE.md for the layers.

pub mod context;
pub mod device;
pub mod dtype;
pub mod error;
pub mod fetch;
pub mod generate;
pub mod gguf;
pub mod instrument;
pub mod models;
pub mod ops;
pub mod quant;
pub mod resource_cache;
pub mod step_graph;
pub mod tensor;
pub mod testing;
pub mod tokenizer;

pub use context::Context;
pub use device::{Buffer, Device};
pub use dtype::DType;
pub use error::{Error, Result};
pub use resource_cache::ResourceCache;
pub use tensor::Tensor;
