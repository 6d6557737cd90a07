//! Decoding on a GPU as one CUDA graph. A one-token step queues about 20
//! small kernels per block; launched one by one from the host they leave the
//! GPU idle between them. So the step's kernels (every block, the final norm,
//! the output layer) are captured once, on the second step (the first
//! compiles kernels and makes the vendor's half weight copies, which a
//! capture may not), and each later step is one graph launch. The token and
//! its position reach the kernels through the step's device indices, set
//! before the launch. A capture that fails leaves decoding uncaptured, with
//! the reason kept; `METALLIC_CUDA_GRAPH=0` turns capturing off.

use super::config::Qwen2Config;
use super::forward::Batch;
use super::kv_cache::KvCache;
use super::scratch::Scratch;
use super::weights::Qwen2Weights;
use crate::context::Context;
use crate::device::cuda::CapturedGraph;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The one-token step's buffers, kept for as long as its graph (the graph
/// addresses them).
pub struct DecodeGraph {
    scratch: Scratch,
    /// The step's logits [1, vocab].
    logits: Tensor,
    graph: Option<CapturedGraph>,
    /// Steps run uncaptured so far.
    plain_steps: usize,
    /// Why the step is not captured, when it cannot be.
    unavailable: Option<String>,
}

impl DecodeGraph {
    pub fn new(ctx: &Context, config: &Qwen2Config, capacity: usize) -> Result<Self> {
        let unavailable = match std::env::var("METALLIC_CUDA_GRAPH") {
            Ok(v) if v == "0" => Some("METALLIC_CUDA_GRAPH=0".to_string()),
            _ => None,
        };
        Ok(DecodeGraph {
            scratch: Scratch::new(ctx, config, 1, capacity)?,
            logits: Tensor::empty(ctx.device(), DType::F32, &[1, config.vocab_size])?,
            graph: None,
            plain_steps: 0,
            unavailable,
        })
    }

    /// Why steps run uncaptured, if they do.
    pub fn unavailable(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    pub fn captured(&self) -> bool {
        self.graph.is_some()
    }

    /// Evaluates `token` at position `start` (caching its key and value) and
    /// returns its logits.
    pub fn step(
        &mut self,
        ctx: &Context,
        config: &Qwen2Config,
        weights: &Qwen2Weights,
        cache: &KvCache,
        token: u32,
        start: usize,
    ) -> Result<Vec<f32>> {
        let Device::Cuda(device) = ctx.device() else {
            return Err(Error::Unsupported("a decode graph off a GPU".into()));
        };
        let mut batch = Batch {
            config,
            weights,
            cache,
            scratch: &mut self.scratch,
            start,
        };
        batch.set_tokens(&[token])?;
        let logits = &self.logits;
        let queue = |batch: &mut Batch| -> Result<()> {
            let hidden = batch.layers(ctx, &[token], 1)?;
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
        };
        match &self.graph {
            Some(graph) => graph.launch()?,
            None if self.plain_steps == 0 || self.unavailable.is_some() => {
                queue(&mut batch)?;
                self.plain_steps += 1;
            }
            None => match device.capture(|| queue(&mut batch)) {
                Ok(graph) => {
                    graph.launch()?;
                    self.graph = Some(graph);
                }
                Err(e) => {
                    self.unavailable = Some(e.to_string());
                    queue(&mut batch)?;
                    self.plain_steps += 1;
                }
            },
        }
        self.logits.to_f32_vec()
    }
}
