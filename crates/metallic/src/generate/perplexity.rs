//! Perplexity by llama.cpp's method: the tokens are cut into whole chunks
//! of `n` (the remainder is dropped); each chunk is evaluated from an empty
//! cache, and the logits at positions n/2 … n−2 score the tokens at
//! n/2+1 … n−1, so every scored token has at least n/2 tokens of context.

use super::LanguageModel;
use crate::context::Context;
use crate::error::{Error, Result};

/// Logit rows requested from one forward call, bounding the memory of a
/// long chunk's logits.
const SCORED_ROWS_PER_CALL: usize = 256;

/// The smallest chunk that scores a token with context: half is context,
/// and the last position scores nothing.
const MIN_CHUNK: usize = 4;

#[derive(Clone, Debug)]
pub struct PerplexityReport {
    /// Perplexity over all chunks up to and including each one.
    pub running: Vec<f64>,
    /// Over every scored token.
    pub perplexity: f64,
    pub scored_tokens: usize,
}

/// Scores `tokens` in chunks of `chunk` (at least 4, at most the model's
/// context). When `bos` is given each chunk starts with it, replacing its
/// first token, as llama.cpp does for models that add BOS. `on_chunk`
/// receives (chunk index, chunk count, running perplexity).
pub fn perplexity<M: LanguageModel + ?Sized>(
    model: &mut M,
    ctx: &Context,
    tokens: &[u32],
    chunk: usize,
    bos: Option<u32>,
    mut on_chunk: impl FnMut(usize, usize, f64),
) -> Result<PerplexityReport> {
    if chunk < MIN_CHUNK {
        return Err(Error::InvalidArgument(format!(
            "a perplexity chunk (--ctx-size) of {chunk} tokens is too small: it must be at least {MIN_CHUNK}"
        )));
    }
    if chunk > model.context_size() {
        return Err(Error::InvalidArgument(format!(
            "a perplexity chunk of {chunk} tokens does not fit the context of {}",
            model.context_size()
        )));
    }
    let n_chunks = tokens.len() / chunk;
    if n_chunks == 0 {
        return Err(Error::InvalidArgument(format!(
            "perplexity needs at least {chunk} tokens (one chunk); the text has {}",
            tokens.len()
        )));
    }
    let vocab = model.vocab_size();
    let first_scored = chunk / 2;
    let mut nll = 0.0f64;
    let mut scored = 0usize;
    let mut running = Vec::with_capacity(n_chunks);
    for (index, piece) in tokens.chunks_exact(chunk).enumerate() {
        let mut piece = piece.to_vec();
        if let Some(bos) = bos {
            piece[0] = bos;
        }
        model.truncate(0);
        model.forward(ctx, &piece[..first_scored], false)?;
        // Rows for positions first_scored … chunk−2 score the next token;
        // the last position's logits score nothing.
        let mut at = first_scored;
        while at < chunk - 1 {
            let end = (at + SCORED_ROWS_PER_CALL).min(chunk - 1);
            let logits = model.forward(ctx, &piece[at..end], true)?;
            for (row, &next) in logits.chunks_exact(vocab).zip(&piece[at + 1..=end]) {
                nll -= log_softmax_at(row, next as usize)?;
                scored += 1;
            }
            at = end;
        }
        let ppl = (nll / scored as f64).exp();
        running.push(ppl);
        on_chunk(index, n_chunks, ppl);
    }
    model.truncate(0);
    Ok(PerplexityReport {
        perplexity: running[running.len() - 1],
        running,
        scored_tokens: scored,
    })
}

/// log softmax(row)[target], in float64.
fn log_softmax_at(row: &[f32], target: usize) -> Result<f64> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = row.iter().map(|&l| (l as f64 - max).exp()).sum();
    let logit = row.get(target).ok_or_else(|| {
        Error::InvalidArgument(format!("token {target} is outside the vocabulary"))
    })?;
    Ok(*logit as f64 - max - sum.ln())
}
