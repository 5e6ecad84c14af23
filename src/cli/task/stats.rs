//! `steward task stats`.

use std::process::ExitCode;

use crate::api::TaskApiClient;
use crate::cli::{GlobalArgs, Outcome, Target, print_json};

/// Prints the count of tasks per state.
pub fn run(global: &GlobalArgs) -> Outcome {
    let target = Target::resolve(global)?;
    let stats = target.call(|client| async move { client.stats().await })?;
    if global.json {
        print_json(&stats)?;
    } else {
        println!(
            "queued {}, running {}, completed {}, failed {}, cancelled {}, timeout {}, interrupted {} (total {})",
            stats.queued,
            stats.running,
            stats.completed,
            stats.failed,
            stats.cancelled,
            stats.timeout,
            stats.interrupted,
            stats.total
        );
    }
    Ok(ExitCode::SUCCESS)
}
