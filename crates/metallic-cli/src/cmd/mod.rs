//! One module per subcommand: its arguments and what it does.

pub mod bench;
pub mod chat;
pub mod completions;
pub mod generate;
pub mod inspect;
pub mod perplexity;
mod run_options;
mod sampling_args;
pub mod tokenize;
