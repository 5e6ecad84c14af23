//! `steward task output ID [-f]`.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::api::TaskApiClient;
use crate::cli::{GlobalArgs, Outcome, Target, block_on, rpc_failure, write_stdout};

/// Options of `task output`.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// The task id.
    pub id: u64,
    /// Keep printing new output until the task ends.
    #[arg(short, long)]
    pub follow: bool,
}

/// How often a followed task's log is read again.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Prints the task's output, and with `-f` follows it.
pub fn run(global: &GlobalArgs, args: OutputArgs) -> Outcome {
    let target = Target::resolve(global)?;
    block_on(async {
        let client = target.connect().await?;
        let mut offset = 0;
        loop {
            let chunk = client
                .output(args.id, Some(offset), Some(crate::queue::output::MAX_CHUNK))
                .await
                .map_err(|err| rpc_failure(&target, err))?;
            write_stdout(&chunk.data)?;
            let progressed = chunk.next_offset > offset;
            offset = chunk.next_offset;
            if chunk.eof || (!args.follow && !progressed) {
                return Ok(ExitCode::SUCCESS);
            }
            if !progressed {
                tokio::time::sleep(FOLLOW_POLL).await;
            }
        }
    })?
}
