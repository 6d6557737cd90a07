//! `metallic perplexity`: llama.cpp's perplexity of a text file, chunk by
//! chunk (chunks of --ctx-size tokens, the second half of each scored).

use std::path::PathBuf;
use std::process::ExitCode;

use metallic::generate::perplexity::perplexity;
use metallic::{Error, Result};

use super::run_options::RunOptions;
use crate::output;

/// llama-perplexity's default context.
const DEFAULT_CHUNK: usize = 512;

/// Measure the model's perplexity on a text file
#[derive(clap::Args, Debug)]
#[command(mut_arg("ctx_size", |a| a.help(
    "Tokens per chunk (the KV cache holds one chunk), at least 4 [default: 512]"
)))]
pub struct Args {
    #[command(flatten)]
    run: RunOptions,
    /// Plain text to score
    #[arg(short = 'f', long, value_name = "PATH")]
    file: PathBuf,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| Error::io(&args.file, e))?;
    let mut loaded = args.run.load(|c| args.run.ctx_size_or(DEFAULT_CHUNK, c))?;
    let tokens = loaded.tokenizer.encode(&text, false)?;
    let chunk = loaded.model.context_size();
    let bos = loaded
        .tokenizer
        .add_bos()
        .then(|| loaded.tokenizer.bos_id())
        .flatten();
    output::note(&format!(
        "metallic: {}, {} of {chunk}",
        output::count(tokens.len(), "token"),
        output::count(tokens.len() / chunk, "chunk")
    ));
    // Kept to be returned after: the engine's callback cannot fail.
    let mut write_error = None;
    let report = perplexity(
        &mut loaded.model,
        &loaded.ctx,
        &tokens,
        chunk,
        bos,
        |i, _, ppl| {
            if write_error.is_none() {
                write_error = output::print(&format!("[{}]{ppl:.4} ", i + 1)).err();
            }
        },
    )?;
    write_error.map_or(Ok(()), Err)?;
    output::println(&format!(
        "\nperplexity: {:.4} ({} tokens scored)",
        report.perplexity, report.scored_tokens
    ))?;
    args.run.report_profile(&loaded.ctx);
    Ok(ExitCode::SUCCESS)
}
