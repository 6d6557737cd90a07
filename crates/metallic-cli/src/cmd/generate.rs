//! `metallic generate`: continue a prompt (or answer it with `--chat`),
//! streaming the text to stdout, then a stats line on stderr.

use std::io::{Read, Write};
use std::ops::ControlFlow;

use metallic::generate::{generate, GenerateOutput, GenerateRequest, StopReason};
use metallic::tokenizer::{ChatMessage, ChatTemplate};
use metallic::{Error, Result};

use super::run_options::RunOptions;
use super::sampling_args::SamplingArgs;

/// Generate text from a prompt
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    run: RunOptions,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Apply the model's chat template to PROMPT as a user message
    #[arg(long)]
    chat: bool,
    /// System message for --chat
    #[arg(long, value_name = "TEXT", requires = "chat")]
    system: Option<String>,
    /// Print one JSON object {prompt_ids, generated_ids, text, stop_reason,
    /// timings} instead of streaming text
    #[arg(long)]
    json: bool,
    /// The prompt; `-` reads it from standard input
    #[arg(value_name = "PROMPT")]
    prompt: String,
}

pub fn run(args: Args) -> Result<()> {
    let sampling = args.sampling.options()?;
    let prompt = if args.prompt == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::io("<stdin>", e))?;
        text
    } else {
        args.prompt
    };
    let mut loaded = args.run.load(|c| args.run.ctx_size_or(4096, c))?;
    let text = if args.chat {
        let template = ChatTemplate::from_gguf(&loaded.gguf, &loaded.tokenizer)?;
        let mut messages: Vec<ChatMessage> =
            args.system.into_iter().map(ChatMessage::system).collect();
        messages.push(ChatMessage::user(prompt));
        template.render(&messages, true)?
    } else {
        prompt
    };
    let request = GenerateRequest {
        prompt_ids: loaded.tokenizer.encode(&text, true)?,
        max_tokens: args.sampling.max_tokens,
        stop_strings: args.sampling.stop,
        sampling,
    };
    let json = args.json;
    let output = generate(
        &mut loaded.model,
        &loaded.ctx,
        &loaded.tokenizer,
        &request,
        |text| {
            if json {
                ControlFlow::Continue(())
            } else {
                print_now(text)
            }
        },
    )?;
    if json {
        let line = serde_json::to_string(&output)
            .map_err(|e| Error::InvalidArgument(format!("cannot write JSON: {e}")))?;
        println!("{line}");
    } else {
        println!();
        report(&output, loaded.model.context_size());
    }
    args.run.report_profile(&loaded.ctx);
    Ok(())
}

/// Writes streamed text at once; a closed stdout stops generation.
pub fn print_now(text: &str) -> ControlFlow<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ControlFlow::Continue(()),
        Err(_) => ControlFlow::Break(()),
    }
}

/// The stats line (and why generation stopped, when it is worth saying) on
/// stderr.
pub fn report(output: &GenerateOutput, context_size: usize) {
    if output.stop_reason == StopReason::ContextFull {
        eprintln!(
            "metallic: the context of {context_size} tokens is full; generation stopped (raise --ctx-size)"
        );
    }
    let t = &output.timings;
    let decode = match t.decode_tokens_per_s {
        Some(rate) => format!("{rate:.1} tok/s"),
        None => "-".into(),
    };
    eprintln!(
        "metallic: {} prompt tokens, time to first token {:.0} ms, prefill {:.1} tok/s, decode {decode}; {} tokens generated ({})",
        t.prompt_tokens,
        t.ttft_ms,
        t.prefill_tokens_per_s,
        output.generated_ids.len(),
        output.stop_reason.describe()
    );
}
