//! `metallic perplexity`: llama.cpp's perplexity of a text file, chunk by
//! chunk (chunks of --ctx-size tokens, the second half of each scored).

use std::io::Write;
use std::path::PathBuf;

use metallic::generate::perplexity::perplexity;
use metallic::{Error, Result};

use super::run_options::RunOptions;

/// llama-perplexity's default context.
const DEFAULT_CHUNK: usize = 512;

/// Measure the model's perplexity on a text file
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    run: RunOptions,
    /// Plain text to score (the --ctx-size chunk defaults to 512 here)
    #[arg(long, value_name = "F")]
    file: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| Error::io(&args.file, e))?;
    let mut loaded = args.run.load(|c| args.run.ctx_size_or(DEFAULT_CHUNK, c))?;
    let tokens = loaded.tokenizer.encode(&text, false)?;
    let chunk = loaded.model.context_size();
    let bos = loaded
        .tokenizer
        .add_bos()
        .then(|| loaded.tokenizer.bos_id())
        .flatten();
    eprintln!(
        "metallic: {} tokens, {} chunks of {chunk}",
        tokens.len(),
        tokens.len() / chunk
    );
    let report = perplexity(
        &mut loaded.model,
        &loaded.ctx,
        &tokens,
        chunk,
        bos,
        |i, _, ppl| {
            print!("[{}]{ppl:.4} ", i + 1);
            let _ = std::io::stdout().flush();
        },
    )?;
    println!();
    println!(
        "perplexity: {:.4} ({} tokens scored)",
        report.perplexity, report.scored_tokens
    );
    args.run.report_profile(&loaded.ctx);
    Ok(())
}
