//! `steward session ...`: the sessions of the GitHub modes, one file per command.

mod act;
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
    /// Let a paused session go on without an answer, or give an escalated one fresh attempts.
    Resume(act::ActArgs),
    /// Stop a session: its agent is stopped and its labels removed; the branch stays.
    Cancel(act::ActArgs),
}

/// Runs a session command.
pub fn run(global: &GlobalArgs, command: SessionCommand) -> Outcome {
    match command {
        SessionCommand::List(args) => list::run(global, args),
        SessionCommand::Get(args) => get::run(global, args),
        SessionCommand::Resume(args) => act::run(global, args, act::Act::Resume),
        SessionCommand::Cancel(args) => act::run(global, args, act::Act::Cancel),
    }
}
