//! The one-token step of decoding, with buffers of its own that stay put
//! from step to step, so the Context can capture it once as a device graph
//! and replay it (`Context::run_step`); the token and its position reach the
//! step's ops through its step input, set before each run.

use super::config::Qwen2Config;
use super::forward::Batch;
use super::scratch::Scratch;
use super::weights::Qwen2Weights;
use crate::context::Context;
use crate::dtype::DType;
use crate::error::Result;
use crate::ops::KvCache;
use crate::step_graph::StepGraph;
use crate::tensor::Tensor;

/// The step's buffers, kept for as long as its graph (the graph addresses
/// them).
pub struct DecodeStep {
    scratch: Scratch,
    /// The step's logits [1, vocab].
    logits: Tensor,
    graph: StepGraph,
}

impl DecodeStep {
    pub fn new(ctx: &Context, config: &Qwen2Config, capacity: usize) -> Result<Self> {
        Ok(DecodeStep {
            scratch: Scratch::new(ctx, config, 1, capacity)?,
            logits: Tensor::empty(ctx.device(), DType::F32, &[1, config.vocab_size])?,
            graph: ctx.step_graph(),
        })
    }

    pub fn graph(&self) -> &StepGraph {
        &self.graph
    }

    /// Evaluates `token` at position `start` (caching its key and value) and
    /// returns its logits.
    pub fn run(
        &mut self,
        ctx: &Context,
        config: &Qwen2Config,
        weights: &Qwen2Weights,
        cache: &mut KvCache,
        token: u32,
        start: usize,
    ) -> Result<Vec<f32>> {
        self.scratch.step.set(&[token], start)?;
        let mut batch = Batch {
            config,
            weights,
            cache,
            scratch: &mut self.scratch,
        };
        let logits = &self.logits;
        ctx.run_step(&mut self.graph, || {
            let hidden = batch.layers(ctx, 1)?;
            ctx.matmul_alpha_beta(
                &hidden,
                &weights.output,
                Some(logits),
                false,
                true,
                1.0,
                0.0,
            )?;
            Ok(())
        })?;
        self.logits.to_f32_vec()
    }
}
