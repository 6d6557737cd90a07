//! Generates a continuation of a prompt with the library's `Engine`,
//! streaming it to stdout.
//!
//! ```sh
//! cargo run --release -p metallic --example generate -- "def fibonacci(n):" [MODEL.gguf]
//! ```
//!
//! Without a model path it uses the default model (fetched once).

use std::io::Write;
use std::ops::ControlFlow;
use std::path::PathBuf;

use metallic::{Engine, EngineOptions, GenerateOptions};

fn main() -> metallic::Result<()> {
    let mut args = std::env::args().skip(1);
    let prompt = args.next().unwrap_or_else(|| "def fibonacci(n):".into());
    let model = args.next().map(PathBuf::from);
    let mut engine = Engine::load(model.as_deref(), &EngineOptions::default())?;
    let options = GenerateOptions {
        max_tokens: 64,
        ..GenerateOptions::default()
    };
    print!("{prompt}");
    let output = engine.generate_streaming(&prompt, &options, |text| {
        let mut out = std::io::stdout().lock();
        // A closed stdout stops generation.
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => ControlFlow::Break(()),
        }
    })?;
    println!();
    eprintln!(
        "{} tokens, {:.1} tok/s decode, stopped: {}",
        output.generated_ids.len(),
        output.timings.decode_tokens_per_s.unwrap_or(0.0),
        output.stop_reason.describe()
    );
    Ok(())
}
