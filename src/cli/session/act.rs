//! `steward session resume ID` and `steward session cancel ID`.

use std::process::ExitCode;

use clap::Args;

use crate::api::StewardApiClient;
use crate::cli::{GlobalArgs, Outcome, Target, block_on, print_json, rpc_failure, write_stdout};

/// Options of `session resume` and `session cancel`.
#[derive(Debug, Args)]
pub struct ActArgs {
    /// The session id.
    pub id: u64,
}

/// What to do to the session.
#[derive(Debug, Clone, Copy)]
pub enum Act {
    Resume,
    Cancel,
}

/// Asks the daemon and prints the session's new state.
pub fn run(global: &GlobalArgs, args: ActArgs, act: Act) -> Outcome {
    let target = Target::resolve(global)?;
    let session = block_on(async {
        let client = target.connect().await?;
        let answer = match act {
            Act::Resume => client.resume(args.id).await,
            Act::Cancel => client.cancel(args.id).await,
        };
        answer.map_err(|err| rpc_failure(&target, err))
    })??;
    if global.json {
        print_json(&session)?;
    } else {
        write_stdout(&format!("session {} on #{}: {}\n", session.id, session.issue, session.state.name()))?;
    }
    Ok(ExitCode::SUCCESS)
}
