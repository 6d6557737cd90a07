//! What the generation loop, perplexity and the benchmark need of a model:
//! a forward pass over a KV cache whose length can be cut back.

use crate::context::Context;
use crate::error::Result;

pub trait LanguageModel {
    /// Evaluates `tokens` after the cached ones and caches them. Returns
    /// logits row-major [n_out × vocab]: the last token's, or every token's
    /// when `all_logits`. A batch that would overflow the context is an
    /// error and evaluates nothing.
    fn forward(&mut self, ctx: &Context, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>>;

    /// Tokens in the cache.
    fn position(&self) -> usize;

    /// Forgets cached tokens past `len`.
    fn truncate(&mut self, len: usize);

    /// Positions the cache holds.
    fn context_size(&self) -> usize;

    /// Logits per token.
    fn vocab_size(&self) -> usize;
}
