//! `steward event emit TOPIC [--data JSON]`.

use std::process::ExitCode;

use clap::Args;
use serde_json::Value;

use crate::api::EventApiClient;
use crate::cli::{Failure, GlobalArgs, Outcome, Target, block_on, print_json, rpc_failure, write_stdout};

/// Options of `event emit`.
#[derive(Debug, Args)]
pub struct EmitArgs {
    /// The topic, e.g. `build:done` (the prefixes daemon:, task:, rule:, schedule:, file:, session:
    /// and steward: are the daemon's own).
    pub topic: String,
    /// The event's data, as JSON (e.g. '{"ok": true}').
    #[arg(long, value_name = "JSON")]
    pub data: Option<String>,
}

/// Records the event and prints its sequence number.
pub fn run(global: &GlobalArgs, args: EmitArgs) -> Outcome {
    let data = match &args.data {
        None => None,
        Some(text) => Some(serde_json::from_str::<Value>(text).map_err(|err| {
            Failure::Usage(format!(
                "--data is not valid JSON ({err}); quote it for the shell, e.g. --data '{{\"ok\": true}}'"
            ))
        })?),
    };
    let target = Target::resolve(global)?;
    let emitted = block_on(async {
        let client = target.connect_streaming().await?;
        client.emit(args.topic.clone(), data).await.map_err(|err| rpc_failure(&target, err))
    })??;
    if global.json {
        print_json(&emitted)?;
    } else {
        write_stdout(&format!("emitted event {} ({})\n", emitted.seq, args.topic))?;
    }
    Ok(ExitCode::SUCCESS)
}
