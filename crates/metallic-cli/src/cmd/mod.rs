//! One module per subcommand: its arguments and what it does.

pub mod inspect;
pub mod tokenize;
