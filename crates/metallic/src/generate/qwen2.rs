//! `Qwen2Model` as a `LanguageModel`.

use super::LanguageModel;
use crate::context::Context;
use crate::error::Result;
use crate::models::qwen2::Qwen2Model;

impl LanguageModel for Qwen2Model {
    fn forward(&mut self, ctx: &Context, tokens: &[u32], all_logits: bool) -> Result<Vec<f32>> {
        Qwen2Model::forward(self, ctx, tokens, all_logits)
    }

    fn position(&self) -> usize {
        Qwen2Model::position(self)
    }

    fn truncate(&mut self, len: usize) {
        Qwen2Model::truncate(self, len)
    }

    fn context_size(&self) -> usize {
        Qwen2Model::context_size(self)
    }

    fn vocab_size(&self) -> usize {
        self.config().vocab_size
    }
}
