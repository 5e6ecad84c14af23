//! `steward automation ...`: see rules and schedules, switch them on and off.

mod status;
mod switch;

use clap::{Args, Subcommand};

use super::{GlobalArgs, Outcome};

/// The automation commands.
#[derive(Debug, Subcommand)]
pub enum AutomationCommand {
    /// Show rules, schedules (with their next fire time) and the file watcher.
    Status,
    /// Turn automation back on, or one rule or schedule with --rule.
    Enable(SwitchArgs),
    /// Turn automation off (no rule or schedule fires), or one rule or schedule with --rule.
    Disable(SwitchArgs),
}

/// Which switch.
#[derive(Debug, Args)]
pub struct SwitchArgs {
    /// A rule's id or a schedule's name; without it, the switch of automation as a whole.
    #[arg(long, value_name = "ID")]
    pub rule: Option<String>,
}

/// Runs an automation command.
pub fn run(global: &GlobalArgs, command: AutomationCommand) -> Outcome {
    match command {
        AutomationCommand::Status => status::run(global),
        AutomationCommand::Enable(args) => switch::run(global, args, true),
        AutomationCommand::Disable(args) => switch::run(global, args, false),
    }
}
