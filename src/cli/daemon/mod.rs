//! `steward daemon ...`: one file per command.

mod attach;
mod logs;
mod ping;
mod reload;
mod start;
mod status;
mod stop;

use clap::Subcommand;

use super::{GlobalArgs, Outcome};

pub use status::run as status;

/// The daemon commands.
#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Start the daemon for this project (detached unless --foreground).
    Start(start::StartArgs),
    /// Run the daemon in the foreground (same as `start --foreground`), for systemd and launchd.
    Run(start::RunArgs),
    /// Stop the daemon and wait until it has exited.
    Stop(stop::StopArgs),
    /// Stop the daemon if it runs, then start it.
    Restart(stop::RestartArgs),
    /// Show the daemon's status; exits 3 when it is not running.
    Status,
    /// Check that the daemon answers, and how fast.
    Ping,
    /// Re-read .steward/steward.toml; an invalid file keeps the old configuration.
    Reload,
    /// Stream the daemon's events live until Ctrl-C (which leaves the daemon running).
    Attach(attach::AttachArgs),
    /// Show the daemon's log.
    Logs(logs::LogsArgs),
}

/// Runs a daemon command.
pub fn run(global: &GlobalArgs, command: DaemonCommand) -> Outcome {
    match command {
        DaemonCommand::Start(args) => start::run(global, "daemon start", args),
        DaemonCommand::Run(args) => {
            start::run(global, "daemon run", start::StartArgs { foreground: true, mode: args.mode })
        }
        DaemonCommand::Stop(args) => stop::run(global, args),
        DaemonCommand::Restart(args) => stop::restart(global, args),
        DaemonCommand::Status => status::run(global),
        DaemonCommand::Ping => ping::run(global),
        DaemonCommand::Reload => reload::run(global),
        DaemonCommand::Attach(args) => attach::run(global, args),
        DaemonCommand::Logs(args) => logs::run(global, args),
    }
}
