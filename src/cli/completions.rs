//! `steward completions SHELL`.

use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::{Cli, Outcome};

/// Options of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: Shell,
}

/// Prints the completion script on stdout.
pub fn run(args: CompletionsArgs) -> Outcome {
    clap_complete::generate(args.shell, &mut Cli::command(), "steward", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
