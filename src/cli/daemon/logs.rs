//! `steward daemon logs [-f] [-n N]`: read the log files directly, daemon running or not.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use crate::cli::target::local_project;
use crate::cli::{Failure, GlobalArgs, Outcome};
use crate::logging::tail;

/// Options of `daemon logs`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing new lines as they are written (follows rotation) until Ctrl-C.
    #[arg(short, long)]
    pub follow: bool,
    /// How many of the last lines to print first.
    #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 50)]
    pub lines: usize,
}

/// Prints the last lines of the log, then follows it with `-f`.
pub fn run(global: &GlobalArgs, args: LogsArgs) -> Outcome {
    let project = local_project(global, "daemon logs", "reads the daemon's log file")?;
    let path = project.log_file();
    if !args.follow {
        let lines = tail::last_lines(&path, args.lines)
            .map_err(|e| Failure::Error(format!("reading {}: {e}", path.display())))?;
        if lines.is_empty() && !path.exists() {
            eprintln!("no log at {} yet: the daemon has not run in this project", path.display());
        }
        return print(&lines);
    }
    let (lines, mut follower) = tail::last_lines_then_follow(&path, args.lines)
        .map_err(|e| Failure::Error(format!("reading {}: {e}", path.display())))?;
    print(&lines)?;
    loop {
        let lines = follower.wait_lines().map_err(|e| Failure::Error(format!("following {}: {e}", path.display())))?;
        print(&lines)?;
    }
}

fn print(lines: &[String]) -> Outcome {
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            // `logs | head`: the reader is gone, which is not an error.
            return Err(Failure::Silent(0));
        }
    }
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}
