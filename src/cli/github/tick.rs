//! `steward github tick LOOP`.

use std::process::ExitCode;

use clap::Args;

use crate::api::StewardApiClient;
use crate::cli::{Failure, GlobalArgs, Outcome, Target, print_json, write_stdout};

/// Options of `github tick`.
#[derive(Debug, Args)]
pub struct TickArgs {
    /// The loop: triage, feedback or run.
    #[arg(value_name = "LOOP", value_parser = ["triage", "feedback", "run"])]
    pub r#loop: String,
}

/// Runs the loop once and prints its report; exits 1 when the tick failed.
pub fn run(global: &GlobalArgs, args: TickArgs) -> Outcome {
    let target = Target::resolve(global)?;
    let report = target.call(|client| async move { client.tick(args.r#loop).await })?;
    if global.json {
        print_json(&report)?;
    } else {
        write_stdout(&format!(
            "{} {}: {} ({} ms)\n",
            report.r#loop, report.outcome, report.summary, report.duration_ms
        ))?;
    }
    if report.outcome == "failed" { Err(Failure::Silent(1)) } else { Ok(ExitCode::SUCCESS) }
}
