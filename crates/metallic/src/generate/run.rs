//! The generation loop: the prompt evaluated in batches, then one token per
//! step, sampled, streamed as text, until a stop condition.

use std::ops::ControlFlow;
use std::time::Instant;

use serde::Serialize;

use super::stop::{Released, StopMatcher};
use super::{LanguageModel, Sampler, SamplingOptions};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::tokenizer::{StreamDecoder, Tokenizer};

#[derive(Clone, Debug)]
pub struct GenerateRequest {
    pub prompt_ids: Vec<u32>,
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Generation ends before the first of these in the text.
    pub stop_strings: Vec<String>,
    pub sampling: SamplingOptions,
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model produced an end-of-generation token.
    EndOfGeneration,
    MaxTokens,
    StopString,
    /// The KV cache has no room for another token.
    ContextFull,
    /// The caller's callback asked to stop.
    Interrupted,
}

impl StopReason {
    /// A short phrase for messages.
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::EndOfGeneration => "end of generation",
            StopReason::MaxTokens => "maximum tokens reached",
            StopReason::StopString => "stop string",
            StopReason::ContextFull => "the context is full",
            StopReason::Interrupted => "interrupted",
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    pub prompt_tokens: usize,
    /// Prompt tokens evaluated; the rest were already cached.
    pub prefill_tokens: usize,
    /// From the start of the call until the first token was sampled.
    pub ttft_ms: f64,
    pub prefill_tokens_per_s: f64,
    /// Tokens evaluated one at a time after the prompt.
    pub decode_tokens: usize,
    /// `None` when no token was decoded.
    pub decode_tokens_per_s: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GenerateOutput {
    pub prompt_ids: Vec<u32>,
    /// Sampled tokens, without a final end-of-generation token.
    pub generated_ids: Vec<u32>,
    /// The generated text, cut before any stop string.
    pub text: String,
    pub stop_reason: StopReason,
    pub timings: Timings,
}

/// Prompt tokens evaluated per forward call. Between two batches the caller
/// can stop a long prefill; batches this large keep the matrix products as
/// fast as one batch of the whole prompt.
pub const PREFILL_BATCH: usize = 256;

/// Generates from an empty cache. `on_text` receives the text of each step
/// as soon as it is safe to show (possibly empty: it is called every step
/// and between prefill batches, so it can ask to stop at any time by
/// returning `Break`).
pub fn generate<M: LanguageModel + ?Sized>(
    model: &mut M,
    ctx: &Context,
    tokenizer: &Tokenizer,
    request: &GenerateRequest,
    on_text: impl FnMut(&str) -> ControlFlow<()>,
) -> Result<GenerateOutput> {
    model.truncate(0);
    generate_after_cached(model, ctx, tokenizer, request, on_text)
}

/// Generates when the model's cache already holds the first
/// `model.position()` prompt ids (fewer than all of them), evaluating only
/// the rest.
pub(crate) fn generate_after_cached<M: LanguageModel + ?Sized>(
    model: &mut M,
    ctx: &Context,
    tokenizer: &Tokenizer,
    request: &GenerateRequest,
    mut on_text: impl FnMut(&str) -> ControlFlow<()>,
) -> Result<GenerateOutput> {
    let start = Instant::now();
    let prompt = &request.prompt_ids;
    if prompt.is_empty() {
        return Err(Error::InvalidArgument("the prompt has no tokens".into()));
    }
    if prompt.len() > model.context_size() {
        return Err(Error::InvalidArgument(format!(
            "the prompt's {} tokens do not fit the context of {} (raise --ctx-size)",
            prompt.len(),
            model.context_size()
        )));
    }
    let cached = model.position();
    debug_assert!(
        cached < prompt.len(),
        "the caller leaves a token to evaluate"
    );
    let mut sampler = Sampler::new(request.sampling.clone())?;
    let mut output = GenerateOutput {
        prompt_ids: prompt.clone(),
        generated_ids: Vec::new(),
        text: String::new(),
        stop_reason: StopReason::MaxTokens,
        timings: Timings {
            prompt_tokens: prompt.len(),
            prefill_tokens: prompt.len() - cached,
            ..Timings::default()
        },
    };
    if request.max_tokens == 0 {
        return Ok(output);
    }

    let Some(mut logits) = prefill(model, ctx, &prompt[cached..], &mut on_text)? else {
        return finish(output, StopReason::Interrupted, 0.0);
    };
    let prefill_s = start.elapsed().as_secs_f64();
    output.timings.prefill_tokens_per_s = output.timings.prefill_tokens as f64 / prefill_s;

    let mut history = prompt.clone();
    let mut decoder = StreamDecoder::new(tokenizer);
    let mut stops = StopMatcher::new(&request.stop_strings);
    let mut decode_s = 0.0;
    let stop_reason = loop {
        let token = sampler.sample(&logits, &history)?;
        if output.generated_ids.is_empty() {
            output.timings.ttft_ms = start.elapsed().as_secs_f64() * 1e3;
        }
        if tokenizer.is_eog(token) {
            break StopReason::EndOfGeneration;
        }
        output.generated_ids.push(token);
        history.push(token);
        match stops.push(&decoder.push(token)?) {
            Released::Stopped(text) => {
                output.text.push_str(&text);
                // The caller still sees the text before the stop string.
                let _ = on_text(&text);
                return finish(output, StopReason::StopString, decode_s);
            }
            Released::Text(text) => {
                output.text.push_str(&text);
                if on_text(&text).is_break() {
                    break StopReason::Interrupted;
                }
            }
        }
        if output.generated_ids.len() >= request.max_tokens {
            break StopReason::MaxTokens;
        }
        if model.position() >= model.context_size() {
            break StopReason::ContextFull;
        }
        let step = Instant::now();
        logits = model.forward(ctx, &[token], false)?;
        decode_s += step.elapsed().as_secs_f64();
        output.timings.decode_tokens += 1;
    };
    // Text held back for a stop string that never came, and an incomplete
    // character, are plain text after all (unless they complete a stop).
    let (text, stop_reason) = match stops.push(&decoder.finish()) {
        Released::Stopped(text) => (text, StopReason::StopString),
        Released::Text(mut text) => {
            text.push_str(&stops.finish());
            (text, stop_reason)
        }
    };
    if !text.is_empty() {
        output.text.push_str(&text);
        let _ = on_text(&text);
    }
    finish(output, stop_reason, decode_s)
}

/// Evaluates `tokens` in batches of `PREFILL_BATCH`, asking `on_text` (with
/// no text) before each batch whether to go on. Returns the last token's
/// logits, or `None` when stopped.
fn prefill<M: LanguageModel + ?Sized>(
    model: &mut M,
    ctx: &Context,
    tokens: &[u32],
    on_text: &mut impl FnMut(&str) -> ControlFlow<()>,
) -> Result<Option<Vec<f32>>> {
    let mut logits = Vec::new();
    for batch in tokens.chunks(PREFILL_BATCH) {
        if on_text("").is_break() {
            return Ok(None);
        }
        logits = model.forward(ctx, batch, false)?;
    }
    Ok(Some(logits))
}

fn finish(
    mut output: GenerateOutput,
    stop_reason: StopReason,
    decode_s: f64,
) -> Result<GenerateOutput> {
    output.stop_reason = stop_reason;
    let decoded = output.timings.decode_tokens;
    output.timings.decode_tokens_per_s = (decoded > 0).then(|| decoded as f64 / decode_s);
    Ok(output)
}
