//! Metallic: a Qwen2.5 inference engine whose matrix products go through a
//! `Context` that routes each one to the project's own MLX-style kernels or
//! to a vendor library. See docs/ARCHITECTURE.md for the layers.
//!
//! # Quick start
//!
//! [`Engine`] loads a model (`None`: the default model, fetched once into
//! the cache) and generates; [`Chat`] is a conversation with it.
//!
//! ```
//! use metallic::{Engine, EngineOptions, GenerateOptions};
//! # // A tiny random-weight model stands in for a real one here.
//! # let file = metallic::testing::tiny_model::TinyModelFile::new(7)?;
//! # let path = Some(file.path.as_path());
//!
//! let mut engine = Engine::load(path, &EngineOptions::default())?;
//! let options = GenerateOptions { max_tokens: 16, ..GenerateOptions::default() };
//! let output = engine.generate("def fibonacci(n):", &options)?;
//! println!("{} ({:?})", output.text, output.stop_reason);
//!
//! let mut chat = engine.chat(Some("You are a helpful assistant."), &options)?;
//! let answer = chat.send("What is a GGUF file?")?;
//! println!("{answer}");
//! # Ok::<(), metallic::Error>(())
//! ```
//!
//! `examples/generate.rs` and `examples/chat.rs` do the same on the default
//! model.

pub mod context;
pub mod device;
pub mod dtype;
pub mod engine;
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
/// Helpers for the project's own tests: tolerances, random inputs, tiny
/// model files. Not part of the public API.
#[doc(hidden)]
pub mod testing;
pub mod tokenizer;

pub use context::Context;
pub use device::{Buffer, Device};
pub use dtype::DType;
pub use engine::{Chat, Engine, EngineOptions, GenerateOptions};
pub use error::{Error, Result};
pub use resource_cache::ResourceCache;
pub use tensor::Tensor;
