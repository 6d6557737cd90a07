//! A conversation with the library's `Engine` and `Chat`: each line of
//! stdin is a message, each answer printed as it comes.
//!
//! ```sh
//! cargo run --release -p metallic --example chat [MODEL.gguf]
//! ```
//!
//! Without a model path it uses the default model (fetched once).

use std::io::{BufRead, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;

use metallic::{Engine, EngineOptions, GenerateOptions};

fn main() -> metallic::Result<()> {
    let model = std::env::args().nth(1).map(PathBuf::from);
    let mut engine = Engine::load(model.as_deref(), &EngineOptions::default())?;
    let mut chat = engine.chat(
        Some("You are a concise assistant."),
        &GenerateOptions::default(),
    )?;
    eprintln!("Type a message (Ctrl-D ends).");
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| metallic::Error::io("<stdin>", e))?;
        if line.trim().is_empty() {
            continue;
        }
        chat.send_streaming(&line, |text| {
            print!("{text}");
            let _ = std::io::stdout().flush();
            ControlFlow::Continue(())
        })?;
        println!();
    }
    Ok(())
}
