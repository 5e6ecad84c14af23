//! `steward session list [--state S] [--limit N]`.

use std::process::ExitCode;

use clap::Args;

use crate::api::StewardApiClient;
use crate::cli::{GlobalArgs, Outcome, Target, print_json, task_age, write_stdout};

/// Options of `session list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only sessions in this state (preparing, running, publishing, checking, paused, done, escalated, cancelled).
    #[arg(long)]
    pub state: Option<String>,
    /// At most this many sessions (1 to 1000).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// Prints the sessions.
pub fn run(global: &GlobalArgs, args: ListArgs) -> Outcome {
    let target = Target::resolve(global)?;
    let list = target.call(|client| async move { client.list(args.state, Some(args.limit)).await })?;
    if global.json {
        print_json(&list)?;
        return Ok(ExitCode::SUCCESS);
    }
    if list.sessions.is_empty() {
        write_stdout("no sessions\n")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out =
        format!("{:>5}  {:>6}  {:<10}  {:>8}  {:>5}  {}\n", "ID", "ISSUE", "STATE", "ATTEMPTS", "AGE", "BRANCH");
    for session in &list.sessions {
        out.push_str(&format!(
            "{:>5}  {:>6}  {:<10}  {:>8}  {:>5}  {}\n",
            session.id,
            format!("#{}", session.issue),
            session.state.name(),
            session.attempts,
            task_age(&crate::events::format_time(&session.created_at)),
            session.branch
        ));
    }
    write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}
