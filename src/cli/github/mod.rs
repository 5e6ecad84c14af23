//! `steward github ...`: the GitHub loops' status, and running one now.

mod status;
mod tick;

use clap::Subcommand;

use super::{GlobalArgs, Outcome};

/// The GitHub commands.
#[derive(Debug, Subcommand)]
pub enum GithubCommand {
    /// Show the mode, the kill switch, each loop's last tick and next one, and the sessions.
    Status,
    /// Run one loop now (triage, feedback or run) and show what it did; the gates apply.
    Tick(tick::TickArgs),
}

/// Runs a GitHub command.
pub fn run(global: &GlobalArgs, command: GithubCommand) -> Outcome {
    match command {
        GithubCommand::Status => status::run(global),
        GithubCommand::Tick(args) => tick::run(global, args),
    }
}
