//! `steward automation enable|disable [--rule ID]`.

use std::process::ExitCode;

use crate::api::AutomationApiClient;
use crate::cli::{GlobalArgs, Outcome, Target, block_on, print_json, rpc_failure, write_stdout};

use super::SwitchArgs;

/// Flips the switch; the daemon stores it, so it holds across restarts.
pub fn run(global: &GlobalArgs, args: SwitchArgs, enabled: bool) -> Outcome {
    let target = Target::resolve(global)?;
    let rule = args.rule.clone();
    let status = block_on(async {
        let client = target.connect().await?;
        let call = if enabled { client.enable(rule).await } else { client.disable(rule).await };
        call.map_err(|err| rpc_failure(&target, err))
    })??;
    if global.json {
        print_json(&status)?;
        return Ok(ExitCode::SUCCESS);
    }
    let line = match (&args.rule, enabled) {
        (Some(rule), true) if !status.enabled => {
            format!("enabled {rule}; automation as a whole is still off (`steward automation enable`)\n")
        }
        (Some(rule), true) => format!("enabled {rule}\n"),
        (Some(rule), false) => format!("disabled {rule}; it stays off across restarts until enabled\n"),
        (None, true) => "automation enabled: rules and schedules that are on fire again\n".to_owned(),
        (None, false) => {
            "automation disabled: no rule or schedule fires until `steward automation enable`\n".to_owned()
        }
    };
    write_stdout(&line)?;
    Ok(ExitCode::SUCCESS)
}
