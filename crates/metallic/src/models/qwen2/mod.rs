//! Qwen2 (Qwen2.5) from a GGUF file: weights read in place through the
//! file's memory map, a KV cache for a chosen context size, and a forward
//! pass that evaluates a batch of tokens after the cached ones. Every op is
//! a Context call; the model knows no device.

pub mod config;
mod decode_step;
mod forward;
mod scratch;
mod weights;

pub use config::Qwen2Config;
pub use weights::{BlockWeights, Qwen2Weights};

use crate::context::Context;
use crate::error::{Error, Result};
use crate::gguf::GgufFile;
use crate::ops::{KvCache, KvShape};
use decode_step::DecodeStep;
use forward::Batch;
use scratch::Scratch;

/// Most tokens in one batch (the KV cache may allow fewer).
const MAX_BATCH: usize = 512;

pub struct Qwen2Model {
    config: Qwen2Config,
    weights: Qwen2Weights,
    cache: KvCache,
    context_size: usize,
    position: usize,
    max_batch: usize,
    /// Buffers of the last batch size used.
    scratch: Option<Scratch>,
    /// The one-token step, replayed as a graph where the device can.
    decode: Option<DecodeStep>,
}

impl Qwen2Model {
    /// Reads the config and views the weights of `gguf` (kept mapped by the
    /// tensors), and allocates a KV cache of `ctx_size` positions, which may
    /// not exceed the model's context length.
    pub fn load(gguf: &GgufFile, ctx: &Context, ctx_size: usize) -> Result<Qwen2Model> {
        let config = Qwen2Config::from_gguf(gguf)?;
        if ctx_size == 0 || ctx_size > config.context_length {
            return Err(Error::InvalidArgument(format!(
                "context size {ctx_size} is outside 1..={} (the model's context length)",
                config.context_length
            )));
        }
        let weights = Qwen2Weights::load(gguf, ctx, &config)?;
        let cache = ctx.kv_cache(KvShape {
            layers: config.block_count,
            heads: config.n_heads,
            kv_heads: config.n_kv_heads,
            head_dim: config.head_dim,
            capacity: ctx_size,
        })?;
        let max_batch = cache.max_batch().min(MAX_BATCH);
        Ok(Qwen2Model {
            config,
            weights,
            cache,
            context_size: ctx_size,
            position: 0,
            max_batch,
            scratch: None,
            decode: None,
        })
    }

    pub fn config(&self) -> &Qwen2Config {
        &self.config
    }

    /// Positions the KV cache holds.
    pub fn context_size(&self) -> usize {
        self.context_size
    }

    /// Why one-token steps run op by op (not as one device graph), if they
    /// do; `None` also before the second step, when capturing starts.
    pub fn decode_graph_unavailable(&self) -> Option<&str> {
        self.decode.as_ref().and_then(|d| d.graph().unavailable())
    }

    /// Whether one-token steps now replay a captured device graph.
    pub fn decode_graph_captured(&self) -> bool {
        self.decode.as_ref().is_some_and(|d| d.graph().captured())
    }

    /// Tokens in the cache.
    pub fn position(&self) -> usize {
        self.position
    }

    /// Forgets cached tokens past `len` (keeping a shared prefix, e.g. a
    /// chat's history); a `len` beyond the position changes nothing.
    pub fn truncate(&mut self, len: usize) {
        self.position = self.position.min(len);
    }

    /// Evaluates `tokens` after the cached ones and caches them. Returns
    /// logits row-major [n_out × vocab]: for the last token only, or for
    /// every token when `all_logits`. A batch that would overflow the
    /// context, or holds an id outside the vocabulary, is an error and
    /// nothing is evaluated.
    pub fn forward(&mut self, ctx: &Context, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Err(Error::InvalidArgument("forward of an empty batch".into()));
        }
        let end = self.position.saturating_add(tokens.len());
        if end > self.context_size {
            return Err(Error::InvalidArgument(format!(
                "{} tokens after {} cached would overflow the context of {}",
                tokens.len(),
                self.position,
                self.context_size
            )));
        }
        let vocab = self.config.vocab_size;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(Error::InvalidArgument(format!(
                "token id {bad} is outside the vocabulary of {vocab}"
            )));
        }
        // One entry into the Context's pool for the whole pass: the ops
        // inside then start on a pool thread instead of each crossing over.
        let logits = ctx.install(|| self.evaluate(ctx, tokens, all_logits))?;
        self.position = end;
        Ok(logits)
    }

    /// The batches of `tokens` after the cached ones; the logits asked for.
    fn evaluate(&mut self, ctx: &Context, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>> {
        if let [token] = tokens {
            let decode = match self.decode.take() {
                Some(d) => d,
                None => DecodeStep::new(ctx, &self.config, self.context_size)?,
            };
            let decode = self.decode.insert(decode);
            return decode.run(
                ctx,
                &self.config,
                &self.weights,
                &mut self.cache,
                *token,
                self.position,
            );
        }
        let end = self.position + tokens.len();
        let mut logits = Vec::new();
        let mut start = self.position;
        for chunk in tokens.chunks(self.max_batch) {
            let last_chunk = start + chunk.len() == end;
            let n_out = match (all_logits, last_chunk) {
                (true, _) => chunk.len(),
                (false, true) => 1,
                (false, false) => 0,
            };
            let hidden = self.run_batch(ctx, chunk, start, n_out)?;
            if n_out > 0 {
                let mut cache = ctx.resource_cache()?;
                let out = ctx.matmul_alpha_beta_with_cache(
                    &hidden,
                    &self.weights.output,
                    None,
                    false,
                    true,
                    1.0,
                    0.0,
                    &mut cache,
                )?;
                logits.extend(out.to_f32_vec()?);
            }
            start += chunk.len();
        }
        Ok(logits)
    }

    /// One batch at `start`; the normalized final hidden states of its last
    /// `n_out` tokens.
    fn run_batch(
        &mut self,
        ctx: &Context,
        tokens: &[u32],
        start: usize,
        n_out: usize,
    ) -> Result<crate::tensor::Tensor> {
        let scratch = match self.scratch.take() {
            Some(s) if s.seq == tokens.len() => s,
            _ => Scratch::new(ctx, &self.config, tokens.len(), self.context_size)?,
        };
        let scratch = self.scratch.insert(scratch);
        scratch.step.set(tokens, start)?;
        let mut batch = Batch {
            config: &self.config,
            weights: &self.weights,
            cache: &mut self.cache,
            scratch,
        };
        batch.layers(ctx, n_out)
    }
}
