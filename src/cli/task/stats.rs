//! `steward task stats`.

use std::process::ExitCode;

use crate::api::TaskApiClient;
use crate::cli::{GlobalArgs, Outcome, Target, block_on, print_json, rpc_failure};

/// Prints the count of tasks per state.
pub fn run(global: &GlobalArgs) -> Outcome {
    let target = Target::resolve(global)?;
    let stats = block_on(async {
        let client = target.connect().await?;
        client.stats().await.map_err(|err| rpc_failure(&target, err))
    })??;
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
