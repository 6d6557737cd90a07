//! `metallic bench`: prefill and decode throughput, like llama-bench.

use metallic::generate::bench::{bench, BenchResult};
use metallic::Result;

use super::run_options::RunOptions;

/// Measure prefill and decode speed (tokens per second, mean ± sd)
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    run: RunOptions,
    /// Prompt sizes to prefill, comma-separated
    #[arg(
        long,
        value_name = "N,..",
        value_delimiter = ',',
        default_value = "128,512"
    )]
    prompt_tokens: Vec<usize>,
    /// Token counts to decode one at a time, comma-separated
    #[arg(long, value_name = "N,..", value_delimiter = ',', default_value = "64")]
    gen_tokens: Vec<usize>,
    /// Measured runs of each test (after one warm-up run)
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    repetitions: u32,
    /// Print one JSON object {threads, device, results: [...]}
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    // The cache only needs to hold the longest test.
    let longest = args
        .prompt_tokens
        .iter()
        .chain(&args.gen_tokens)
        .copied()
        .max()
        .unwrap_or(1);
    let mut loaded = args.run.load(|c| args.run.ctx_size_or(longest.max(1), c))?;
    let threads = loaded.ctx.threads();
    let device = loaded.ctx.device().to_string();
    if !args.json {
        println!("| device | threads | test  |              t/s |");
        println!("| ------ | ------: | ----- | ---------------: |");
    }
    let json = args.json;
    let results = bench(
        &mut loaded.model,
        &loaded.ctx,
        &args.prompt_tokens,
        &args.gen_tokens,
        args.repetitions as usize,
        |r: &BenchResult| {
            if !json {
                println!(
                    "| {device:>6} | {threads:>7} | {:<5} | {:>16} |",
                    r.test,
                    format!("{:.2} ± {:.2}", r.mean, r.sd)
                );
            }
        },
    )?;
    if json {
        let value = serde_json::json!({ "device": device, "threads": threads, "results": results });
        println!("{value}");
    }
    args.run.report_profile(&loaded.ctx);
    Ok(())
}
