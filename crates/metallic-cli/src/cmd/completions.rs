//! `metallic completions SHELL`: a completion script for the shell, e.g.
//! `metallic completions bash > ~/.local/share/bash-completion/completions/metallic`.

use std::process::ExitCode;

use clap_complete::Shell;
use metallic::Result;

use crate::output;

/// Print a shell completion script (bash, zsh, fish, elvish, powershell)
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The shell to complete for
    #[arg(value_name = "SHELL")]
    shell: Shell,
}

/// `command` is the whole CLI, whose options the script completes.
pub fn run(args: Args, mut command: clap::Command) -> Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "metallic", &mut script);
    output::print(&String::from_utf8_lossy(&script))?;
    Ok(ExitCode::SUCCESS)
}
