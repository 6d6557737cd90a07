//! Throughput like llama-bench: prefill (`pp N`: N tokens in one batch from
//! an empty cache) and decode (`tg N`: N tokens one at a time from an empty
//! cache), each repeated after one unmeasured warm-up run.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::LanguageModel;
use crate::context::Context;
use crate::error::{Error, Result};

/// Fixed so that runs are comparable.
const TOKEN_SEED: u64 = 0x6d65_7461_6c6c_6963;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BenchKind {
    Prefill,
    Decode,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    pub kind: BenchKind,
    /// `pp128`, `tg64`.
    pub test: String,
    pub tokens: usize,
    /// One figure per repetition.
    pub tokens_per_s: Vec<f64>,
    pub mean: f64,
    /// Sample standard deviation (0 for one repetition).
    pub sd: f64,
}

/// Runs `pp N` for each prompt size, then `tg N` for each generation
/// length (sizes of 0 are skipped); `on_result` sees each result as it
/// completes.
pub fn bench<M: LanguageModel + ?Sized>(
    model: &mut M,
    ctx: &Context,
    prompt_tokens: &[usize],
    gen_tokens: &[usize],
    repetitions: usize,
    mut on_result: impl FnMut(&BenchResult),
) -> Result<Vec<BenchResult>> {
    if repetitions == 0 {
        return Err(Error::InvalidArgument(
            "repetitions must be at least 1".into(),
        ));
    }
    let tests = prompt_tokens
        .iter()
        .map(|&n| (BenchKind::Prefill, n))
        .chain(gen_tokens.iter().map(|&n| (BenchKind::Decode, n)));
    let mut results = Vec::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(TOKEN_SEED);
    // A test of 0 tokens is skipped, as llama-bench's `-p 0` / `-n 0`.
    for (kind, n) in tests.filter(|&(_, n)| n > 0) {
        if n > model.context_size() {
            return Err(Error::InvalidArgument(format!(
                "a test of {n} tokens does not fit the context of {}",
                model.context_size()
            )));
        }
        let vocab = model.vocab_size() as u32;
        let tokens: Vec<u32> = (0..n).map(|_| rng.random_range(0..vocab)).collect();
        let mut run = || -> Result<f64> {
            model.truncate(0);
            let start = Instant::now();
            match kind {
                BenchKind::Prefill => {
                    model.forward(ctx, &tokens, false)?;
                }
                BenchKind::Decode => {
                    for &t in &tokens {
                        model.forward(ctx, &[t], false)?;
                    }
                }
            }
            Ok(n as f64 / start.elapsed().as_secs_f64())
        };
        run()?;
        let tokens_per_s = (0..repetitions)
            .map(|_| run())
            .collect::<Result<Vec<_>>>()?;
        let (mean, sd) = mean_sd(&tokens_per_s);
        let prefix = match kind {
            BenchKind::Prefill => "pp",
            BenchKind::Decode => "tg",
        };
        let result = BenchResult {
            kind,
            test: format!("{prefix}{n}"),
            tokens: n,
            tokens_per_s,
            mean,
            sd,
        };
        on_result(&result);
        results.push(result);
    }
    model.truncate(0);
    Ok(results)
}

fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}
