//! `steward task cancel ID`.

use std::process::ExitCode;

use clap::Args;

use crate::api::TaskApiClient;
use crate::cli::{GlobalArgs, Outcome, Target, print_json};

/// Options of `task cancel`.
#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The task id.
    pub id: u64,
}

/// Cancels the task; for a running one, returns once its agent has stopped.
pub fn run(global: &GlobalArgs, args: CancelArgs) -> Outcome {
    let target = Target::resolve(global)?;
    let task = target.call(|client| async move { client.cancel(args.id).await })?;
    if global.json {
        print_json(&task)?;
    } else {
        println!("task {} {}", task.id, task.state);
    }
    Ok(ExitCode::SUCCESS)
}
