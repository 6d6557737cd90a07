//! The engine logs through `tracing`; the CLI shows those events on stderr.
//! `RUST_LOG` (e.g. `RUST_LOG=metallic=debug`) chooses what is shown; without
//! it `--verbose` raises the level from warnings to info, twice to debug.

use tracing_subscriber::EnvFilter;

pub fn init(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // Fails only when a subscriber is already installed: then that one logs.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(verbose > 1)
        .try_init();
}
