//! Sampling, the generation loop, chat sessions, perplexity and the
//! throughput benchmark — everything that drives a `LanguageModel`.

pub mod bench;
mod model;
pub mod perplexity;
mod qwen2;
pub mod run;
pub mod sampler;
pub mod session;
mod stop;

pub use model::LanguageModel;
pub use run::{generate, GenerateOutput, GenerateRequest, StopReason, Timings};
pub use sampler::{Sampler, SamplingOptions};
pub use session::{ChatSession, ReplySettings};

#[cfg(test)]
mod tests;
