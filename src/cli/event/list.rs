//! `steward event list [--since SEQ] [--topic PATTERN] [--limit N]`.

use std::process::ExitCode;

use clap::Args;

use crate::api::{DaemonApiClient, EventApiClient};
use crate::cli::{GlobalArgs, Outcome, Target, block_on, print_json, rpc_failure, write_stdout};

/// Options of `event list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only events after this sequence number (for the next page: the last one printed).
    /// Without it: the newest events, or with --topic the oldest kept that match.
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,
    /// Only events whose topic matches (exact, or a glob such as `rule:*`).
    #[arg(long, value_name = "PATTERN")]
    pub topic: Option<String>,
    /// At most this many events (1 to 1000).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// Prints stored events, oldest first, one per line.
pub fn run(global: &GlobalArgs, args: ListArgs) -> Outcome {
    let target = Target::resolve(global)?;
    let list = block_on(async {
        let client = target.connect_streaming().await?;
        let since = match (args.since, &args.topic) {
            (Some(since), _) => Some(since),
            (None, Some(_)) => None,
            (None, None) => {
                let status = client.status().await.map_err(|err| rpc_failure(&target, err))?;
                Some(status.events.last_seq.saturating_sub(args.limit as u64))
            }
        };
        client.list(since, args.topic, Some(args.limit)).await.map_err(|err| rpc_failure(&target, err))
    })??;
    if global.json {
        print_json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    if list.events.is_empty() {
        write_stdout("no events\n")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = String::new();
    for event in &list.events {
        out.push_str(&super::event_line(event));
        out.push('\n');
    }
    if list.events.len() == args.limit
        && let Some(last) = list.events.last()
    {
        out.push_str(&format!("(more: steward event list --since {})\n", last.seq));
    }
    write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}
