//! `steward daemon start [--foreground]`.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use crate::cli::target::local_project;
use crate::cli::{Failure, GlobalArgs, Outcome, print_json};
use crate::config::{Config, Mode};
use crate::daemon::detach::{Report, Side, detach};
use crate::daemon::{Launch, Reporter, serve};
use crate::paths::SocketEnv;

/// Options of `daemon start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Do not detach: serve in this process until stopped (for systemd and launchd).
    #[arg(long)]
    pub foreground: bool,
    /// The GitHub mode for this run, overriding `[steward].mode`: off, triage, feedback, run, full.
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    pub mode: Option<Mode>,
}

/// Options of `daemon run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The GitHub mode for this run, overriding `[steward].mode`: off, triage, feedback, run, full.
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    pub mode: Option<Mode>,
}

pub(super) fn parse_mode(text: &str) -> Result<Mode, String> {
    Mode::parse(text).ok_or_else(|| {
        let names: Vec<&str> = Mode::ALL.iter().map(|mode| mode.name()).collect();
        format!("{text:?} is not a mode; use one of {}", names.join(", "))
    })
}

/// Validates the configuration, then starts the daemon detached or in the foreground. `command`
/// is how the user asked (`daemon start`, `daemon run`, `daemon restart`), for the refusal.
pub fn run(global: &GlobalArgs, command: &str, args: StartArgs) -> Outcome {
    let project = local_project(global, command, "starts a daemon")?;
    let socket = project.socket_path(&SocketEnv::from_process());
    // Validate before anything forks, so a bad file is reported here with its line and fix.
    let config = Config::load(&project.config_file()).map_err(|err| Failure::Error(err.to_string()))?;
    let launch = Launch { project: project.clone(), config, socket, mode: args.mode };
    if args.foreground {
        return Ok(serve(launch, Reporter::Foreground));
    }
    match detach(project.root()).map_err(|e| Failure::Error(format!("cannot start the daemon: {e}")))? {
        Side::Daemon(pipe) => Ok(serve(launch, Reporter::Pipe(pipe))),
        Side::Parent(report) => report_to_user(global, &project.log_file(), report),
    }
}

fn report_to_user(global: &GlobalArgs, log_file: &std::path::Path, report: Report) -> Outcome {
    match report {
        Report::Ready { pid, socket, warnings } => {
            for warning in &warnings {
                eprintln!("warning: {warning}");
            }
            if global.json {
                print_json(&json!({ "started": true, "pid": pid, "socket": socket, "warnings": warnings }))?;
            } else {
                println!("started (pid {pid}, socket {socket})");
            }
            Ok(ExitCode::SUCCESS)
        }
        Report::AlreadyRunning { pid } => {
            if global.json {
                print_json(&json!({ "started": false, "already_running": true, "pid": pid }))?;
            } else {
                match pid {
                    Some(pid) => println!("already running (pid {pid})"),
                    None => println!("already running"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Report::Failed(message) if message.is_empty() => Err(Failure::Error(format!(
            "the daemon exited during startup without saying why; see {}",
            log_file.display()
        ))),
        Report::Failed(message) => Err(Failure::Error(message)),
    }
}
