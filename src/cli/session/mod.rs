//! `steward session ...`: the sessions of the GitHub modes, one file per command.

mod get;
mod list;

use clap::Subcommand;

use super::{GlobalArgs, Outcome};

/// The session commands.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List sessions, newest first (a table, or JSON with --json).
    List(list::ListArgs),
    /// Show one session with its log of decisions, prompts and errors.
    Get(get::GetArgs),
}

/// Runs a session command.
pub fn run(global: &GlobalArgs, command: SessionCommand) -> Outcome {
    match command {
        SessionCommand::List(args) => list::run(global, args),
        SessionCommand::Get(args) => get::run(global, args),
    }
}
