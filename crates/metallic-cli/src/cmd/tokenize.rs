//! `metallic tokenize`: the token ids of a text, as the model's tokenizer
//! gives them (special tokens such as `<|im_start|>` parsed).

use std::io::Read;
use std::process::ExitCode;

use metallic::gguf::GgufFile;
use metallic::tokenizer::Tokenizer;
use metallic::{Error, Result};

use crate::model_arg::ModelArg;
use crate::output;

/// Print the token ids of TEXT
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    model: ModelArg,
    /// Print {"ids": [...]} instead of space-separated ids
    #[arg(long)]
    json: bool,
    /// Show each token's text: one `id "text"` per line (with --json, a
    /// "pieces" list too)
    #[arg(long)]
    pieces: bool,
    /// The text to tokenize; `-` reads it from standard input
    #[arg(value_name = "TEXT")]
    text: String,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let text = if args.text == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::io("<stdin>", e))?;
        text
    } else {
        args.text
    };
    let path = args.model.resolve()?;
    let tokenizer = Tokenizer::from_gguf(&GgufFile::open(&path)?)?;
    let ids = tokenizer.encode(&text, true)?;
    // A token may hold part of a character: its bytes are shown lossily.
    let pieces = ids
        .iter()
        .map(|&id| Ok(String::from_utf8_lossy(tokenizer.token_piece(id)?).into_owned()))
        .collect::<Result<Vec<String>>>()?;
    if args.json && args.pieces {
        output::json_line(&serde_json::json!({ "ids": ids, "pieces": pieces }))?;
    } else if args.json {
        output::json_line(&serde_json::json!({ "ids": ids }))?;
    } else if args.pieces {
        let lines: String = ids
            .iter()
            .zip(&pieces)
            .map(|(id, piece)| format!("{id} {piece:?}\n"))
            .collect();
        output::print(&lines)?;
    } else {
        let line: Vec<String> = ids.iter().map(u32::to_string).collect();
        output::println(&line.join(" "))?;
    }
    Ok(ExitCode::SUCCESS)
}
