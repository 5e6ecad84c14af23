//! `steward daemon reload`.

use std::process::ExitCode;

use crate::api::DaemonApiClient;
use crate::cli::{Failure, GlobalArgs, Outcome, Target, print_json};

/// Asks the daemon to re-read its configuration; exit 1 when the file was refused.
pub fn run(global: &GlobalArgs) -> Outcome {
    let target = Target::resolve(global)?;
    let reloaded = target.call(|client| async move { client.reload().await })?;
    if global.json {
        print_json(&reloaded)?;
        return Ok(if reloaded.reloaded { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    match (reloaded.reloaded, reloaded.error) {
        (true, _) => {
            println!("reloaded the configuration");
            if !reloaded.restart_required.is_empty() {
                println!(
                    "note: {} take effect only after `steward daemon restart`",
                    reloaded.restart_required.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        (false, error) => Err(Failure::Error(format!(
            "the daemon kept its previous configuration: {}",
            error.unwrap_or_else(|| "no reason given".into())
        ))),
    }
}
