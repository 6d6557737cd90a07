//! `metallic chat`: an interactive conversation. Ctrl-C stops the answer
//! being written; `/reset` forgets the conversation, `/exit` or end of input
//! leaves.

use std::io::{BufRead, Write};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use metallic::generate::{ChatSession, ReplySettings};
use metallic::tokenizer::ChatTemplate;
use metallic::{Error, Result};

use super::generate::{print_now, report};
use super::run_options::RunOptions;
use super::sampling_args::SamplingArgs;

/// Chat with the model interactively
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    run: RunOptions,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// System message
    #[arg(long, value_name = "TEXT")]
    system: Option<String>,
    /// Print the stats line after each answer
    #[arg(long)]
    stats: bool,
}

pub fn run(args: Args) -> Result<()> {
    let settings = ReplySettings {
        sampling: args.sampling.options()?,
        max_tokens: args.sampling.max_tokens,
        stop_strings: args.sampling.stop.clone(),
    };
    let mut loaded = args.run.load(|c| args.run.ctx_size_or(4096, c))?;
    let template = ChatTemplate::from_gguf(&loaded.gguf, &loaded.tokenizer)?;
    let mut session = ChatSession::new(template, args.system.clone());

    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .map_err(|e| Error::Device(format!("cannot catch Ctrl-C: {e}")))?;

    eprintln!("metallic chat: /reset forgets the conversation, /exit or Ctrl-D leaves, Ctrl-C stops an answer");
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        eprint!("> ");
        let _ = std::io::stderr().flush();
        let Some(line) = lines.next() else { break };
        let line = line.map_err(|e| Error::io("<stdin>", e))?;
        match line.trim() {
            "" => continue,
            "/exit" => break,
            "/reset" => {
                session.reset();
                eprintln!("(conversation forgotten)");
                continue;
            }
            _ => {}
        }
        interrupted.store(false, Ordering::SeqCst);
        let answer = session.reply(
            &mut loaded.model,
            &loaded.ctx,
            &loaded.tokenizer,
            &line,
            &settings,
            |text| {
                if interrupted.load(Ordering::SeqCst) {
                    return ControlFlow::Break(());
                }
                print_now(text)
            },
        );
        println!();
        match answer {
            Ok(output) => {
                if args.stats || output.stop_reason == metallic::generate::StopReason::ContextFull {
                    report(&output, loaded.model.context_size());
                }
            }
            // The session goes on: say what went wrong and wait for more.
            Err(e) => eprintln!("metallic: error: {e} (/reset starts a new conversation)"),
        }
    }
    args.run.report_profile(&loaded.ctx);
    Ok(())
}
