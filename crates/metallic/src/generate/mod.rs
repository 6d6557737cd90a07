//! Sampling and the generation loop.

pub mod sampler;

pub use sampler::{Sampler, SamplingOptions};
