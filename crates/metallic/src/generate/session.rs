//! A chat: the conversation so far, rendered through the chat template each
//! turn, with the model's cache reused for the part of the rendered prompt
//! it already holds. When the conversation outgrows the context, its oldest
//! turns are dropped (the system message stays), as llama.cpp's context
//! shift and ollama's truncation do.

use std::ops::ControlFlow;

use super::run::generate_after_cached;
use super::{GenerateOutput, GenerateRequest, LanguageModel, SamplingOptions};
use crate::context::Context;
use crate::error::Result;
use crate::tokenizer::{ChatMessage, ChatTemplate, Tokenizer};

/// Limits and sampling of each reply.
#[derive(Clone, Debug)]
pub struct ReplySettings {
    pub max_tokens: usize,
    pub stop_strings: Vec<String>,
    pub sampling: SamplingOptions,
}

/// The session assumes it alone uses the model between replies: it tracks
/// which ids the model's cache holds.
pub struct ChatSession {
    template: ChatTemplate,
    system: Option<String>,
    messages: Vec<ChatMessage>,
    /// The ids in the model's cache, in order.
    cached: Vec<u32>,
    /// Messages dropped so far to fit the context.
    dropped: usize,
}

impl ChatSession {
    pub fn new(template: ChatTemplate, system: Option<String>) -> ChatSession {
        let mut session = ChatSession {
            template,
            system,
            messages: Vec::new(),
            cached: Vec::new(),
            dropped: 0,
        };
        session.reset();
        session
    }

    /// The conversation so far, system message first.
    pub fn messages(&self) -> &[ChatMessage] {
        &self.messages
    }

    /// Messages dropped since the session began because the conversation
    /// outgrew the context.
    pub fn dropped_messages(&self) -> usize {
        self.dropped
    }

    /// Forgets the conversation (the system message stays).
    pub fn reset(&mut self) {
        self.messages.clear();
        self.messages
            .extend(self.system.iter().map(|s| ChatMessage::system(s.clone())));
    }

    /// Answers `user`; the answer (partial if stopped early) joins the
    /// history. When the rendered conversation would leave less room than
    /// the answer may take (`max_tokens`, at most half the context), the
    /// oldest turns are dropped first. On an error the conversation is
    /// unchanged.
    pub fn reply<M: LanguageModel + ?Sized>(
        &mut self,
        model: &mut M,
        ctx: &Context,
        tokenizer: &Tokenizer,
        user: &str,
        settings: &ReplySettings,
        on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<GenerateOutput> {
        let mut messages = self.messages.clone();
        messages.push(ChatMessage::user(user));
        let room = model.context_size();
        let answer_room = settings.max_tokens.min(room / 2);
        let mut dropped = 0;
        let prompt = loop {
            let prompt = tokenizer.encode(&self.template.render(&messages, true)?, true)?;
            if prompt.len() + answer_room <= room {
                break prompt;
            }
            match drop_oldest_turn(&mut messages) {
                0 => break prompt, // Only the new message is left: it may still fit.
                n => dropped += n,
            }
        };
        // At least the last prompt token is evaluated: its logits are needed.
        let reusable = common_prefix(&self.cached, &prompt)
            .min(model.position())
            .min(prompt.len().saturating_sub(1));
        model.truncate(reusable);
        self.cached.truncate(reusable);
        let request = GenerateRequest {
            prompt_ids: prompt,
            max_tokens: settings.max_tokens,
            stop_strings: settings.stop_strings.clone(),
            sampling: settings.sampling.clone(),
        };
        let output = match generate_after_cached(model, ctx, tokenizer, &request, on_text) {
            Ok(output) => output,
            Err(e) => {
                // Where the failure left the cache is unknown: start over.
                model.truncate(0);
                self.cached.clear();
                return Err(e);
            }
        };
        self.cached = output
            .prompt_ids
            .iter()
            .chain(&output.generated_ids)
            .copied()
            .take(model.position())
            .collect();
        messages.push(ChatMessage::assistant(output.text.clone()));
        self.messages = messages;
        self.dropped += dropped;
        Ok(output)
    }
}

/// Removes the oldest turn after the system message: a user message with
/// the answer that follows it. The last message (the one being answered)
/// stays. Returns how many messages went.
fn drop_oldest_turn(messages: &mut Vec<ChatMessage>) -> usize {
    let first = messages.iter().position(|m| m.role != "system");
    let Some(first) = first.filter(|&i| i + 1 < messages.len()) else {
        return 0;
    };
    let answered = messages[first].role == "user"
        && messages[first + 1].role == "assistant"
        && first + 2 < messages.len();
    let n = if answered { 2 } else { 1 };
    messages.drain(first..first + n);
    n
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
