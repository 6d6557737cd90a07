//! `metallic tokenize`: the token ids of a text, as the model's tokenizer
//! gives them (special tokens such as `<|im_start|>` parsed).

use std::io::Read;

use metallic::gguf::GgufFile;
use metallic::tokenizer::Tokenizer;
use metallic::{Error, Result};

use crate::model_arg::ModelArg;

/// Print the token ids of TEXT
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    model: ModelArg,
    /// Print {"ids": [...]} instead of space-separated ids
    #[arg(long)]
    json: bool,
    /// The text to tokenize; `-` reads it from standard input
    #[arg(value_name = "TEXT")]
    text: String,
}

pub fn run(args: Args) -> Result<()> {
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
    if args.json {
        println!("{}", serde_json::json!({ "ids": ids }));
    } else {
        let line: Vec<String> = ids.iter().map(u32::to_string).collect();
        println!("{}", line.join(" "));
    }
    Ok(())
}
